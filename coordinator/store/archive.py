"""Retention's archive: each deleted execution as one JSON line in a daily file, durable first.

`DailyArchive` is the `ArchiveWriter` retention hands each batch to, inside the transaction that
deletes it: the lines are written, flushed and fsynced (the file, and the folder when the file is
new) before it returns, so the delete commits only after the archive is on disk. A crash between
the two leaves the batch in the database and archives it again later: a duplicate line, never a
lost execution. Readers dedupe on `execution.id`.

`archive_line` encodes one execution without decoding its JSON columns: they are stored as compact
JSON text already (`codec.dump_json`), so they are spliced into the line as they are, after the
plain columns. The SQL stores have the database write the same line (`archive_query`: one fetch
per execution); the in-memory store, and the tests that check those lines, use this one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FILE_PREFIX = "executions-"
JSON_COLUMNS = frozenset({"input", "trace_context", "response", "last_exchange", "resolution", "request", "callbacks"})
"""Columns that hold JSON text: archived as the JSON they hold, so a line reads without the schema."""
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def archive_line(
    execution: Mapping[str, Any], steps: Iterable[Mapping[str, Any]], history: Iterable[Mapping[str, Any]]
) -> str:
    """One deleted execution as one JSON text (no newline): `{"execution", "steps", "history"}`,
    steps by index and history by sequence, JSON columns as the values they hold."""
    ordered_steps = sorted(steps, key=lambda r: int(r["idx"]))
    ordered_history = sorted(history, key=lambda r: int(r["seq"]))
    return (
        f'{{"execution":{_object(execution)},"steps":[{",".join(map(_object, ordered_steps))}],'
        f'"history":[{",".join(map(_object, ordered_history))}]}}'
    )


def _object(row: Mapping[str, Any]) -> str:
    plain: dict[str, Any] = {}
    spliced: list[str] = []
    for key, value in row.items():
        if key in JSON_COLUMNS:  # last, null or not: the order `archive_query` writes them in
            spliced.append(f"{_encode(key)}:{value if isinstance(value, str) else _encode(value)}")
        else:
            plain[key] = value
    head = _encode(plain)
    if not spliced:
        return head
    return head[:-1] + ("," if plain else "") + ",".join(spliced) + "}"


class DailyArchive:
    """Appends archived executions to `<folder>/executions-YYYY-MM-DD.jsonl` (the UTC day of deletion)."""

    def __init__(self, folder: Path, *, today: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._folder = folder
        self._today = today

    def path_for(self, day: datetime) -> Path:
        """The file that archives the executions deleted on `day`."""
        return self._folder / f"{FILE_PREFIX}{day.strftime('%Y-%m-%d')}.jsonl"

    def __call__(self, lines: list[str]) -> None:
        """Append the lines (`archive_line`s) and make them durable; raises OSError (nothing is then deleted)."""
        if not lines:
            return
        self._folder.mkdir(parents=True, exist_ok=True)
        path = self.path_for(self._today())
        created = not path.exists()
        text = "".join(line + "\n" for line in lines)
        with path.open("a", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        if created:
            _fsync_folder(self._folder)  # the new file's name is durable too


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
