"""The log lines an on-call reads: text lines that tell executions apart, and why a saga rolled back."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from coordinator.cli.serve import configure_logging, database_kind
from coordinator.runtime import Runtime
from coordinator.settings import Settings
from coordinator.telemetry import JsonFormatter, TextFormatter, trace_id_of
from tests.integration.sagas_for_tests import three_steps
from tests.integration.scripted_participant import Reply, ScriptedParticipant


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    """Logs do not depend on the database: SQLite only here."""
    rt = await Runtime.open(Settings(database_url=f"sqlite:///{tmp_path / 'saga.db'}", shutdown_grace_seconds=0.5))
    await rt.start()
    try:
        yield rt
    finally:
        await rt.close()


async def run(runtime: Runtime, order: str) -> tuple[str, str]:
    """Start `trip`, wait for its end; its execution id and trace id."""
    record, _ = await runtime.service.start("trip", {"order": order})
    done = await runtime.service.wait_terminal(record.state.id, 10)
    assert done.state.status.is_terminal
    return record.state.id, str(trace_id_of(record.trace_context))


def saga_records(caplog: pytest.LogCaptureFixture, event: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "coordinator.saga" and getattr(r, "event", None) == event]


async def test_text_lines_carry_the_execution_and_trace_ids(
    runtime: Runtime, participant: ScriptedParticipant, caplog: pytest.LogCaptureFixture
) -> None:
    await runtime.service.register(three_steps(participant.url))
    with caplog.at_level(logging.INFO, logger="coordinator.saga"):
        first = await run(runtime, "same")
        second = await run(runtime, "same")
    lines = [TextFormatter().format(r) for r in saga_records(caplog, "execution_completed")]
    assert len(lines) == 2
    for (execution_id, trace_id), line in zip((first, second), lines, strict=True):
        assert line.endswith(f"trip: execution_completed execution_id={execution_id} trace_id={trace_id}"), line
    # Without the time stamp, the two lines differ: a reader can tell the executions apart.
    assert lines[0].split(" ", 2)[2] != lines[1].split(" ", 2)[2]


async def test_a_text_line_quotes_values_with_spaces_and_keeps_what_the_message_lacks(
    runtime: Runtime, participant: ScriptedParticipant, caplog: pytest.LogCaptureFixture
) -> None:
    participant.on("/b", Reply(status=503), Reply(status=200))
    await runtime.service.register(three_steps(participant.url))
    with caplog.at_level(logging.INFO, logger="coordinator.saga"):
        execution_id, _ = await run(runtime, "o")
    (failed,) = saga_records(caplog, "attempt_failed")
    line = TextFormatter().format(failed)
    assert " WARNING coordinator.saga trip: attempt_failed action b attempt 1: HTTP 503 " in line
    assert f"execution_id={execution_id} " in line and " outcome=retryable duration_ms=" in line
    (scheduled,) = saga_records(caplog, "retry_scheduled")
    assert " delay_ms=10" in TextFormatter().format(scheduled)


async def test_the_compensated_line_says_which_step_failed_and_how(
    runtime: Runtime, participant: ScriptedParticipant, caplog: pytest.LogCaptureFixture
) -> None:
    participant.on("/c", Reply(status=409, body={"detail": "out of stock"}))
    await runtime.service.register(three_steps(participant.url))
    with caplog.at_level(logging.INFO, logger="coordinator.saga"):
        await run(runtime, "o")
    (compensated,) = saga_records(caplog, "execution_compensated")
    reason = "step c failed: attempt 1: HTTP 409: out of stock"
    assert compensated.getMessage() == f"trip: execution_compensated: rolled back because {reason}"
    assert json.loads(JsonFormatter().format(compensated))["reason"] == reason


async def test_the_compensated_line_of_a_cancelled_saga_gives_the_cancel_reason(
    runtime: Runtime, participant: ScriptedParticipant, caplog: pytest.LogCaptureFixture
) -> None:
    participant.on("/b", Reply(status=200, delay_s=0.5))
    await runtime.service.register(three_steps(participant.url))
    with caplog.at_level(logging.INFO, logger="coordinator.saga"):
        record, _ = await runtime.service.start("trip", {"order": "o"})
        async with asyncio.timeout(5):
            while not participant.calls("/b"):
                await asyncio.sleep(0.01)
        await runtime.service.cancel(record.state.id)
        await runtime.service.wait_terminal(record.state.id, 10)
    (compensated,) = saga_records(caplog, "execution_compensated")
    assert compensated.getMessage() == "trip: execution_compensated: rolled back because cancelled by operator"


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


@pytest.mark.usefixtures("root_logging")
@pytest.mark.parametrize(("fmt", "formatter"), [("text", TextFormatter), ("json", JsonFormatter)])
def test_serve_logs_in_the_format_asked_for(fmt: str, formatter: type[logging.Formatter]) -> None:
    configure_logging("INFO", fmt)
    (handler,) = logging.getLogger().handlers
    assert type(handler.formatter) is formatter


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("sqlite:///./saga.db", "sqlite"),
        ("postgresql://saga:s3cret@db.internal:5432/saga", "postgresql"),
        ("postgres://saga:s3cret@db.internal/saga", "postgresql"),
        ("postgresql+psycopg://saga:s3cret@db.internal/saga", "postgresql"),
        ("memory://", "memory"),
    ],
)
def test_the_listening_line_names_the_database_kind_never_its_credentials(url: str, kind: str) -> None:
    assert database_kind(url) == kind
