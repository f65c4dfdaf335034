"""A/B of one transition on PostgreSQL: the store's commit given the previous state, as one
statement (`coordinator/store/one_statement.py`) or as the separate statements it replaced.

    .venv/bin/python -m bench.transition_ab 50     # 30 executions x 10 commits each, all at once (1: one after another)

Measures process CPU (all threads) and wall time per commit, alternating the variants over four
rounds (the order flips each round), on a throwaway database; prints the medians and ranges.
"""
import asyncio
import statistics
import sys
import time
from dataclasses import replace

from coordinator.store import SqlStore, queries
from tests.contract.factories import T0, labelled, record, rich_state, waiting
from tests.postgres import throwaway_database

ORIG = queries._one_statement_plan
CONC = int(sys.argv[1]) if len(sys.argv) > 1 else 50

def steps_changed(before, i):
    steps = list(before.steps)
    steps[1] = replace(steps[1], attempts=steps[1].attempts + 1, last_error=f"e{i}")
    return waiting(replace(before, steps=tuple(steps), updated_at_ms=before.updated_at_ms + 1), due_at_ms=T0 + 5000 + i)

async def run(store, n, tag):
    ids = [f"{tag}-{i}" for i in range(n)]
    states = {}
    for eid in ids:
        await store.create_execution(record(rich_state(eid)), ())
        states[eid] = (await store.load_execution(eid)).state
    c0, w0 = time.process_time(), time.perf_counter()
    async def drive(eid):
        s = states[eid]
        for k in range(10):
            nxt = steps_changed(s, k)
            s = await store.commit(nxt, (labelled(f"x{k}"),), expected_revision=s.revision, previous=s)
    if CONC == 1:
        for e in ids:
            await drive(e)
    else:
        await asyncio.gather(*(drive(e) for e in ids))
    commits = n * 10
    return (time.process_time() - c0) / commits * 1000, (time.perf_counter() - w0) / commits * 1000

async def main():
    with throwaway_database("micro") as url:
        store = SqlStore(url)
        res = {"one": [], "several": []}
        try:
            await run(store, 20, "warm")
            for r in range(4):
                for variant in (("several", "one") if r % 2 else ("one", "several")):
                    queries._one_statement_plan = ORIG if variant == "one" else (lambda *a: None)
                    cpu, wall = await run(store, 30, f"{variant}{r}")
                    res[variant].append((cpu, wall))
                    print(f"round {r} {variant:8s} cpu/commit {cpu:.3f} ms  wall/commit {wall:.3f} ms", flush=True)
        finally:
            await store.close()
        for v, xs in res.items():
            cpus = sorted(c for c, _ in xs)
            walls = sorted(w for _, w in xs)
            print(f"{v}: CPU/commit median {statistics.median(cpus):.3f} ms ({cpus[0]:.3f}-{cpus[-1]:.3f}); "
                  f"wall/commit median {statistics.median(walls):.3f} ms ({walls[0]:.3f}-{walls[-1]:.3f})")

asyncio.run(main())
