"""`saga demo`: the coordinator on SQLite with the example services, three sagas, three timelines."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

import httpx

from coordinator.api import create_app
from coordinator.cli.timeline import render_timeline
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
]


async def run_demo(*, sagas_dir: Path, color: bool = False, out: TextIO = sys.stdout) -> int:
    """Run the scenarios against a fresh coordinator; 0 when each ended as expected."""
    with tempfile.TemporaryDirectory(prefix="saga-demo-") as tmp:
        settings = Settings(database_url=f"sqlite:///{Path(tmp) / 'demo.db'}")
        async with serve_examples() as examples:
            runtime = await Runtime.open(settings)
            await runtime.start()
            try:
                async with serve_asgi(create_app(settings, runtime=runtime)) as url:
                    return await _scenarios(url, examples.env, sagas_dir, color, out)
            finally:
                await runtime.close()


async def _scenarios(url: str, env: dict[str, str], sagas_dir: Path, color: bool, out: TextIO) -> int:
    print(f"Coordinator at {url} (SQLite, a temporary file); participants:", file=out)
    for name, value in env.items():
        print(f"  {name}={value}", file=out)
    ok = True
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        for path in find_definition_files(sagas_dir):
            document = load_definition_file(path, env={**os.environ, **env})
            r = await http.post("/v1/sagas", json=document)
            r.raise_for_status()
            print(f"Registered {r.json()['name']} v{r.json()['version']} from {path.name}", file=out)
        for title, order, expected in SCENARIOS:
            r = await http.post(
                "/v1/sagas/order-checkout/executions", json={"input": order}, params={"wait": "30s"}
            )
            r.raise_for_status()
            execution = r.json()
            events = (await http.get(f"/v1/executions/{execution['id']}/events", params={"limit": 1000})).json()
            print(f"\n== {title}", file=out)
            print(render_timeline(execution, events["items"], color=color), file=out)
            ok = ok and execution["status"] == expected
    print(
        "\nEvery transition above was persisted before the next call; "
        "GET /v1/executions/{id}/events serves the same history.",
        file=out,
    )
    return 0 if ok else 1
