"""`saga demo`: the coordinator on SQLite with the example services, five sagas, their timelines."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

from coordinator.api import create_app
from coordinator.cli.timeline import render_timeline
from coordinator.client import AsyncSagaClient
from coordinator.definition import find_definition_files, load_definition_file
from coordinator.runtime import Runtime
from coordinator.settings import Settings
from saga_examples.serve import serve_asgi, serve_examples

ORDER = {
    "order_id": "ord-1001",
    "items": [{"sku": "TSHIRT-M", "qty": 2}],
    "amount": 49.9,
    "card": "4242-4242-4242-4242",
    "address": "1 Main St, Springfield",
}
_CALL_TIMEOUT_S = 60.0
_SCENARIO_WAIT_S = 30.0
"""How long each scenario may take to end; each needs well under a second."""

SCENARIOS: list[tuple[str, dict[str, Any], str]] = [
    ("A checkout that completes", ORDER, "completed"),
    (
        "A declined card: the stock reservation is released",
        {**ORDER, "order_id": "ord-1002", "card": "4000-0000-0000-0002"},
        "compensated",
    ),
    (
        "A busy payment processor (503 twice): retried, then completes",
        {**ORDER, "order_id": "ord-1003", "card": "4000-0000-0000-0119"},
        "completed",
    ),
    (
        "A card that needs 3-D Secure: the payment service answers 202, the charge waits, "
        "and the service calls back a moment later",
        {**ORDER, "order_id": "ord-1005", "card": "4000-0000-0000-3220"},
        "completed",
    ),
]
PAST_THE_PIVOT = (
    "The parcel shipped (the pivot) but the confirmation email keeps bouncing: nothing is rolled back; "
    "the execution fails going forward, and an operator's retry carries it on",
    {**ORDER, "order_id": "ord-1004", "email": "customer@bounce.example"},
)


async def run_demo(*, sagas_dir: Path, color: bool = False, out: TextIO = sys.stdout) -> int:
    """Run the scenarios against a fresh coordinator; 0 when each ended as expected."""
    with tempfile.TemporaryDirectory(prefix="saga-demo-") as tmp:
        settings = Settings(database_url=f"sqlite:///{Path(tmp) / 'demo.db'}")
        async with serve_examples() as examples:
            runtime = await Runtime.open(settings)
            await runtime.start()
            try:
                async with serve_asgi(create_app(settings, runtime=runtime)) as url:
                    runtime.service.listening(url)  # the payment service calls back here
                    return await _scenarios(url, examples.env, sagas_dir, color, out)
            finally:
                await runtime.close()


async def _scenarios(url: str, env: dict[str, str], sagas_dir: Path, color: bool, out: TextIO) -> int:
    print(f"Coordinator at {url} (SQLite, a temporary file); participants:", file=out)
    for name, value in env.items():
        print(f"  {name}={value}", file=out)
    ok = True
    # The shipped client, as a service would use it; it raises a typed error for any refusal.
    async with AsyncSagaClient(url, timeout=_CALL_TIMEOUT_S) as client:
        for path in find_definition_files(sagas_dir):
            ref = await client.register(load_definition_file(path, env={**os.environ, **env}))
            print(f"Registered {ref.name} v{ref.version} from {path.name}", file=out)
        for title, order, expected in SCENARIOS:
            handle = await client.start("order-checkout", order, wait=_SCENARIO_WAIT_S)
            execution = handle.execution
            events = [event.raw async for event in client.events(execution.id)]
            print(f"\n== {title}", file=out)
            print(render_timeline(execution.raw, events, color=color), file=out)
            ok = ok and execution.status == expected
        title, order = PAST_THE_PIVOT
        handle = await client.start("order-checkout", order, wait=_SCENARIO_WAIT_S)
        failed = handle.execution.status
        await client.retry(handle.execution.id)  # what an operator does: POST /v1/executions/{id}/retry
        execution = await client.wait(handle.execution.id, timeout=_SCENARIO_WAIT_S)
        events = [event.raw async for event in client.events(execution.id)]
        print(f"\n== {title}", file=out)
        print(render_timeline(execution.raw, events, color=color), file=out)
        ok = ok and failed == "failed" and execution.status == "completed"
    print(
        "\nEvery transition above was persisted before the next call; "
        "GET /v1/executions/{id}/events serves the same history.",
        file=out,
    )
    return 0 if ok else 1
