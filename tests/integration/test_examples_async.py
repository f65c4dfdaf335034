"""The example payment service's asynchronous mode against a real coordinator, and the demo showing it."""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from coordinator.api import create_app
from coordinator.cli.demo import run_demo
from coordinator.client import AsyncSagaClient
from coordinator.definition import load_definition_file
from coordinator.runtime import Runtime
from coordinator.settings import Settings
from saga_examples.serve import RunningExamples, serve_asgi, serve_examples

SAGAS = Path(__file__).resolve().parents[2] / "sagas"
THREE_D_SECURE = "4000-0000-0000-3220"
ORDER = {"order_id": "ord-3ds", "items": [{"sku": "TSHIRT-M", "qty": 1}], "amount": 25, "address": "1 Main St"}


@contextlib.asynccontextmanager
async def _coordinator(tmp_path: Path) -> AsyncIterator[str]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'saga.db'}")
    runtime = await Runtime.open(settings)
    await runtime.start()
    try:
        async with serve_asgi(create_app(settings, runtime=runtime)) as url:
            runtime.service.listening(url)
            yield url
    finally:
        await runtime.close()


async def _state(examples: RunningExamples) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=5) as http:
        state: dict[str, Any] = (await http.get(f"{examples.urls['payment']}/_state")).json()
        return state


async def test_order_checkout_with_a_3ds_card_waits_for_the_payment_services_callback(tmp_path: Path) -> None:
    async with serve_examples() as examples, _coordinator(tmp_path) as url:
        async with AsyncSagaClient(url) as client:
            await client.register(load_definition_file(SAGAS / "order-checkout.yaml", env=examples.env))
            handle = await client.start("order-checkout", {**ORDER, "card": THREE_D_SECURE}, wait=20)
            execution = handle.execution
            assert execution.status == "completed", execution.error
            kinds = [e.type async for e in client.events(execution.id)]
        assert "callback_received" in kinds and "heartbeat_received" in kinds, kinds
        state = await _state(examples)
        [charge] = state["charges"].values()
        assert charge["status"] == "succeeded"
        assert [c["delivery"] for c in state["callbacks"]] == ["accepted"]


async def test_a_timed_out_attempt_is_called_again_and_the_report_goes_to_the_new_callback_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXAMPLES_ASYNC_DELAY_MS", "900")  # longer than the first attempt may wait
    async with serve_examples() as examples:
        payment = examples.urls["payment"]
        saga = {
            "name": "slow-3ds",
            "steps": [
                {
                    "name": "charge",
                    "action": {
                        "method": "POST",
                        "url": f"{payment}/charges",
                        "body": {"order_id": "ord-slow", "amount": 10, "card": THREE_D_SECURE},
                        "async": {"timeout": "500ms"},
                    },
                    "retry": {"max_attempts": 3, "initial_interval": "10ms", "jitter": "none"},
                },
                {
                    "name": "read",
                    "action": {"method": "GET", "url": payment + "/charges/{{ steps.charge.response.body.charge_id }}"},
                },
            ],
        }
        async with _coordinator(tmp_path) as url:
            async with AsyncSagaClient(url) as client:
                await client.register(saga)
                execution = (await client.start("slow-3ds", {}, wait=20)).execution
                assert execution.status == "completed", execution.error
                charge = next(s for s in execution.steps if s.name == "charge")
                assert charge.attempts >= 2, "the first attempt timed out"
            state = await _state(examples)
            assert len(state["charges"]) == 1, "the repeat was a replay under the same Idempotency-Key"
            assert state["callbacks"][-1]["delivery"] == "accepted"


async def test_the_demo_shows_the_asynchronous_charge(tmp_path: Path) -> None:
    out = io.StringIO()
    assert await run_demo(sagas_dir=SAGAS, out=out) == 0, out.getvalue()
    text = out.getvalue()
    section = text.split("== A card that needs 3-D Secure", 1)[1].split("\n== ", 1)[0]
    [charge] = [line for line in section.splitlines() if "→ charge" in line]
    assert " 202 " in charge and re.search(r"called back|callback", charge), section
