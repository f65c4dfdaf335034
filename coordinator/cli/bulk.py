"""`saga cancel` and `saga retry` over a filter: a dry run lists what would be touched; the real
run sends the selected ids in chunks, with a progress bar on a terminal, and reports each one."""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from coordinator.cli.options import UsageError
from coordinator.cli.render import Output
from coordinator.client import BulkResult, SagaClient

__all__ = ["CHUNK", "add_filter_options", "has_filter", "run_bulk"]

CHUNK = 50
"""Ids per request of a real run: small enough for a steady progress bar and short requests."""
_MAX = 1000


def add_filter_options(parser: argparse.ArgumentParser, statuses: Sequence[str]) -> None:
    """The filter flags that turn `cancel`/`retry` into a bulk action (instead of an ID)."""
    group = parser.add_argument_group("bulk: instead of an ID, every execution matching these (ANDed)")
    group.add_argument("--saga", default=None, help="of this saga")
    group.add_argument("--status", default=None, choices=list(statuses), help="in this status")
    group.add_argument("--key", default=None, help="with this business key")
    group.add_argument("--attention", action="store_true", help="that need an operator (failed, quarantined, stalled)")
    group.add_argument("--limit", type=int, default=_MAX, help=f"at most this many (1 to {_MAX}, the default)")
    group.add_argument("--dry-run", action="store_true", help="list what would be touched; change nothing")


def has_filter(args: argparse.Namespace) -> bool:
    """Whether the command line asks for a bulk action."""
    return bool(args.saga or args.status or args.key or args.attention)


def run_bulk(action: str, args: argparse.Namespace, client: SagaClient, out: Output) -> int:
    """Run `action` over the filter of `args`; 0 when nothing went wrong on our side, 1 otherwise."""
    if args.id is not None:
        raise UsageError(f"give an ID or filter flags to `saga {action}`, not both")
    if not 1 <= args.limit <= _MAX:
        raise UsageError(f"--limit must be between 1 and {_MAX}")
    selection: dict[str, Any] = {
        "saga": args.saga,
        "status": args.status,
        "key": args.key,
        "attention": args.attention,
    }
    preview = client.bulk(action, **selection, limit=args.limit, dry_run=True)
    chosen = [r.id for r in preview.results if r.outcome == "accepted"]
    if args.dry_run:
        return _report(out, action, preview.results, more=preview.more, dry_run=True)
    results = [r for r in preview.results if r.outcome != "accepted"]
    with _progress(out, action, len(chosen)) as progress:
        task = progress.add_task(action, total=len(chosen))
        for start in range(0, len(chosen), CHUNK):
            chunk = chosen[start : start + CHUNK]
            done = client.bulk(action, ids=chunk, **selection, limit=len(chunk))
            results += done.results
            progress.advance(task, len(chunk))
    return _report(out, action, results, more=preview.more, dry_run=False)


def _progress(out: Output, action: str, total: int) -> Progress:
    """A bar on stderr when it is a terminal (and not --json); otherwise nothing is drawn."""
    console = Console(stderr=True)
    quiet = out.json_mode or not console.is_terminal or total == 0
    return Progress(
        TextColumn(f"{action}"), BarColumn(), MofNCompleteColumn(), console=console, disable=quiet, transient=True
    )


def _report(out: Output, action: str, results: Sequence[BulkResult], *, more: bool, dry_run: bool) -> int:
    if out.json_mode:
        out.json({"dry_run": dry_run, "more": more, "results": [vars_of(r) for r in results]})
    else:
        verb = f"would {action}" if dry_run else f"{action}"
        counts = Counter(r.outcome for r in results)
        for result in results:
            if dry_run or result.outcome != "accepted":
                out.line(f"{result.id}  {result.outcome:<14}  {result.detail}")
        summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())) or "nothing matched"
        out.line(f"{verb}: {summary}" + ("; more matched than --limit: run it again" if more else ""))
    return 1 if any(r.outcome == "error" for r in results) else 0


def vars_of(result: BulkResult) -> dict[str, str]:
    """One result as JSON."""
    return {"id": result.id, "outcome": result.outcome, "detail": result.detail}
