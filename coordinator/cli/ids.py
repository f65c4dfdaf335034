"""Execution ids as people type them: a unique prefix (`saga get 3e556cef`) stands for the whole id."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from coordinator.cli.moments import when
from coordinator.cli.options import UsageError
from coordinator.client import ExecutionNotFound, SagaClient

__all__ = ["MIN_PREFIX", "by_execution_id"]

T = TypeVar("T")

MIN_PREFIX = 6
"""Fewer characters than this match too many ids to be worth a guess."""
_WHOLE_ID = 36
"""The length of a whole execution id (a UUID): never taken for a prefix."""
_CANDIDATES = 5
"""How many matching executions a refusal lists."""


def by_execution_id(client: SagaClient, given: str, call: Callable[[str], T]) -> T:
    """`call(given)`; when no execution has that id, `call(id)` with the one id that starts with it.

    The id is tried as it is first, so a whole id costs one request and a coordinator that is down
    is reported as such; a 404 is safe to follow with the real id, even for an action, since
    nothing was done.

    Raises:
        ExecutionNotFound: no execution's id is, or starts with, `given`.
        UsageError: `given` is shorter than `MIN_PREFIX`, or several executions match; the
            message lists them.
    """
    try:
        return call(given)
    except ExecutionNotFound:
        if len(given) >= _WHOLE_ID:
            raise
        found = _starting_with(client, given)
        if not found:
            raise
        return call(found)


def _starting_with(client: SagaClient, prefix: str) -> str | None:
    """The one id that starts with `prefix`; None when none does."""
    answered = client.list(id_prefix=prefix, limit=_CANDIDATES + 1)
    # Kept only when the id really starts with it: a coordinator that does not filter by prefix
    # answers with the newest executions.
    matches = [ex for ex in answered if ex.id.startswith(prefix)]
    if not matches:
        return None
    if len(prefix) >= MIN_PREFIX and len(matches) == 1:
        return matches[0].id
    listed = [f"  {ex.id}  {ex.saga} v{ex.version}  {ex.status}  created {when(ex.created_at)}" for ex in matches]
    if len(matches) > _CANDIDATES:
        listed = [*listed[:_CANDIDATES], "  … and more"]
    why = (
        f"is too short for an id prefix (give at least {MIN_PREFIX} characters)"
        if len(prefix) < MIN_PREFIX
        else "matches several executions (give more of the id)"
    )
    raise UsageError(f"no execution has the id {prefix!r}, and it {why}:\n" + "\n".join(listed))
