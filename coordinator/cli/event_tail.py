"""An execution's history read incrementally, for `saga watch`."""

from __future__ import annotations

from coordinator.client import Event, SagaClient

__all__ = ["EventTail"]


class EventTail:
    """An execution's history, fetched incrementally: each round asks only from the last full page on."""

    def __init__(self, client: SagaClient, execution_id: str) -> None:
        self.client = client
        self.execution_id = execution_id
        self.by_seq: dict[int, Event] = {}
        self.resume: str | None = None  # a cursor the API returned: everything before it is held

    @property
    def events(self) -> list[Event]:
        """Every event seen so far, oldest first."""
        return [self.by_seq[seq] for seq in sorted(self.by_seq)]

    def fetch(self) -> list[Event]:
        """The events not seen before."""
        new: list[Event] = []
        cursor = self.resume
        while True:
            page = self.client.events_page(self.execution_id, cursor=cursor)
            for event in page.items:
                if event.seq not in self.by_seq:
                    self.by_seq[event.seq] = event
                    new.append(event)
            if page.next_cursor is None:
                return new
            cursor = self.resume = page.next_cursor
