"""Following an execution until it ends, for `saga watch` and `saga start --wait`: the timeline is
redrawn about once a second even when nothing happens, so a waiting retry counts down and the
time "so far" keeps moving instead of freezing at the last recorded event."""

from __future__ import annotations

import time

from coordinator.cli.event_tail import EventTail
from coordinator.cli.render import LiveTimeline, Output
from coordinator.client import Execution, SagaClient

__all__ = ["follow"]

_POLL_S = 1.0
"""How long each long poll is held: the live timeline's refresh when nothing ends."""


def follow(client: SagaClient, out: Output, execution: Execution, timeout: float | None) -> Execution:
    """Show `execution` live until it is terminal or `timeout` seconds have passed; its last state.

    In JSON mode each new history entry is one line `{"event": …}` instead (NDJSON).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    tail = EventTail(client, execution.id)
    with LiveTimeline(out) as live:
        while True:
            for event in tail.fetch():
                if out.json_mode:
                    out.json_line({"event": event.raw})
            if not out.json_mode:
                live.show(execution, tail.events)
            remaining = None if deadline is None else deadline - time.monotonic()
            if execution.is_terminal or (remaining is not None and remaining <= 0):
                return execution
            execution = client.wait(execution.id, _POLL_S if remaining is None else min(_POLL_S, remaining))
