"""Retention's archive: each deleted execution as one JSON line in a daily file, durable first.

`DailyArchive` is the `ArchiveWriter` retention hands each batch to, inside the transaction that
deletes it: the lines are written, flushed and fsynced (the file, and the folder when the file is
new) before it returns, so the delete commits only after the archive is on disk. A crash between
the two leaves the batch in the database and archives it again later: a duplicate line, never a
lost execution. Readers dedupe on `execution.id`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FILE_PREFIX = "executions-"


class DailyArchive:
    """Appends archived executions to `<folder>/executions-YYYY-MM-DD.jsonl` (the UTC day of deletion)."""

    def __init__(self, folder: Path, *, today: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._folder = folder
        self._today = today

    def path_for(self, day: datetime) -> Path:
        """The file that archives the executions deleted on `day`."""
        return self._folder / f"{FILE_PREFIX}{day.strftime('%Y-%m-%d')}.jsonl"

    def __call__(self, documents: list[dict[str, Any]]) -> None:
        """Append one line per document and make them durable; raises OSError (the delete is then undone)."""
        if not documents:
            return
        self._folder.mkdir(parents=True, exist_ok=True)
        path = self.path_for(self._today())
        created = not path.exists()
        lines = "".join(json.dumps(d, ensure_ascii=False, separators=(",", ":")) + "\n" for d in documents)
        with path.open("a", encoding="utf-8") as file:
            file.write(lines)
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
