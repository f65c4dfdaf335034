"""A validated document to a `SagaSpec`: defaults merged, built-in values filled in."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from coordinator.core.retry import Jitter, RetryPolicy
from coordinator.core.spec import (
    DEFAULT_ALERT_AFTER_MS,
    RETRY_ON_CONNECT,
    RETRY_ON_TIMEOUT,
    AsyncSpec,
    CallSpec,
    SagaSpec,
    StatusPattern,
    StepSpec,
)
from coordinator.definition.models import (
    CallDocument,
    DefaultsDocument,
    GroupDocument,
    RetryDocument,
    SagaDocument,
    StepDocument,
)
from coordinator.definition.urls import split_url

DEFAULT_TIMEOUT_MS = 5_000
FORWARD_RETRY = RetryPolicy(max_attempts=3)
COMPENSATION_RETRY = RetryPolicy(max_attempts=10)
ACTION_SUCCESS = ("2xx",)
# For a compensation, "nothing left to undo" (404, 410) is as good as undoing it.
COMPENSATION_SUCCESS = ("2xx", "404", "410")
DEFAULT_RETRY_ON = (RETRY_ON_TIMEOUT, RETRY_ON_CONNECT, "408", "429", "5xx")


def build_spec(
    document: SagaDocument, *, version: int, default_alert_after_ms: int = DEFAULT_ALERT_AFTER_MS
) -> SagaSpec:
    """The compiled saga. `document` must have passed every check."""
    defaults = document.defaults or DefaultsDocument()
    return SagaSpec(
        name=document.name,
        version=version,
        steps=tuple(
            _build_step(step, defaults, group=group)
            for entry in document.steps
            for step, group in (
                [(m, entry.parallel.name) for m in entry.parallel.steps]
                if isinstance(entry, GroupDocument)
                else [(entry, None)]
            )
        ),
        description=document.description,
        deadline_ms=document.deadline,
        input_schema=copy.deepcopy(document.input_schema),
        output=copy.deepcopy(document.output),
        key=document.key,
        alert_after_ms=document.alert_after if document.alert_after is not None else default_alert_after_ms,
    )


def merge_retry(base: RetryPolicy, *layers: RetryDocument | None) -> RetryPolicy:
    """`base` overridden field by field by each layer in turn (later layers win)."""
    policy = base
    for layer in layers:
        if layer is None:
            continue
        changes: dict[str, Any] = {}
        if layer.max_attempts is not None:
            changes["max_attempts"] = layer.max_attempts
        if layer.initial_interval is not None:
            changes["initial_interval_ms"] = layer.initial_interval
        if layer.multiplier is not None:
            changes["multiplier"] = float(layer.multiplier)
        if layer.max_interval is not None:
            changes["max_interval_ms"] = layer.max_interval
        if layer.jitter is not None:
            changes["jitter"] = Jitter(layer.jitter)
        policy = dataclasses.replace(policy, **changes)
    return policy


def compensation_retry_policy(defaults: DefaultsDocument, step: StepDocument) -> RetryPolicy:
    """The retry policy of a step's compensation (SPEC section 2), layered, later layers winning:

    1. the built-in compensation policy (`max_attempts` 10, the built-in backoff);
    2. the backoff fields of `defaults.retry` (`initial_interval`, `multiplier`, `max_interval`,
       `jitter`), but not its `max_attempts`: the saga's backoff says how hard its participants may
       be pressed, which holds for undoing as much as for doing, while the number of forward
       attempts says nothing about how long an undo is worth trying;
    3. `defaults.compensation_retry`, every field;
    4. the step's own `compensation_retry`, every field.

    The step's forward `retry` never applies to its compensation.
    """
    saga_backoff = defaults.retry.model_copy(update={"max_attempts": None}) if defaults.retry is not None else None
    return merge_retry(COMPENSATION_RETRY, saga_backoff, defaults.compensation_retry, step.compensation_retry)


def merge_headers(defaults: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    """Default headers under the call's own; names compare without case, as HTTP does."""
    own_names = {name.lower() for name in own}
    merged = {name: value for name, value in defaults.items() if name.lower() not in own_names}
    merged.update(own)
    return copy.deepcopy(merged)


def _build_step(step: StepDocument, defaults: DefaultsDocument, *, group: str | None) -> StepSpec:
    return StepSpec(
        name=step.name,
        action=_build_call(step.action, defaults, compensation=False),
        compensation=(
            _build_call(step.compensation, defaults, compensation=True) if step.compensation is not None else None
        ),
        retry=merge_retry(FORWARD_RETRY, defaults.retry, step.retry),
        compensation_retry=compensation_retry_policy(defaults, step),
        deadline_ms=step.deadline,
        group=group,
        pivot=step.pivot,
    )


def _build_call(call: CallDocument, defaults: DefaultsDocument, *, compensation: bool) -> CallSpec:
    origin, path_template = split_url(call.url)
    success = call.success or (COMPENSATION_SUCCESS if compensation else ACTION_SUCCESS)
    # A compensation is retried on anything but success (core.rollback), so its `retry_on` is not
    # used; it keeps the default so that the executor still labels attempts sensibly.
    retry_on = DEFAULT_RETRY_ON if compensation or call.retry_on is None else tuple(call.retry_on)
    return CallSpec(
        method=call.method,
        origin=origin,
        path_template=path_template,
        headers=merge_headers(defaults.headers, call.headers),
        body=copy.deepcopy(call.body),
        timeout_ms=call.timeout or defaults.timeout or DEFAULT_TIMEOUT_MS,
        success=tuple(StatusPattern(text) for text in _unique(success)),
        retry_on_status=tuple(
            StatusPattern(text) for text in _unique(retry_on) if text not in (RETRY_ON_TIMEOUT, RETRY_ON_CONNECT)
        ),
        retry_on_timeout=RETRY_ON_TIMEOUT in retry_on,
        retry_on_connect=RETRY_ON_CONNECT in retry_on,
        async_=(
            AsyncSpec(timeout_ms=call.async_.timeout, heartbeat_ms=call.async_.heartbeat)
            if call.async_ is not None
            else None
        ),
    )


def _unique(texts: tuple[str, ...] | list[str]) -> list[str]:
    return list(dict.fromkeys(texts))
