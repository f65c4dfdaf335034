"""The example participants over real loopback HTTP: happy calls, idempotency, knobs, the ledger.

One set of services serves the whole module (starting three uvicorn servers per test would triple
the run time); every test uses its own order ids and idempotency keys, so they do not interfere.
The last tests walk the `sagas/` definitions by hand against the services, which checks that the
definitions and the services agree on paths and response fields.
"""

from __future__ import annotations

import os
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jmespath
import pytest
import pytest_asyncio
import yaml

from saga_examples import RunningExamples, serve_examples

pytestmark = pytest.mark.asyncio(loop_scope="module")

SAGAS = Path(__file__).resolve().parents[2] / "sagas"
DECLINED, FLAKY, REFUNDS_FAIL = "4000-0000-0000-0002", "4000-0000-0000-0119", "4000-0000-0000-0341"
GOOD_CARD = "4242-4242-4242-4242"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running() -> AsyncIterator[RunningExamples]:
    async with serve_examples() as services:
        yield services


@pytest_asyncio.fixture(loop_scope="module")
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as http:
        yield http


def key(step: str = "reserve", direction: str = "action") -> dict[str, str]:
    """The headers the coordinator sends, for a fresh execution."""
    execution_id = str(uuid.uuid4())
    return {
        "Idempotency-Key": f"{execution_id}:{step}:{direction}",
        "X-Saga-Execution-Id": execution_id,
        "X-Saga-Step": step,
    }


def order() -> str:
    return f"o-{uuid.uuid4().hex[:8]}"


async def ledger_for(client: httpx.AsyncClient, base: str, idempotency_key: str) -> list[dict[str, Any]]:
    entries = (await client.get(f"{base}/_ledger")).json()
    return [e for e in entries if e["idempotency_key"] == idempotency_key]


# -- serving ---------------------------------------------------------------------------------------


async def test_urls_and_env_point_at_three_listening_services(running: RunningExamples) -> None:
    assert set(running.urls) == {"inventory", "payment", "shipping"}
    assert running.env == {
        "INVENTORY_URL": running.urls["inventory"],
        "PAYMENT_URL": running.urls["payment"],
        "SHIPPING_URL": running.urls["shipping"],
    }
    ports = {urlsplit(url).port for url in running.urls.values()}
    assert len(ports) == 3 and 0 not in ports
    assert all(url.startswith("http://127.0.0.1:") for url in running.urls.values())


async def test_a_taken_port_is_an_oserror_and_nothing_is_left_running() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError):
            # inventory starts first, so this also shows a partial start is stopped cleanly
            async with serve_examples(ports={"payment": port}):
                pytest.fail("should not start")


# -- inventory -------------------------------------------------------------------------------------


async def test_reserve_and_release(running: RunningExamples, client: httpx.AsyncClient) -> None:
    base, order_id = running.urls["inventory"], order()
    items = [{"sku": "BOOK-1", "qty": 2}]
    created = await client.post(f"{base}/reservations", json={"order_id": order_id, "items": items}, headers=key())
    assert created.status_code == 201
    body = created.json()
    assert body["order_id"] == order_id and body["items"] == items
    reservation_id = body["reservation_id"]
    assert reservation_id in (await client.get(f"{base}/_state")).json()["reservations"]

    released = await client.delete(f"{base}/reservations/{reservation_id}", headers=key("reserve", "compensation"))
    assert (released.status_code, released.json()) == (200, {"released": True})
    assert reservation_id not in (await client.get(f"{base}/_state")).json()["reservations"]
    # gone, or never existed: 404, which a compensation counts as "nothing left to undo"
    again = await client.delete(f"{base}/reservations/{reservation_id}", headers=key("reserve", "compensation"))
    assert again.status_code == 404
    assert (await client.delete(f"{base}/reservations/res_unknown")).status_code == 404


async def test_out_of_stock_is_a_409_replayed_under_its_key(
    running: RunningExamples, client: httpx.AsyncClient
) -> None:
    base, headers = running.urls["inventory"], key()
    body = {"order_id": order(), "items": [{"sku": "BOOK-1", "qty": 1}, {"sku": "OUT-OF-STOCK", "qty": 1}]}
    for _ in range(2):
        refused = await client.post(f"{base}/reservations", json=body, headers=headers)
        assert (refused.status_code, refused.json()) == (409, {"detail": "out of stock"})
    entries = await ledger_for(client, base, headers["Idempotency-Key"])
    assert [(e["status"], e["applied"], e["replayed"]) for e in entries] == [(409, False, False), (409, False, True)]


# -- idempotency (shared by all three services) --------------------------------------------------


async def test_same_key_returns_the_stored_response_and_applies_once(
    running: RunningExamples, client: httpx.AsyncClient
) -> None:
    base, headers, order_id = running.urls["inventory"], key(), order()
    body = {"order_id": order_id, "items": [{"sku": "BOOK-1", "qty": 1}]}
    first = await client.post(f"{base}/reservations", json=body, headers=headers)
    second = await client.post(f"{base}/reservations", json=body, headers=headers)
    assert (second.status_code, second.json()) == (first.status_code, first.json())
    assert second.headers["Idempotent-Replayed"] == "true"

    state = (await client.get(f"{base}/_state")).json()["reservations"]
    assert [r for r in state.values() if r["order_id"] == order_id] == [first.json()]
    entries = await ledger_for(client, base, headers["Idempotency-Key"])
    assert [(e["status"], e["applied"], e["replayed"]) for e in entries] == [(201, True, False), (201, False, True)]
    assert {e["execution_id"] for e in entries} == {headers["X-Saga-Execution-Id"]}
    assert {e["step"] for e in entries} == {"reserve"}
    assert {(e["method"], e["path"]) for e in entries} == {("POST", "/reservations")}


async def test_a_key_reused_for_another_request_is_refused(running: RunningExamples, client: httpx.AsyncClient) -> None:
    base, headers = running.urls["inventory"], key()
    items = [{"sku": "BOOK-1", "qty": 1}]
    assert (
        await client.post(f"{base}/reservations", json={"order_id": "a", "items": items}, headers=headers)
    ).is_success
    other = await client.post(f"{base}/reservations", json={"order_id": "b", "items": items}, headers=headers)
    assert other.status_code == 422
    assert "different request" in other.json()["detail"]


async def test_without_a_key_every_request_applies(running: RunningExamples, client: httpx.AsyncClient) -> None:
    base, order_id = running.urls["shipping"], order()
    for _ in range(2):
        booked = await client.post(f"{base}/shipments", json={"order_id": order_id, "address": "1 Main St"})
        assert booked.status_code == 201
    shipments = (await client.get(f"{base}/_state")).json()["shipments"]
    assert sum(1 for s in shipments.values() if s["order_id"] == order_id) == 2


async def test_a_malformed_request_is_a_400_not_remembered(running: RunningExamples, client: httpx.AsyncClient) -> None:
    base, headers = running.urls["payment"], key("charge")
    broken = await client.post(f"{base}/charges", content=b"{not json", headers=headers)
    assert broken.status_code == 400
    missing = await client.post(f"{base}/charges", json={"order_id": "o", "card": GOOD_CARD}, headers=headers)
    assert (missing.status_code, missing.json()) == (400, {"detail": "body field 'amount' must be a number"})
    # nothing was stored under the key, so the corrected request goes through
    fixed = await client.post(
        f"{base}/charges", json={"order_id": "o", "amount": 5, "card": GOOD_CARD}, headers=headers
    )
    assert fixed.status_code == 201


# -- payment ---------------------------------------------------------------------------------------


async def test_charge_read_and_refund(running: RunningExamples, client: httpx.AsyncClient) -> None:
    base, order_id = running.urls["payment"], order()
    charged = await client.post(
        f"{base}/charges", json={"order_id": order_id, "amount": 42.5, "card": GOOD_CARD}, headers=key("charge")
    )
    assert charged.status_code == 201
    charge_id = charged.json()["charge_id"]
    assert charged.json() == {"charge_id": charge_id, "order_id": order_id, "amount": 42.5}

    read = await client.get(f"{base}/charges/{charge_id}")
    assert read.json() == {"charge_id": charge_id, "order_id": order_id, "amount": 42.5, "refunded": False}

    refund = await client.post(f"{base}/charges/{charge_id}/refund", headers=key("charge", "compensation"))
    assert refund.status_code == 200 and refund.json()["refunded"] is True
    assert (await client.get(f"{base}/charges/{charge_id}")).json()["refunded"] is True
    # a second refund under another key is a business "no"; an unknown charge is 404
    again = await client.post(f"{base}/charges/{charge_id}/refund", headers=key("charge", "compensation"))
    assert (again.status_code, again.json()) == (409, {"detail": "already refunded"})
    assert (await client.post(f"{base}/charges/ch_unknown/refund")).status_code == 404
    assert (await client.get(f"{base}/charges/ch_unknown")).status_code == 404


async def test_partial_refund_is_bounded_by_the_charge(running: RunningExamples, client: httpx.AsyncClient) -> None:
    base = running.urls["payment"]
    charged = await client.post(f"{base}/charges", json={"order_id": order(), "amount": 10, "card": GOOD_CARD})
    url = f"{base}/charges/{charged.json()['charge_id']}/refund"
    assert (await client.post(url, json={"amount": 11})).status_code == 422
    partial = await client.post(url, json={"amount": 4, "reason": "one item back"})
    assert partial.json() == {
        "refunded": True,
        "charge_id": charged.json()["charge_id"],
        "amount": 4,
        "reason": "one item back",
    }


async def test_declined_card_is_402(running: RunningExamples, client: httpx.AsyncClient) -> None:
    declined = await client.post(
        f"{running.urls['payment']}/charges", json={"order_id": order(), "amount": 10, "card": DECLINED}
    )
    assert (declined.status_code, declined.json()) == (402, {"detail": "card declined"})


async def test_amount_over_the_limit_is_422(running: RunningExamples, client: httpx.AsyncClient) -> None:
    refused = await client.post(
        f"{running.urls['payment']}/charges", json={"order_id": order(), "amount": 10000.01, "card": GOOD_CARD}
    )
    assert refused.status_code == 422
    at_limit = await client.post(
        f"{running.urls['payment']}/charges", json={"order_id": order(), "amount": 10000, "card": GOOD_CARD}
    )
    assert at_limit.status_code == 201


async def test_busy_processor_answers_503_twice_per_key_then_charges_once(
    running: RunningExamples, client: httpx.AsyncClient
) -> None:
    base, headers = running.urls["payment"], key("charge")
    body = {"order_id": order(), "amount": 10, "card": FLAKY}
    answers = [await client.post(f"{base}/charges", json=body, headers=headers) for _ in range(4)]
    assert [a.status_code for a in answers] == [503, 503, 201, 201]
    assert "Retry-After" not in answers[0].headers  # the saga's own backoff applies
    assert answers[3].json() == answers[2].json()  # the success is stored; 503s were not
    entries = await ledger_for(client, base, headers["Idempotency-Key"])
    assert [e["applied"] for e in entries] == [False, False, True, False]
    # the count is per key: another execution meets the busy processor afresh
    fresh = await client.post(f"{base}/charges", json=body, headers=key("charge"))
    assert fresh.status_code == 503


async def test_refunds_of_a_0341_charge_fail_every_time(running: RunningExamples, client: httpx.AsyncClient) -> None:
    base = running.urls["payment"]
    charged = await client.post(f"{base}/charges", json={"order_id": order(), "amount": 10, "card": REFUNDS_FAIL})
    assert charged.status_code == 201
    headers = key("charge", "compensation")
    url = f"{base}/charges/{charged.json()['charge_id']}/refund"
    for _ in range(2):
        failed = await client.post(url, headers=headers)
        assert (failed.status_code, failed.json()) == (500, {"detail": "refund processor unavailable"})
    entries = await ledger_for(client, base, headers["Idempotency-Key"])
    assert [(e["applied"], e["replayed"]) for e in entries] == [(False, False), (False, False)]


# -- shipping --------------------------------------------------------------------------------------


async def test_book_and_cancel_a_shipment(running: RunningExamples, client: httpx.AsyncClient) -> None:
    base, order_id = running.urls["shipping"], order()
    booked = await client.post(
        f"{base}/shipments", json={"order_id": order_id, "address": "1 Main St"}, headers=key("ship")
    )
    assert booked.status_code == 201
    shipment_id = booked.json()["shipment_id"]
    cancelled = await client.delete(f"{base}/shipments/{shipment_id}", headers=key("ship", "compensation"))
    assert (cancelled.status_code, cancelled.json()) == (200, {"cancelled": True})
    assert (await client.delete(f"{base}/shipments/{shipment_id}")).status_code == 404
    assert (await client.delete(f"{base}/shipments/shp_unknown")).status_code == 404


async def test_nowhere_is_undeliverable(running: RunningExamples, client: httpx.AsyncClient) -> None:
    refused = await client.post(
        f"{running.urls['shipping']}/shipments", json={"order_id": order(), "address": "nowhere"}
    )
    assert refused.status_code == 409


# -- the ledger ------------------------------------------------------------------------------------


async def test_ledger_records_every_request_and_can_be_cleared(client: httpx.AsyncClient) -> None:
    # Own services: clearing the shared module's ledgers would race with nothing, but reads better.
    async with serve_examples() as own:
        base = own.urls["shipping"]
        before = time.time() * 1000
        headers = key("ship")
        await client.post(f"{base}/shipments", json={"order_id": "o", "address": "nowhere"}, headers=headers)
        await client.delete(f"{base}/shipments/shp_unknown")
        entries = (await client.get(f"{base}/_ledger")).json()
        assert entries == [
            {
                "at": entries[0]["at"],
                "method": "POST",
                "path": "/shipments",
                "idempotency_key": headers["Idempotency-Key"],
                "execution_id": headers["X-Saga-Execution-Id"],
                "step": "ship",
                "status": 409,
                "applied": False,
                "replayed": False,
            },
            {
                "at": entries[1]["at"],
                "method": "DELETE",
                "path": "/shipments/shp_unknown",
                "idempotency_key": None,
                "execution_id": None,
                "step": None,
                "status": 404,
                "applied": False,
                "replayed": False,
            },
        ]
        assert before <= entries[0]["at"] <= entries[1]["at"] <= time.time() * 1000
        cleared = await client.delete(f"{base}/_ledger")
        assert (cleared.status_code, cleared.json()) == (200, {"cleared": 2})
        assert (await client.get(f"{base}/_ledger")).json() == []
        # the inspection routes are not themselves ledgered
        assert (await client.get(f"{base}/_ledger")).json() == []


# -- the sagas/ definitions against the services ---------------------------------------------------
#
# A hand-run of a definition, the way the coordinator runs it (forward in order, then
# compensations newest first) with a minimal `{{ JMESPath }}` renderer. It checks that every URL,
# body field and response field a definition names exists in the example services.

_ENV = re.compile(r"\$\{(\w+):-([^}]*)\}")
_TEMPLATE = re.compile(r"\{\{\s*(.+?)\s*\}\}")


def load_saga(name: str, env: dict[str, str]) -> dict[str, Any]:
    text = _ENV.sub(lambda m: env.get(m[1], os.environ.get(m[1], m[2])), (SAGAS / f"{name}.yaml").read_text())
    definition: dict[str, Any] = yaml.safe_load(text)
    return definition


def render(value: Any, context: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return {k: render(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, context) for v in value]
    if not isinstance(value, str):
        return value
    whole = _TEMPLATE.fullmatch(value.strip())
    if whole:  # exactly one template keeps the JSON type
        return jmespath.search(whole[1], context)
    return _TEMPLATE.sub(lambda m: str(jmespath.search(m[1], context)), value)


async def call(client: httpx.AsyncClient, spec: dict[str, Any], context: dict[str, Any], key: str) -> httpx.Response:
    host = urlsplit(spec["url"]).netloc
    assert "{{" not in host, "a URL's scheme, host and port are never templated"
    return await client.request(
        spec["method"],
        render(spec["url"], context),
        headers={**render(spec.get("headers") or {}, context), "Idempotency-Key": key},
        json=render(spec["body"], context) if "body" in spec else None,
    )


def flat_steps(definition: dict[str, Any]) -> list[dict[str, Any]]:
    """The steps in definition order, a `parallel:` group's members in its place."""
    entries = definition["steps"]
    return [m for entry in entries for m in (entry["parallel"]["steps"] if "parallel" in entry else [entry])]


async def run_saga(
    client: httpx.AsyncClient, definition: dict[str, Any], saga_input: dict[str, Any]
) -> tuple[list[str], list[str]]:
    """Run forward until a step fails, then compensate; return (succeeded, compensated) step names.

    A group's members run one after the other here: the participants cannot tell."""
    context: dict[str, Any] = {"input": saga_input, "steps": {}}
    execution_id, done = str(uuid.uuid4()), []
    for step in flat_steps(definition):
        answer = await call(client, step["action"], context, f"{execution_id}:{step['name']}:action")
        if not answer.is_success:
            break
        context["steps"][step["name"]] = {"response": {"status": answer.status_code, "body": answer.json()}}
        done.append(step)
    else:
        return [s["name"] for s in done], []
    undone = []
    for step in reversed(done):
        if "compensation" in step:
            key = f"{execution_id}:{step['name']}:compensation"
            assert (await call(client, step["compensation"], context, key)).status_code in (200, 404, 410)
            undone.append(step["name"])
    return [s["name"] for s in done], undone


async def test_order_checkout_runs_against_the_examples(running: RunningExamples, client: httpx.AsyncClient) -> None:
    saga = load_saga("order-checkout", running.env)
    base = {"items": [{"sku": "BOOK-1", "qty": 1}], "amount": 25, "card": GOOD_CARD, "address": "1 Main St"}
    completes = {**base, "order_id": order()}
    assert await run_saga(client, saga, completes) == (["reserve", "charge", "book_courier", "ship", "confirm"], [])
    declined = {**base, "order_id": order(), "card": DECLINED}
    assert await run_saga(client, saga, declined) == (["reserve"], ["reserve"])
    undeliverable = {**base, "order_id": order(), "address": "nowhere"}
    assert await run_saga(client, saga, undeliverable) == (["reserve", "charge"], ["charge", "reserve"])
    # the rollback really undid the effects
    state = (await client.get(f"{running.urls['inventory']}/_state")).json()["reservations"]
    assert not [r for r in state.values() if r["order_id"] in (declined["order_id"], undeliverable["order_id"])]


async def test_payment_refund_runs_against_the_examples(running: RunningExamples, client: httpx.AsyncClient) -> None:
    saga = load_saga("payment-refund", running.env)
    payment = running.urls["payment"]

    async def charge() -> str:
        made = await client.post(f"{payment}/charges", json={"order_id": order(), "amount": 30, "card": GOOD_CARD})
        return str(made.json()["charge_id"])

    base = {"items": [{"sku": "BOOK-1", "qty": 1}], "pickup_address": "1 Main St"}
    refund = {**base, "order_id": order(), "charge_id": await charge()}
    steps = ["verify_charge", "book_pickup", "hold_restock", "refund"]
    assert await run_saga(client, saga, refund) == (steps, [])
    refunded = (await client.get(f"{payment}/charges/{refund['charge_id']}")).json()
    assert refunded["refunded"] is True
    # refunding twice is refused at the last step: the pickup and the restock slot are released
    assert await run_saga(client, saga, {**refund, "order_id": order()}) == (
        steps[:3],
        ["hold_restock", "book_pickup"],
    )
    assert await run_saga(client, saga, {**base, "order_id": order(), "charge_id": "ch_unknown"}) == ([], [])


async def test_definitions_have_the_spec_shape() -> None:
    for path in sorted(SAGAS.glob("*.yaml")):
        definition = yaml.safe_load(path.read_text())
        assert re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,99}", definition["name"]), path
        assert definition["name"] == path.stem
        names = [step["name"] for step in flat_steps(definition)]
        assert len(set(names)) == len(names)
        assert all(re.fullmatch(r"[a-z_][a-z0-9_]*", n) for n in names)
        for step in flat_steps(definition):
            for direction in ("action", "compensation"):
                if direction in step:
                    assert re.match(r"\$\{[A-Z_]+_URL:-http://127\.0\.0\.1:810[123]\}/", step[direction]["url"])
