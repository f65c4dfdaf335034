"""Where `{{ secrets.NAME }}` values come from. Read at call time, never stored."""

from __future__ import annotations

import abc
import os
import re
from collections.abc import Mapping

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SecretSource(abc.ABC):
    """Resolves a secret's name to its value, or None when it is not set."""

    @abc.abstractmethod
    def __call__(self, name: str) -> str | None:
        """The value of secret `name`."""


class EnvSecretSource(SecretSource):
    """Secrets from environment variables `SAGA_SECRET_<NAME>` (name upper-cased)."""

    def __init__(self, env: Mapping[str, str] | None = None, prefix: str = "SAGA_SECRET_") -> None:
        self._env = env if env is not None else os.environ
        self._prefix = prefix

    def __call__(self, name: str) -> str | None:
        """Look the secret up now, so a rotated value is used from the next call on."""
        if not _NAME.match(name):
            return None
        return self._env.get(self._prefix + name.upper())

    def all_values(self) -> list[str]:
        """Every secret value currently set, for value-based redaction."""
        # Keys first: reading os.environ decodes every entry it touches, and few are secrets.
        return [v for k in self._env if k.startswith(self._prefix) and (v := self._env[k])]
