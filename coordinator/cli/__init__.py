"""The `saga` command: serve, migrate, validate, openapi and demo (`coordinator.cli.serve`,
`coordinator.cli.demo`), purge (`coordinator.cli.purge`), and the operator's commands on the API:
register, start, get, ls, events, watch, cancel, retry, resolve (`coordinator.cli.operator`)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from coordinator.cli import operator, purge, serve
from coordinator.cli.options import add_connection_options

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `saga`."""
    parser = argparse.ArgumentParser(prog="saga", description="Saga coordinator for microservices.")
    add_connection_options(parser, after_subcommand=False)  # `saga --url X get ID` as well as after
    commands = parser.add_subparsers(dest="command", required=True)
    serve.add_commands(commands)
    demo = commands.add_parser("demo", help="run example sagas end to end and print their timelines")
    demo.add_argument("--sagas-dir", default=str(_default_sagas_dir()), help="where the example definitions are")
    demo.add_argument("--no-color", action="store_true")
    demo.set_defaults(run=_demo)
    operator.add_commands(commands)
    purge.add_command(commands)
    return parser


def _demo(args: argparse.Namespace) -> int:
    # Imported here: the demo brings the whole server (API, engine, store) and the example services.
    from coordinator.cli.demo import run_demo

    serve.configure_logging("ERROR")  # the timelines say what happened; log lines would interleave
    return asyncio.run(run_demo(sagas_dir=Path(args.sagas_dir), color=not args.no_color and sys.stdout.isatty()))


def _default_sagas_dir() -> Path:
    here = Path.cwd() / "sagas"
    return here if here.is_dir() else Path(__file__).resolve().parents[2] / "sagas"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `saga` console script."""
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code
