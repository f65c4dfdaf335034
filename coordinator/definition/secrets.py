"""Whether the secrets a definition reads are set, checked before any call depends on them.

The registry runs this check on registration (a problem per template that reads a secret that is
not set, refused with 422) and the start of an execution may run it on the compiled spec; `saga
validate` works offline, where the coordinator's secrets are not known, so it may report these
problems as warnings only. That is why it is a check of its own, not part of `compile_definition`
unless asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from coordinator.core.spec import CallSpec, SagaSpec
from coordinator.definition.expressions import TemplateSyntaxError, contains_template, parse_template, secret_names
from coordinator.definition.layout import placed_steps
from coordinator.definition.paths import ordered, strings_in
from coordinator.errors import Problem

SecretExists = Callable[[str], bool]
"""Tells whether the secret called `name` is set in the coordinator's secret source."""

SECRET_ENV_PREFIX = "SAGA_SECRET_"  # noqa: S105  # a variable's name, not a secret
"""The environment variable of secret `name` is this prefix and the name upper-cased."""


def secret_variable(name: str) -> str:
    """The environment variable that sets secret `name`: `psp_key` -> `SAGA_SECRET_PSP_KEY`."""
    return SECRET_ENV_PREFIX + name.upper()


def secret_not_set(name: str) -> str:
    """The problem message for a secret that is not set, naming the variable to set."""
    return f"secret {name!r} is not set: set {secret_variable(name)}"


def secret_problems(document: Mapping[str, Any], secret_exists: SecretExists) -> list[Problem]:
    """One problem per templated value of `document` that reads a secret that is not set.

    Values of the wrong shape and templates that do not parse are skipped: the definition's
    other checks report them.
    """
    places: list[tuple[str, Any]] = []
    defaults = document.get("defaults")
    if isinstance(defaults, Mapping):
        places.append(("defaults.headers", defaults.get("headers")))
    for placed in placed_steps(document):
        for call_key in ("action", "compensation"):
            call = placed.step.get(call_key)
            if isinstance(call, Mapping):
                path = f"{placed.path}.{call_key}"
                places += [(f"{path}.{field}", call.get(field)) for field in ("url", "headers", "body")]
    return _missing(places, secret_exists)


_SPEC_READS: dict[int, tuple[SagaSpec, tuple[tuple[str, str], ...]]] = {}
"""id(spec) -> (spec, the (where, secret) pairs its templates read): a spec is immutable, and
walking its every string at each start was a percent of the coordinator's CPU per saga."""
_SPEC_READS_KEPT = 256


def spec_secret_problems(spec: SagaSpec, secret_exists: SecretExists) -> list[Problem]:
    """`secret_problems` for a compiled saga, e.g. at the start of an execution."""
    known = _SPEC_READS.get(id(spec))
    if known is None or known[0] is not spec:
        places: list[tuple[str, Any]] = []
        for i, step in enumerate(spec.steps):
            for call_key, call in (("action", step.action), ("compensation", step.compensation)):
                if call is not None:
                    places += _call_places(f"steps[{i}].{call_key}", call)
        if len(_SPEC_READS) >= _SPEC_READS_KEPT:
            _SPEC_READS.clear()
        known = _SPEC_READS[id(spec)] = (spec, tuple(_reads(places)))
    problems = [Problem(where, secret_not_set(name)) for where, name in known[1] if not secret_exists(name)]
    return ordered(problems)


def call_secret_names(call: CallSpec) -> frozenset[str]:
    """The names of the secrets `call`'s templates read (URL path, headers, body)."""
    names: set[str] = set()
    for path, value in _call_places("call", call):
        for _, text in strings_in(value, path):
            names |= _secrets_read(text)
    return frozenset(names)


def _call_places(path: str, call: CallSpec) -> list[tuple[str, Any]]:
    return [(f"{path}.url", call.path_template), (f"{path}.headers", call.headers), (f"{path}.body", call.body)]


def _reads(places: list[tuple[str, Any]]) -> Iterator[tuple[str, str]]:
    """(where, secret name) for every secret the templated strings at `places` read."""
    for path, value in places:
        for where, text in strings_in(value, path):
            for name in sorted(_secrets_read(text)):
                yield where, name


def _missing(places: list[tuple[str, Any]], secret_exists: SecretExists) -> list[Problem]:
    return ordered([Problem(where, secret_not_set(name)) for where, name in _reads(places) if not secret_exists(name)])


def _secrets_read(text: str) -> frozenset[str]:
    if not contains_template(text):
        return frozenset()
    try:
        return frozenset().union(*(secret_names(e.source) for e in parse_template(text).expressions))
    except TemplateSyntaxError:
        return frozenset()  # reported by the definition's other checks
