"""Value-based redaction of secrets in whatever the executor records about an attempt.

A secret rendered into a request can come back in many spellings: as sent, percent-encoded in a
URL, `+`-encoded in a query, escaped inside JSON text. A participant may echo any of them in an
error or a response body, so all of them become `***` before the outcome leaves the executor.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from typing import Any
from urllib.parse import quote, quote_plus

from coordinator.core.outcome import StepOutcome

MASK = "***"


def spellings(secrets: Iterable[str]) -> tuple[str, ...]:
    """Every form in which `secrets` may appear, longest first (so no part of one survives)."""
    forms: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        forms.update({secret, quote(secret, safe=""), quote(secret), quote_plus(secret), json.dumps(secret)[1:-1]})
    return tuple(sorted(forms, key=len, reverse=True))


def redact_text(text: str, forms: tuple[str, ...]) -> str:
    """`text` with every form replaced by `***`."""
    for form in forms:
        text = text.replace(form, MASK)
    return text


def redact_value(value: Any, forms: tuple[str, ...]) -> Any:
    """A JSON value with every form replaced in its strings (mapping keys included)."""
    if not forms:
        return value
    if isinstance(value, str):
        return redact_text(value, forms)
    if isinstance(value, dict):
        return {redact_text(str(k), forms): redact_value(v, forms) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(item, forms) for item in value]
    return value


def redact_outcome(outcome: StepOutcome, secrets: Iterable[str]) -> StepOutcome:
    """`outcome` without the secrets in its error or its kept response."""
    forms = spellings(secrets)
    if not forms:
        return outcome
    response = outcome.response
    if response is not None:
        response = replace(
            response,
            headers={k: redact_text(v, forms) for k, v in response.headers.items()},
            body=redact_value(response.body, forms),
        )
    error = redact_text(outcome.error, forms) if outcome.error is not None else None
    return replace(outcome, error=error, response=response)
