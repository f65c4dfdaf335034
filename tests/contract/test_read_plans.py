"""The plans of the reads that must stay cheap with a million executions stored (SQLite's planner).

Without statistics SQLite picks its plans by rules, and the rules preferred walking an index of
every execution in order over the small attention index: the attention counts took 6-7 s with 1M
stored (every 15 s, on the one thread every read of the coordinator waits for), the attention list
179 ms. These pin the plans: a range of the attention index, never a scan of all executions.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Select, create_engine, text
from sqlalchemy.dialects import sqlite

from coordinator.ports import ExecutionQuery
from coordinator.store import open_store, queries, retention_sql

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


async def _text_plan(tmp_path: Path, sql: str, parameters: dict[str, object]) -> str:
    url = f"sqlite:///{tmp_path / 'plans.db'}"
    store = await open_store(url)
    await store.close()
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"), parameters).fetchall()
    finally:
        engine.dispose()
    return "\n".join(str(row[-1]) for row in rows)


async def test_retention_walks_the_finish_index_and_reaches_children_by_their_keys(tmp_path: Path) -> None:
    # A batch: the oldest finished along ix_executions_finished (not a sort of every finished
    # one), steps and history by their primary keys in order (no temporary sort either).
    sql = retention_sql.batch_sql("sqlite", retention_sql.DELETABLE_WHERE, lines=True)
    plan = await _text_plan(tmp_path, sql, {"cutoff": T0, "limit": 100})

    assert "SEARCH x USING INDEX ix_executions_finished (finished_at_ms<?)" in plan, plan
    assert "SEARCH s USING INDEX sqlite_autoindex_execution_steps_1 (execution_id=?)" in plan, plan
    assert "SEARCH e USING INDEX sqlite_autoindex_execution_events_1 (execution_id=?)" in plan, plan
    assert "SCAN x" not in plan and "TEMP B-TREE" not in plan, plan


async def test_retention_deletes_reach_each_chosen_execution_by_its_primary_key(tmp_path: Path) -> None:
    for statement in retention_sql.DELETE_UNCHANGED:
        plan = await _text_plan(tmp_path, str(statement), {"chosen": '{"e-1": 3}'})

        assert "SEARCH x USING INDEX sqlite_autoindex_executions_1 (id=?)" in plan, plan
        assert "SCAN j VIRTUAL TABLE" in plan and "ix_executions_status_created" not in plan, plan
        first = plan.splitlines()[0]  # the table deleted from, by the key that begins with the id
        assert first.startswith("SEARCH ") and "INDEX sqlite_autoindex_" in first, plan
