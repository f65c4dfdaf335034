"""The coordinator's own exceptions. Participant failures are values (`StepOutcome`), not these.

Tree (each class has a stable `code`; the API maps classes to HTTP statuses in one place):

* CoordinatorError
  + NotFound
    - SagaNotFound, SagaVersionNotFound, ExecutionNotFound, CallbackNotFound
  + Conflict
    - DefinitionConflict, IdempotencyConflict, ExecutionStateConflict, CallbackConflict
  + InvalidInput            carries `problems`: [(path, message)]
    - DefinitionInvalid, ExecutionInputInvalid, SecretNotSet
  + StaleRevision           another writer committed first (internal; retried by the engine)
    - Fenced                this process no longer owns the execution (its lease was taken over)
  + DatabaseInUse           another process holds the SQLite file
  + StoreUnavailable        the database cannot be reached
    - StorageFull           the database's disk is full: reads work, writes fail until space is freed
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input, located by a JSON path such as `steps[1].action.url`."""

    path: str
    message: str


class CoordinatorError(Exception):
    """Base of every error the coordinator raises on purpose."""

    code = "coordinator_error"
    title = "Coordinator error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(CoordinatorError):
    """Something named in the request does not exist."""

    code = "not_found"
    title = "Not found"


class SagaNotFound(NotFound):
    """No saga is registered under the name."""

    code = "saga_not_found"
    title = "Saga not found"

    def __init__(self, name: str) -> None:
        super().__init__(f"no saga named {name!r} is registered")
        self.name = name


class SagaVersionNotFound(NotFound):
    """The saga exists, but not in that version."""

    code = "saga_version_not_found"
    title = "Saga version not found"

    def __init__(self, name: str, version: int) -> None:
        super().__init__(f"saga {name!r} has no version {version}")
        self.name = name
        self.version = version


class ExecutionNotFound(NotFound):
    """No execution has the id."""

    code = "execution_not_found"
    title = "Execution not found"

    def __init__(self, execution_id: str) -> None:
        super().__init__(f"no execution with id {execution_id!r}")
        self.execution_id = execution_id


class CallbackNotFound(NotFound):
    """A callback token that is not ours, or whose wait is over: the same answer for both."""

    code = "callback_not_found"
    title = "Callback not found"

    def __init__(self) -> None:
        super().__init__("no attempt waits for a callback with this token (unknown or expired)")


class Conflict(CoordinatorError):
    """The request contradicts what is already recorded."""

    code = "conflict"
    title = "Conflict"


class DefinitionConflict(Conflict):
    """The same name and version were registered with a different body; versions are immutable."""

    code = "definition_conflict"
    title = "Definition version already registered"


class IdempotencyConflict(Conflict):
    """The `Idempotency-Key` was used before with a different request."""

    code = "idempotency_conflict"
    title = "Idempotency key reused with a different request"


class ExecutionStateConflict(Conflict):
    """The operator action does not apply to the execution's current status."""

    code = "execution_state_conflict"
    title = "Execution is not in a state that allows this"


class CallbackConflict(Conflict):
    """A callback contradicts what is recorded: another outcome came first, or a newer attempt runs."""

    code = "callback_conflict"
    title = "Callback conflicts with the recorded outcome"


class InvalidInput(CoordinatorError):
    """The input is malformed; `problems` lists every problem found, with its JSON path."""

    code = "invalid_input"
    title = "Invalid input"

    def __init__(self, detail: str, problems: Iterable[Problem] = ()) -> None:
        super().__init__(detail)
        self.problems = list(problems)


class CallbackBodyTooLarge(InvalidInput):
    """A callback's `body` is larger than a participant's response may be (`SAGA_MAX_RESPONSE_BYTES`)."""

    code = "callback_body_too_large"
    title = "Callback body too large"

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"the callback's body is {size} bytes as JSON, over the limit of {limit} bytes "
            "(SAGA_MAX_RESPONSE_BYTES, the limit of a participant's response)"
        )
        self.size = size
        self.limit = limit


class DefinitionInvalid(InvalidInput):
    """A saga definition failed validation."""

    code = "definition_invalid"
    title = "Invalid saga definition"


class ExecutionInputInvalid(InvalidInput):
    """A start request's input does not match the saga's `input_schema`."""

    code = "execution_input_invalid"
    title = "Invalid execution input"


class SecretNotSet(InvalidInput):
    """A definition reads a secret that is not set on this coordinator (names the variable to set)."""

    code = "secret_not_set"
    title = "A secret the saga reads is not set"


class StaleRevision(CoordinatorError):
    """A commit lost a compare-and-set race: the execution changed since it was loaded."""

    code = "stale_revision"
    title = "Concurrent update"


class Fenced(StaleRevision):
    """A write by a replica whose lease was taken over: refused, so a paused owner changes nothing."""

    code = "fenced"
    title = "Execution owned by another coordinator"


class DatabaseInUse(CoordinatorError):
    """Another coordinator process holds the SQLite database (one process per SQLite file)."""

    code = "database_in_use"
    title = "Database in use by another coordinator"


class StoreUnavailable(CoordinatorError):
    """The database cannot be reached right now; the request may be retried."""

    code = "store_unavailable"
    title = "Database unavailable"


class StorageFull(StoreUnavailable):
    """The disk holding the database is full: nothing can be written until space is freed.

    Nothing committed is lost (the failed write rolled back whole); the request may be retried.
    """

    code = "storage_full"
    title = "Database storage full"
