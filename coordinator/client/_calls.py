"""The API's endpoints as `Call`s, shared by the sync and the async client."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from coordinator.client._http import Call, definition_body, json_body, segment, wait_param
from coordinator.client.models import ExecutionStatus


def register(source: Mapping[str, Any] | str | os.PathLike[str]) -> Call:
    """`POST /v1/sagas`. Safe to repeat: the same body again is answered 200 "unchanged"."""
    body, headers = definition_body(source)
    return Call("POST", "/v1/sagas", body=body, headers=headers, idempotent=True)


def start(saga: str, input: Any, idempotency_key: str | None, version: int | None, wait_s: float) -> Call:
    """`POST /v1/sagas/{name}/executions`; safe to repeat only with an Idempotency-Key."""
    payload: dict[str, Any] = {"input": input}
    if version is not None:
        payload["version"] = version
    body, headers = json_body(payload)
    if idempotency_key is not None:
        headers["idempotency-key"] = idempotency_key
    params = {"wait": wait_param(wait_s)} if wait_s > 0 else {}
    return Call(
        "POST",
        f"/v1/sagas/{segment(saga)}/executions",
        params=params,
        body=body,
        headers=headers,
        idempotent=idempotency_key is not None,
        wait_s=wait_s,
    )


def get_execution(execution_id: str, wait_s: float = 0.0) -> Call:
    """`GET /v1/executions/{id}`, a long poll when `wait_s` > 0."""
    params = {"wait": wait_param(wait_s)} if wait_s > 0 else {}
    return Call("GET", f"/v1/executions/{segment(execution_id)}", params=params, idempotent=True, wait_s=wait_s)


def list_executions(
    saga: str | None,
    status: ExecutionStatus | str | None,
    limit: int | None,
    cursor: str | None,
    id_prefix: str | None = None,
    key: str | None = None,
    attention: bool = False,
) -> Call:
    """`GET /v1/executions`, newest first; every filter given narrows it (`id_prefix`: ids that start
    with it; `key`: the business key; `attention`: only those that need an operator)."""
    params = _params(
        saga=saga,
        status=str(status) if status is not None else None,
        id_prefix=id_prefix,
        key=key,
        attention="true" if attention else None,
        limit=limit,
        cursor=cursor,
    )
    return Call("GET", "/v1/executions", params=params, idempotent=True)


def list_events(execution_id: str, limit: int | None, cursor: str | None) -> Call:
    """`GET /v1/executions/{id}/events`, oldest first."""
    params = _params(limit=limit, cursor=cursor)
    return Call("GET", f"/v1/executions/{segment(execution_id)}/events", params=params, idempotent=True)


def cancel(execution_id: str) -> Call:
    """`POST /v1/executions/{id}/cancel` (not repeated automatically)."""
    return Call("POST", f"/v1/executions/{segment(execution_id)}/cancel")


def retry(execution_id: str) -> Call:
    """`POST /v1/executions/{id}/retry` (not repeated automatically)."""
    return Call("POST", f"/v1/executions/{segment(execution_id)}/retry")


def resolve(execution_id: str, step: str, note: str) -> Call:
    """`POST /v1/executions/{id}/resolve` (not repeated automatically)."""
    body, headers = json_body({"step": step, "note": note})
    return Call("POST", f"/v1/executions/{segment(execution_id)}/resolve", body=body, headers=headers)


def bulk(action: str, selection: Mapping[str, Any], dry_run: bool) -> Call:
    """`POST /v1/executions/cancel` or `/retry` over a filter (not repeated automatically)."""
    body, headers = json_body({**{k: v for k, v in selection.items() if v not in (None, False)}, "dry_run": dry_run})
    return Call("POST", f"/v1/executions/{action}", body=body, headers=headers, idempotent=dry_run)


def get_saga(name: str, version: int | None) -> Call:
    """`GET /v1/sagas/{name}` (the latest) or `GET /v1/sagas/{name}/versions/{version}`."""
    path = f"/v1/sagas/{segment(name)}" + (f"/versions/{int(version)}" if version is not None else "")
    return Call("GET", path, idempotent=True)


def list_sagas(limit: int | None, cursor: str | None) -> Call:
    """`GET /v1/sagas`: the latest version of each saga."""
    return Call("GET", "/v1/sagas", params=_params(limit=limit, cursor=cursor), idempotent=True)


def _params(**values: str | int | None) -> dict[str, str]:
    return {k: str(v) for k, v in values.items() if v is not None}
