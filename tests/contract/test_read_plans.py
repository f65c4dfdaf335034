"""The plans of the reads that must stay cheap with a million executions stored (SQLite's planner).

Without statistics SQLite picks its plans by rules, and the rules preferred walking an index of
every execution in order over the small attention index: the attention counts took 6-7 s with 1M
stored (every 15 s, on the one thread every read of the coordinator waits for), the attention list
179 ms. These pin the plans: a range of the attention index, never a scan of all executions.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Select, create_engine
from sqlalchemy.dialects import sqlite

from coordinator.ports import ExecutionQuery
from coordinator.store import open_store, queries

from .factories import T0


async def _plan(tmp_path: Path, statement: Select[object]) -> str:
    url = f"sqlite:///{tmp_path / 'plans.db'}"
    store = await open_store(url)  # migrated: the indexes as deployed
    await store.close()
    compiled = statement.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}").fetchall()
    finally:
        engine.dispose()
    return "\n".join(str(row[-1]) for row in rows)


async def test_the_attention_counts_read_the_attention_index_only(tmp_path: Path) -> None:
    plan = await _plan(tmp_path, queries.attention_count_statement(T0))

    assert "executions USING INDEX ix_executions_attention" in plan, plan
    assert "SCAN executions" not in plan, plan


async def test_the_attention_list_reads_the_attention_index_only(tmp_path: Path) -> None:
    plan = await _plan(tmp_path, queries.list_statement(ExecutionQuery(attention_at_ms=T0), None, 51))

    assert "executions USING INDEX ix_executions_attention" in plan, plan
    assert "SCAN executions" not in plan, plan
