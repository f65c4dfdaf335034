"""Value-based redaction: every spelling of a secret value becomes `***`.

A secret rendered into a request can come back in many spellings: as sent, percent-encoded in a
URL path or query, `+`-encoded in a form-style query, escaped inside JSON text. A participant may
echo any of them in an error or a response body, and a library may log any of them, so all of
them are masked. The executor redacts what it records of an attempt; the log filter in
`telemetry.logs` redacts every log record. Standard library only, so that both may import it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
"""What a secret is replaced with."""


def spellings(secrets: Iterable[str]) -> tuple[str, ...]:
    """Every form in which `secrets` may appear, longest first (so no part of one survives)."""
    forms: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        forms.update({secret, quote(secret, safe=""), quote(secret), quote_plus(secret), json.dumps(secret)[1:-1]})
    return tuple(sorted(forms, key=len, reverse=True))


def redact(text: str, forms: Sequence[str]) -> str:
    """`text` with every form (from `spellings`) replaced by `***`."""
    for form in forms:
        text = text.replace(form, MASK)
    return text


def redact_json(value: Any, forms: Sequence[str]) -> Any:
    """A JSON value with every form replaced in its strings (mapping keys included)."""
    if not forms:
        return value
    if isinstance(value, str):
        return redact(value, forms)
    if isinstance(value, dict):
        return {redact(str(k), forms): redact_json(v, forms) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_json(item, forms) for item in value]
    return value


CALLBACK_PATH = "/v1/callbacks/"
"""Where asynchronous participants report outcomes: `/v1/callbacks/<token>` (and `.../heartbeat`)."""


_CALLBACK_TOKEN = re.compile(r"(/v1/callbacks/)[A-Za-z0-9_-]+")


def mask_callback_tokens(text: str) -> str:
    """`text` with the token of every callback URL or path in it replaced by `***`."""
    return _CALLBACK_TOKEN.sub(r"\g<1>" + MASK, text) if CALLBACK_PATH in text else text


def redact_callback_path(path: str) -> str:
    """`path` with a callback token (a capability, like a secret) replaced by `***`."""
    if not path.startswith(CALLBACK_PATH):
        return path
    _, slash, tail = path[len(CALLBACK_PATH) :].partition("/")
    return f"{CALLBACK_PATH}{MASK}{slash}{tail}"
