"""Error answers mapped to exceptions, and which calls are sent again after which failures.

These use httpx's MockTransport to produce what a healthy coordinator never sends (lost answers,
proxies' error pages); the real coordinator's own answers are covered by the other modules.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from coordinator.client import (
    ApiError,
    Conflict,
    DefinitionInvalid,
    ExecutionNotFound,
    ExecutionStateConflict,
    Forbidden,
    SagaClient,
    SagaNotFound,
    ServerError,
    StoreUnavailable,
    Unauthorized,
    UnexpectedResponse,
    Unreachable,
)
from coordinator.client.errors import error_from_answer

EXECUTION = {
    "id": "e-1",
    "saga": "trip",
    "version": 1,
    "status": "completed",
    "input": {},
    "steps": [],
    "error": None,
    "trace_id": None,
    "created_at": "2026-01-02T03:04:05.678Z",
    "updated_at": None,
}


def problem(status: int, code: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": f"urn:x:{code}",
        "title": "t",
        "status": status,
        "detail": f"detail of {code}",
        "code": code,
        **extra,
    }


class Script:
    """A MockTransport handler answering from a list (errors are raised), recording each request."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def client_for(script: Script, **kwargs: Any) -> SagaClient:
    return SagaClient("http://coordinator.test", transport=httpx.MockTransport(script), **kwargs)


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (404, "saga_not_found", SagaNotFound),
        (404, "execution_not_found", ExecutionNotFound),
        (409, "execution_state_conflict", ExecutionStateConflict),
        (409, "something_new", Conflict),  # an unknown code: by status
        (422, "definition_invalid", DefinitionInvalid),
        (401, "unauthorized", Unauthorized),
        (403, "forbidden", Forbidden),
        (503, "store_unavailable", StoreUnavailable),
        (500, "internal_error", ServerError),
        (500, "saga_not_found", ServerError),  # a code that contradicts the status: the status wins
        (418, "teapot", ApiError),
    ],
)
def test_problem_answers_map_to_typed_exceptions(status: int, code: str, expected: type[ApiError]) -> None:
    error = error_from_answer(status, problem(status, code, errors=[{"path": "steps[0]", "message": "bad"}]))
    assert type(error) is expected
    assert (error.status, error.code, error.detail) == (status, code, f"detail of {code}")
    assert [str(p) for p in error.problems] == ["steps[0]: bad"]


def test_a_non_json_error_page_keeps_its_text() -> None:
    script = Script(httpx.Response(502, text="<html>Bad Gateway</html>"))
    with client_for(script, retries=0) as client, pytest.raises(ServerError) as failed:
        client.get("e-1")
    assert failed.value.status == 502 and failed.value.code == "http_502" and "Bad Gateway" in failed.value.detail


def test_an_answer_that_is_not_the_coordinators_is_unexpected() -> None:
    html = Script(httpx.Response(200, text="<html>hello</html>"))
    with client_for(html) as client, pytest.raises(UnexpectedResponse, match="without JSON"):
        client.get("e-1")
    other = Script(httpx.Response(200, json={"ok": True}))
    with client_for(other) as client, pytest.raises(UnexpectedResponse, match="a field is missing"):
        client.get("e-1")


def test_reads_are_retried_after_a_503_honouring_retry_after() -> None:
    busy = httpx.Response(503, json=problem(503, "store_unavailable"), headers={"Retry-After": "0"})
    script = Script(busy, busy, httpx.Response(200, json=EXECUTION))
    with client_for(script) as client:
        assert client.get("e-1").id == "e-1"
    assert len(script.requests) == 3


def test_retries_give_up_after_the_budget() -> None:
    busy = httpx.Response(503, json=problem(503, "store_unavailable"), headers={"Retry-After": "0"})
    script = Script(busy)
    with client_for(script, retries=1) as client, pytest.raises(StoreUnavailable) as failed:
        client.get("e-1")
    assert len(script.requests) == 2 and failed.value.retry_after == 0


def test_operator_actions_are_not_repeated_after_an_answer_or_a_lost_one() -> None:
    busy = Script(httpx.Response(503, json=problem(503, "store_unavailable"), headers={"Retry-After": "0"}))
    with client_for(busy) as client, pytest.raises(StoreUnavailable):
        client.cancel("e-1")
    assert len(busy.requests) == 1
    lost = Script(httpx.ReadError("connection reset"))
    with client_for(lost) as client, pytest.raises(Unreachable):
        client.retry("e-1")
    assert len(lost.requests) == 1


def test_a_request_that_never_left_is_retried_for_any_call() -> None:
    script = Script(httpx.ConnectError("refused"), httpx.Response(202, json=EXECUTION))
    with client_for(script) as client:
        assert client.cancel("e-1").id == "e-1"
    assert len(script.requests) == 2


@pytest.mark.parametrize(("key", "sent"), [(None, 1), ("ord-1", 3)])
def test_a_start_is_repeated_after_a_lost_answer_only_with_an_idempotency_key(key: str | None, sent: int) -> None:
    script = Script(httpx.ReadTimeout("no answer"))
    with client_for(script) as client, pytest.raises(Unreachable, match="timed out"):
        client.start("trip", {}, idempotency_key=key)
    assert len(script.requests) == sent
    assert all(r.headers.get("idempotency-key") == key for r in script.requests)


def test_requests_carry_the_token_the_body_and_the_long_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAGA_URL", "coordinator.env:9000/")
    monkeypatch.setenv("SAGA_TOKEN", "from-env")
    running = dict(EXECUTION, status="running")
    script = Script(httpx.Response(201, json=running), httpx.Response(200, json=EXECUTION))
    with SagaClient(transport=httpx.MockTransport(script), long_poll=5) as client:
        assert client.base_url == "http://coordinator.env:9000"
        handle = client.start("../trip", {"n": 1}, version=2, wait=20)
    assert handle.execution.status == "completed" and handle.created
    start, poll = script.requests
    assert start.url.raw_path == b"/v1/sagas/..%2Ftrip/executions?wait=5000ms"  # a name never leaves its segment
    assert json.loads(start.content) == {"input": {"n": 1}, "version": 2}
    assert start.headers["authorization"] == "Bearer from-env"
    assert start.headers["content-type"] == "application/json"
    assert poll.method == "GET" and poll.url.path == "/v1/executions/e-1" and poll.url.params["wait"] == "5000ms"
    assert _read_timeout(poll) >= 5


def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAGA_TOKEN", "from-env")
    script = Script(httpx.Response(200, json=EXECUTION))
    with SagaClient("http://explicit:1", token="explicit", transport=httpx.MockTransport(script)) as client:
        client.get("e-1")
    assert str(script.requests[0].url) == "http://explicit:1/v1/executions/e-1"
    assert script.requests[0].headers["authorization"] == "Bearer explicit"


@pytest.mark.parametrize("bad", [{"timeout": 0}, {"retries": -1}, {"long_poll": 0}])
def test_nonsense_settings_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SagaClient("http://x", **bad)


def _read_timeout(request: httpx.Request) -> float:
    return float(request.extensions["timeout"]["read"])
