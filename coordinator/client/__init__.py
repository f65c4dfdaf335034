"""A Python client of the saga coordinator's HTTP API (needs only httpx).

    from coordinator.client import SagaClient, SagaCompensated

    with SagaClient() as saga:                      # SAGA_URL / SAGA_TOKEN, or arguments
        handle = saga.start("order-checkout", order, idempotency_key=order["order_id"])
        try:
            handle.result(timeout=60)               # long polls until the saga ends
        except SagaCompensated as rolled_back:
            print(rolled_back.execution.error)      # which step failed, and why

`AsyncSagaClient` has the same methods, awaited. Error answers (problem+json) are raised as the
typed exceptions of `coordinator.client.errors`; answers are the frozen models of
`coordinator.client.models`. A participant of an `async:` step reports its outcome later with
`Callback` / `AsyncCallback`, built from the call's `X-Saga-Callback-Url` header. See docs/client.md.
"""

from coordinator.client.aio import AsyncExecutionHandle, AsyncSagaClient
from coordinator.client.callback import CALLBACK_HEADER, AsyncCallback, Callback, Delivery
from coordinator.client.errors import (
    ApiError,
    BadRequest,
    CallbackConflict,
    CallbackNotFound,
    Conflict,
    DefinitionConflict,
    DefinitionInvalid,
    ExecutionInputInvalid,
    ExecutionNotFound,
    ExecutionStateConflict,
    Forbidden,
    IdempotencyConflict,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    SagaCompensated,
    SagaDidNotComplete,
    SagaError,
    SagaFailed,
    SagaNotFound,
    SagaVersionNotFound,
    ServerError,
    StoreUnavailable,
    Unauthorized,
    UnexpectedResponse,
    Unreachable,
    WaitTimeout,
)
from coordinator.client.models import (
    BulkReport,
    BulkResult,
    Event,
    Execution,
    ExecutionError,
    ExecutionStatus,
    Page,
    Problem,
    Saga,
    SagaRef,
    Step,
)
from coordinator.client.sync import ExecutionHandle, SagaClient

__all__ = [
    "CALLBACK_HEADER",
    "ApiError",
    "AsyncCallback",
    "AsyncExecutionHandle",
    "AsyncSagaClient",
    "BadRequest",
    "BulkReport",
    "BulkResult",
    "Callback",
    "CallbackConflict",
    "CallbackNotFound",
    "Conflict",
    "DefinitionConflict",
    "DefinitionInvalid",
    "Delivery",
    "Event",
    "Execution",
    "ExecutionError",
    "ExecutionHandle",
    "ExecutionInputInvalid",
    "ExecutionNotFound",
    "ExecutionStateConflict",
    "ExecutionStatus",
    "Forbidden",
    "IdempotencyConflict",
    "InvalidInput",
    "NotFound",
    "Page",
    "PayloadTooLarge",
    "Problem",
    "Saga",
    "SagaClient",
    "SagaCompensated",
    "SagaDidNotComplete",
    "SagaError",
    "SagaFailed",
    "SagaNotFound",
    "SagaRef",
    "SagaVersionNotFound",
    "ServerError",
    "Step",
    "StoreUnavailable",
    "Unauthorized",
    "UnexpectedResponse",
    "Unreachable",
    "WaitTimeout",
]
