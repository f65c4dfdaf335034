"""The participant's callback helper against a real coordinator: complete, fail, heartbeat, refusals.

The scripted participant answers the `async:` step with 202 and keeps the request, as a real one
would keep the `X-Saga-Callback-Url` header with its job; the test then plays the participant's
later work through `Callback` (in a worker thread, so the loop keeps serving) or `AsyncCallback`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import pytest

from coordinator.client import (
    CALLBACK_HEADER,
    AsyncCallback,
    AsyncSagaClient,
    Callback,
    CallbackConflict,
    CallbackNotFound,
    Conflict,
    Delivery,
    NotFound,
    PayloadTooLarge,
    Unreachable,
)
from tests.client.conftest import Coordinator
from tests.integration.scripted_participant import Reply, ScriptedParticipant, Seen

pytestmark = pytest.mark.asyncio(loop_scope="module")


def charge_then_receipt(url: str, name: str, *, timeout: str = "10s", attempts: int = 1) -> dict[str, Any]:
    """`charge` is asynchronous; `receipt` reads the body the charge's callback reported."""
    return {
        "name": name,
        "steps": [
            {
                "name": "charge",
                "action": {"method": "POST", "url": f"{url}/charge", "async": {"timeout": timeout}},
                "retry": {"max_attempts": attempts, "initial_interval": "10ms", "jitter": "none"},
                "compensation": {"method": "POST", "url": f"{url}/refund"},
            },
            {
                "name": "receipt",
                "action": {
                    "method": "POST",
                    "url": f"{url}/receipt",
                    "body": {"charge_id": "{{ steps.charge.response.body.charge_id }}"},
                },
            },
        ],
    }


async def started(
    coordinator: Coordinator, participant: ScriptedParticipant, name: str, **options: Any
) -> tuple[str, AsyncSagaClient]:
    participant.on("/charge", Reply(202, {"status": "pending"}))
    client = AsyncSagaClient(coordinator.url)
    await client.register(charge_then_receipt(participant.url, name, **options))
    handle = await client.start(name, {})
    return handle.id, client


async def nth_call(participant: ScriptedParticipant, path: str, n: int = 1, timeout: float = 10) -> Seen:
    """The n-th request the participant received on `path`, waiting for it with a deadline."""
    deadline = time.monotonic() + timeout
    while len(participant.calls(path)) < n:
        assert time.monotonic() < deadline, f"no call #{n} of {path} within {timeout}s"
        await asyncio.sleep(0.02)
    return participant.calls(path)[n - 1]


async def step_status(client: AsyncSagaClient, execution_id: str, step: str) -> str:
    execution = await client.get(execution_id)
    return next(s.status for s in execution.steps if s.name == step)


async def until_waiting(client: AsyncSagaClient, execution_id: str, step: str = "charge") -> None:
    deadline = time.monotonic() + 10
    while (status := await step_status(client, execution_id, step)) != "waiting":
        assert time.monotonic() < deadline, f"{step} is {status}, not waiting"
        await asyncio.sleep(0.02)


async def test_the_blocking_helper_completes_a_waiting_step_and_a_repeat_is_a_duplicate(
    coordinator: Coordinator, participant: ScriptedParticipant, saga_name: str
) -> None:
    execution_id, client = await started(coordinator, participant, saga_name)
    async with client:
        call = await nth_call(participant, "/charge")
        await until_waiting(client, execution_id)

        def participant_work() -> tuple[Delivery, Delivery]:
            with Callback.from_headers(call.headers) as callback:
                first = callback.complete({"charge_id": "ch_42"})
                again = callback.complete({"charge_id": "ch_42"})  # the first answer was "lost"
                with pytest.raises(CallbackConflict) as conflict:
                    callback.fail("changed my mind")
                assert isinstance(conflict.value, Conflict) and conflict.value.status == 409
                return first, again

        assert await asyncio.to_thread(participant_work) == (Delivery.ACCEPTED, Delivery.DUPLICATE)
        execution = await client.wait(execution_id, timeout=10)
        assert execution.status == "completed"
        [receipt] = participant.calls("/receipt")
        assert receipt.body == {"charge_id": "ch_42"}  # the callback's body is the step's response body
        assert participant.calls("/refund") == []


async def test_the_async_helper_heartbeats_then_fails_and_the_saga_rolls_back_with_its_error(
    coordinator: Coordinator, participant: ScriptedParticipant, saga_name: str
) -> None:
    execution_id, client = await started(coordinator, participant, saga_name)
    async with client:
        call = await nth_call(participant, "/charge")
        await until_waiting(client, execution_id)
        async with AsyncCallback(call.headers[CALLBACK_HEADER.lower()]) as callback:
            assert await callback.heartbeat() is Delivery.ACCEPTED
            assert await callback.fail("card declined by the issuer", {"code": "do_not_honor"}) is Delivery.ACCEPTED
            assert await callback.fail("card declined by the issuer", {"code": "do_not_honor"}) is Delivery.DUPLICATE
            with pytest.raises(CallbackConflict):
                await callback.complete({"charge_id": "too late"})
        execution = await client.wait(execution_id, timeout=10)
        assert execution.status == "compensated"
        assert execution.error is not None and execution.error.step == "charge"
        assert "card declined by the issuer" in execution.error.message
        assert participant.calls("/receipt") == []
        # A failed callback is a final "no": nothing took effect, so nothing is refunded.
        assert participant.calls("/refund") == []


async def test_a_superseded_attempt_is_a_conflict_and_the_new_one_completes(
    coordinator: Coordinator, participant: ScriptedParticipant, saga_name: str
) -> None:
    execution_id, client = await started(coordinator, participant, saga_name, timeout="1500ms", attempts=2)
    async with client:
        first = await nth_call(participant, "/charge", 1)
        second = await nth_call(participant, "/charge", 2)  # the first timed out: a new attempt
        old, new = first.headers[CALLBACK_HEADER.lower()], second.headers[CALLBACK_HEADER.lower()]
        assert old != new, "each attempt has its own token"
        async with AsyncCallback(old) as late:
            with pytest.raises((CallbackConflict, CallbackNotFound)) as refused:
                await late.complete({"charge_id": "ch_old"})
            assert refused.value.status in (404, 409)
        async with AsyncCallback(new) as current:
            assert await current.complete({"charge_id": "ch_new"}) is Delivery.ACCEPTED
        execution = await client.wait(execution_id, timeout=10)
        assert execution.status == "completed"
        assert [r.body for r in participant.calls("/receipt")] == [{"charge_id": "ch_new"}]


async def test_an_unknown_token_is_not_found_and_a_huge_body_is_refused(
    coordinator: Coordinator, participant: ScriptedParticipant, saga_name: str
) -> None:
    execution_id, client = await started(coordinator, participant, saga_name)
    async with client:
        call = await nth_call(participant, "/charge")
        url = call.headers[CALLBACK_HEADER.lower()]
        forged = url[:-6] + ("AAAAAA" if not url.endswith("AAAAAA") else "BBBBBB")
        async with AsyncCallback(forged) as callback:
            with pytest.raises(CallbackNotFound) as unknown:
                await callback.complete({})
            assert isinstance(unknown.value, NotFound) and unknown.value.status == 404
        async with AsyncCallback(f"{coordinator.url}/v1/callbacks/nothing-like-a-token") as callback:
            with pytest.raises(CallbackNotFound):
                await callback.heartbeat()
        async with AsyncCallback(url) as callback:
            with pytest.raises(PayloadTooLarge):  # the conftest coordinator allows 64 KiB
                await callback.complete({"blob": "x" * 100_000})
            assert await step_status(client, execution_id, "charge") == "waiting", "a refusal changes nothing"
            assert await callback.complete({"charge_id": "ch_1"}) is Delivery.ACCEPTED
        assert (await client.wait(execution_id, timeout=10)).status == "completed"


class Recording(httpx.BaseTransport):
    """The real transport, keeping every request sent through it."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


async def test_the_helper_sends_no_bearer_token_and_keeps_the_capability_out_of_what_it_prints(
    coordinator: Coordinator,
    participant: ScriptedParticipant,
    saga_name: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("SAGA_TOKEN", "the-operators-token")
    caplog.set_level(logging.INFO, logger="httpx")  # httpx logs each request's URL at INFO
    execution_id, client = await started(coordinator, participant, saga_name)
    async with client:
        call = await nth_call(participant, "/charge")
        url = call.headers[CALLBACK_HEADER.lower()]
        token = url.rsplit("/", 1)[1]
        recording = Recording()

        def participant_work() -> None:
            with Callback(url, transport=recording) as callback:
                assert token not in repr(callback)
                assert callback.heartbeat() is Delivery.ACCEPTED
                assert callback.complete({"charge_id": "ch_1"}) is Delivery.ACCEPTED

        await asyncio.to_thread(participant_work)
        assert [str(r.url) for r in recording.requests] == [f"{url}/heartbeat", url]
        assert all("authorization" not in r.headers for r in recording.requests)
        assert "/v1/callbacks/***" in caplog.text and token not in caplog.text
        assert (await client.wait(execution_id, timeout=10)).status == "completed"


async def test_a_url_that_is_not_a_callback_is_refused_at_once() -> None:
    for url in ("http://127.0.0.1:8080/v1/executions/123", "ftp://host/v1/callbacks/abc", "/v1/callbacks/abc"):
        with pytest.raises(ValueError, match="not a callback URL"):
            Callback(url)
    with pytest.raises(KeyError, match="X-Saga-Callback-Url"):
        Callback.from_headers({"content-type": "application/json"})


async def test_a_coordinator_that_is_not_there_is_unreachable_without_the_token_in_the_message() -> None:
    token = "k3Jx9-secret-capability"

    def send() -> None:
        with Callback(f"http://127.0.0.1:1/v1/callbacks/{token}", retries=0, timeout=2) as callback:
            callback.complete()

    with pytest.raises(Unreachable) as unreachable:
        await asyncio.to_thread(send)
    assert token not in str(unreachable.value)
    assert "/v1/callbacks/***" in str(unreachable.value)
