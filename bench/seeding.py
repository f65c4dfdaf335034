"""A database holding many executions: a few real ones, made by the coordinator, then cloned in SQL.

The `api` and `purge` parts both start from it. The real executions are 80 % `happy` (completed),
20 % `rollback` (compensated) and a handful of `fail` (failed, so they need attention); cloning
(`databases.multiply_executions`) copies each up to the row count asked for, but the failed ones
only up to `failed` in all: a few hundred among a million, as a real database would hold.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench import databases
from bench.procs import get_json

if TYPE_CHECKING:
    from bench.harness import Harness

FAILED_SEEDS = 3
"""Real `failed` executions made before cloning; each is copied `failed / 3 - 1` times."""


@dataclass(frozen=True)
class SeedExecution:
    """One real execution the clones were copied from."""

    id: str
    key: str
    status: str


@dataclass(frozen=True)
class Seeded:
    """What a seeded database holds, and how to name its executions."""

    seeds: list[SeedExecution]
    seeding: dict[str, Any]
    """What `multiply_executions` reported (counts, seconds)."""
    attention_copies: int
    """How many copies each failed seed has (the others have `seeding["copies"]`)."""

    def _pick(self, rng: random.Random) -> tuple[SeedExecution, int]:
        finished = [seed for seed in self.seeds if seed.status != "failed"]
        return rng.choice(finished), rng.randint(0, self.seeding["copies"])

    def random_ids(self, rng: random.Random, count: int, *, newest_share: float = 1.0) -> list[str]:
        """Ids of stored, non-failed executions; with `newest_share` < 1 only from the newest copies
        (copy n is shifted n minutes back, so the smallest n are the last retention deletes)."""
        top = max(0, int(self.seeding["copies"] * newest_share))
        ids = []
        for _ in range(count):
            seed, n = self._pick(rng)
            n = min(n, top)
            ids.append(seed.id if n == 0 else f"{seed.id}.{n}")
        return ids

    def random_keys(self, rng: random.Random, count: int) -> list[str]:
        """Business keys of stored executions (each names exactly one)."""
        keys = []
        for _ in range(count):
            seed, n = self._pick(rng)
            keys.append(seed.key if n == 0 else f"{seed.key}.{n}")
        return keys


def seed_database(harness: Harness, db: databases.Database, rows: int, *, failed: int, name: str) -> Seeded:
    """Run the real executions on `db` with a coordinator, stop it, and clone them up to `rows`."""
    seeds_count = harness.args.api_seeds
    fail_seeds = FAILED_SEEDS if failed > 0 else 0
    plan = (("happy", seeds_count * 4 // 5 - fail_seeds), ("rollback", seeds_count // 5), ("fail", fail_seeds))
    coordinator = harness.start_coordinator(db, f"{name}-seed-{db.kind}")
    seeds: list[SeedExecution] = []
    try:
        for scenario, count in plan:
            if count <= 0:
                continue
            job = {
                "mode": "saga",
                "coordinator_url": coordinator.url,
                "scenario": scenario,
                "concurrency": 50,
                "count": count,
                "duration_s": 300,
                "prefix": f"seed-{scenario}",
            }
            harness.driver(job)
        cursor: str | None = None
        for _ in range(1000):
            query = "" if cursor is None else f"&cursor={cursor}"
            page = get_json(f"{coordinator.url}/v1/executions?limit=500{query}")
            seeds += [SeedExecution(item["id"], item["key"], item["status"]) for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    finally:
        harness.stop_coordinator(coordinator)
    attention_copies = max(0, failed // fail_seeds - 1) if fail_seeds else 0
    print(f"  {name}/{db.kind}: cloning {len(seeds)} executions up to {rows} ...", flush=True)
    seeding = databases.multiply_executions(db.url, rows, attention_copies=attention_copies)
    print(
        f"  {name}/{db.kind}: {seeding['executions']} executions ({seeding['by_status']}, "
        f"{seeding['needing_attention']} needing attention, {seeding['distinct_keys']} distinct keys), "
        f"{seeding['events']} events stored in {seeding['seconds']:.0f}s",
        flush=True,
    )
    return Seeded(seeds=seeds, seeding=seeding, attention_copies=attention_copies)
