"""`saga purge --older-than 30d [--dry-run]`: retention on demand, straight on the database.

The same deletion as `SAGA_RETENTION` (completed and compensated executions only, by finish time,
500 per transaction, each batch archived to `SAGA_ARCHIVE_DIR` before it is deleted), for a
one-off clean-up or a cron job. It needs no running coordinator; on a SQLite file a running
coordinator holds the file's lock, and then `SAGA_RETENTION` is the way.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

from coordinator.durations import format_duration_ms, parse_duration_ms
from coordinator.engine.housekeeping import RETENTION_BATCH
from coordinator.errors import DatabaseInUse, StoreUnavailable
from coordinator.settings import Settings, SettingsError
from coordinator.store import DailyArchive, open_store

__all__ = ["add_command"]


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `purge` to `saga`'s parser."""
    purge = commands.add_parser(
        "purge",
        help="delete completed and compensated executions that finished longer ago than --older-than",
        description="Delete completed and compensated executions (with their steps and history) that finished "
        "longer ago than --older-than; failed ones are never deleted. With SAGA_ARCHIVE_DIR set, each is "
        "archived there first.",
    )
    purge.add_argument("--older-than", required=True, metavar="DURATION", help="e.g. 30d, 12h")
    purge.add_argument("--dry-run", action="store_true", help="count what would be deleted; delete nothing")
    purge.add_argument("--database-url", default=None, help="env SAGA_DATABASE_URL; default sqlite:///./saga.db")
    purge.set_defaults(run=_purge)


def _purge(args: argparse.Namespace) -> int:
    try:
        settings = Settings.from_env(os.environ, database_url=args.database_url)
        age_ms = parse_duration_ms(args.older_than)
    except (SettingsError, ValueError) as error:
        print(f"saga purge: {error}", file=sys.stderr)
        return 2
    if age_ms <= 0:
        print("saga purge: --older-than must be longer than zero", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_run(settings, age_ms, dry_run=args.dry_run))
    except DatabaseInUse as error:
        print(f"saga purge: {error}; a running coordinator purges with SAGA_RETENTION", file=sys.stderr)
        return 1
    except StoreUnavailable as error:
        print(f"saga purge: the database is unreachable: {error}", file=sys.stderr)
        return 1


async def _run(settings: Settings, age_ms: int, *, dry_run: bool) -> int:
    cutoff = time.time_ns() // 1_000_000 - age_ms
    store = await open_store(settings.database_url)
    try:
        due = await store.count_finished(cutoff)
        if dry_run:
            print(f"would delete {due} execution(s) that finished more than {_age(age_ms)} ago")
            return 0
        archive = DailyArchive(settings.archive_dir) if settings.archive_dir is not None else None
        deleted = 0
        while True:
            batch = (await store.purge_finished(cutoff, limit=RETENTION_BATCH, archive=archive)).deleted
            deleted += batch
            if batch < RETENTION_BATCH:
                break
            print(f"  {deleted} of about {due} deleted", file=sys.stderr)
        where = f", archived in {settings.archive_dir}" if archive is not None else ""
        print(f"deleted {deleted} execution(s) that finished more than {_age(age_ms)} ago{where}")
        return 0
    finally:
        await store.close()


def _age(ms: int) -> str:
    return format_duration_ms(ms)
