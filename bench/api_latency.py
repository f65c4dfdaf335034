"""The `api` part: read latency of the API and the console with a million executions stored.

Per database: a seeded database (`seeding`), then the coordinator restarted on it and the driver
measuring, one request at a time: GET one execution (also at C=10), its events, 100 pages of each of
four lists following `next_cursor`, the search by business key (`?key=`), the executions needing
attention (`?attention=true`), and the console's list and execution pages.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from bench import big_execution
from bench.procs import get_json
from bench.seeding import seed_database

if TYPE_CHECKING:
    from bench.harness import Harness

MB = 1024 * 1024
MEASURES = (
    "get_one",
    "get_one_c10",
    "events_page",
    "list_pages",
    "by_key",
    "attention",
    "console_list",
    "console_execution",
    "console_big_execution",
)
"""The figures of each database, in the order they are printed."""


def measure_api(harness: Harness) -> dict[str, Any]:
    """The part: every database in `--db`, `--api-rows` executions each."""
    from bench.harness import now_iso

    rows = harness.args.api_rows
    out: dict[str, Any] = {"measured_at": now_iso(), "rows": rows, "databases": {}}
    for kind in harness.args.db:
        out["databases"][kind] = _on(harness, kind, rows)
    return out


def _on(harness: Harness, kind: str, rows: int) -> dict[str, Any]:
    db = harness.database(kind)
    try:
        seeded = seed_database(harness, db, rows, failed=harness.args.api_failed, name="api")
        big = big_execution.store_into(db.url)
        print(f"  api/{kind}: stored {big.id}: {big.steps} steps, {big.events} history events", flush=True)
        coordinator = harness.start_coordinator(db, f"api-{kind}")
        try:
            rng = random.Random(7)
            ids = seeded.random_ids(rng, 5000)
            keys = seeded.random_keys(rng, 2000)
            base = {"coordinator_url": coordinator.url, "duration_s": 120}

            def get(paths: list[str], count: int, concurrency: int = 1) -> dict[str, Any]:
                return harness.driver(
                    {**base, "mode": "get", "paths": paths, "concurrency": concurrency, "count": count}
                )

            # Warm the connection pool and the OS cache for a fair steady state, not a cold start.
            get([f"/v1/executions/{i}" for i in ids[:200]], 200)
            result: dict[str, Any] = {
                "seeding": seeded.seeding,
                "get_one": get([f"/v1/executions/{i}" for i in ids[200:2200]], 2000),
                "get_one_c10": get([f"/v1/executions/{i}" for i in ids[2200:4200]], 2000, concurrency=10),
                "events_page": get([f"/v1/executions/{i}/events" for i in ids[4200:4700]], 500),
            }
            list_paths = [
                "/v1/executions?limit=50",
                "/v1/executions?limit=50&saga=bench-happy",
                "/v1/executions?limit=50&status=compensated",
                "/v1/executions?limit=50&saga=bench-rollback&status=compensated",
            ]
            result["list_pages"] = harness.driver({**base, "mode": "pages", "paths": list_paths, "pages": 100})
            # Each key names one execution among the million: an exact match on an indexed column.
            result["by_key"] = get([f"/v1/executions?key={quote(k, safe='')}" for k in keys], 2000)
            # The first page of the few hundred that need attention (newest first), as an operator opens it.
            result["attention"] = get(["/v1/executions?attention=true", "/v1/executions?attention=true&limit=50"], 500)
            # The web console's list page (counts per status, filters) and execution pages, as HTML.
            result["console_list"] = get(
                [
                    "/ui/executions",
                    "/ui/executions?saga=bench-happy",
                    "/ui/executions?status=compensated",
                    "/ui/executions?saga=bench-rollback&status=compensated",
                ],
                400,
            )
            result["console_execution"] = get([f"/ui/executions/{i}" for i in ids[4700:5000]], 300)
            # One long execution (100 steps, ~5,000 history entries): the first view is uncached.
            result["console_big_execution"] = {
                **get([f"/ui/executions/{big.id}"], 30),
                "events": big.events,
                "steps": big.steps,
            }
            result["attention_listed"] = _attention_total(coordinator.url)
            result["startup_s"] = coordinator.startup_s
            result["rss_mb"] = coordinator.usage.rss_bytes() / MB
        finally:
            harness.stop_coordinator(coordinator)
    finally:
        harness.drop(db)
    for key in MEASURES:
        lat = result[key]["latency_ms"]
        print(
            f"  api/{kind}: {key:<17} n={result[key]['ok']:>5} errors={result[key]['errors']} "
            f"p50 {lat['p50']:.1f} ms  p99 {lat['p99']:.1f} ms",
            flush=True,
        )
    print(f"  api/{kind}: ?attention=true lists {result['attention_listed']} executions", flush=True)
    return result


def _attention_total(url: str) -> int:
    """How many executions `?attention=true` lists in all (following the cursor; a check, not timed)."""
    total, cursor = 0, None
    for _ in range(100):
        query = "" if cursor is None else f"&cursor={quote(cursor, safe='')}"
        page = get_json(f"{url}/v1/executions?attention=true&limit=500{query}")
        total += len(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    return total
