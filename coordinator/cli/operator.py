"""The operator's subcommands of `saga`, on `coordinator.client`: register, start, get, ls, events,
watch, cancel, retry, resolve. Where a command takes an execution id, a unique prefix of it will do.

Exit codes, for scripts:
    0  done (for start --wait, get, watch: the saga completed, or is still running without --wait)
    1  the saga did not complete: compensated, failed, or still running when --timeout ran out
    2  a usage error, or the coordinator refused the request (unknown id or saga, invalid definition,
       401, 409 when an action does not apply)
    3  the coordinator could not be reached, timed out, or failed (5xx)
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from coordinator.cli.bulk import add_filter_options, has_filter, run_bulk
from coordinator.cli.follow import follow
from coordinator.cli.ids import by_execution_id
from coordinator.cli.options import UsageError, add_connection_options, parse_timeout, positive_int, read_input
from coordinator.cli.render import Output, raw
from coordinator.client import (
    ApiError,
    Execution,
    ExecutionStatus,
    SagaClient,
    SagaError,
    ServerError,
)

__all__ = ["EXIT_BAD_END", "EXIT_OK", "EXIT_UNAVAILABLE", "EXIT_USAGE", "add_commands"]

EXIT_OK = 0
EXIT_BAD_END = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3

Command = Callable[[argparse.Namespace, SagaClient, Output], int]


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the operator subcommands to `saga`'s parser."""
    common = argparse.ArgumentParser(add_help=False)
    add_connection_options(common, after_subcommand=True)
    full = argparse.ArgumentParser(add_help=False)
    full.add_argument("--full", action="store_true", help="each request and response whole: headers and bodies")

    waiting = argparse.ArgumentParser(add_help=False)
    waiting.add_argument(
        "--timeout", default=None, metavar="DURATION", help="give up waiting after this, e.g. 30s (implies --wait)"
    )

    def add(name: str, run: Command, help: str, *parents: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, help=help, description=help, parents=[common, *parents])
        parser.set_defaults(run=lambda args: _run(name, run, args))
        return parser

    register = add("register", _register, "register saga definitions (YAML or JSON files, or folders of them)")
    register.add_argument("files", nargs="+", metavar="FILE", help="expands ${VAR} / ${VAR:-default} from the env")

    start = add("start", _start, "start an execution of a saga", waiting)
    start.add_argument("saga", metavar="SAGA")
    start.add_argument("--input", default=None, metavar="JSON|@FILE", help="the input: JSON text, @file or @- (stdin)")
    start.add_argument("--idempotency-key", default=None, help="starting again with it returns the same execution")
    start.add_argument("--version", type=int, default=None, help="pin a version (default: the latest)")
    start.add_argument("--wait", action="store_true", help="wait for the end and print the timeline")

    get = add("get", _get, "show an execution and its steps (ID: the id or a unique prefix of it)", waiting, full)
    get.add_argument("id", metavar="ID")
    get.add_argument("--wait", action="store_true", help="wait until the execution is terminal")

    ls = add("ls", _ls, "list executions, newest first")
    ls.add_argument("--saga", default=None, help="only this saga's executions")
    ls.add_argument("--status", default=None, choices=[s.value for s in ExecutionStatus])
    ls.add_argument("--key", default=None, help="only executions with this business key")
    ls.add_argument("--attention", action="store_true", help="only executions that need an operator, with why")
    ls.add_argument("--limit", type=positive_int, default=20, help="at most this many (default 20)")

    events = add("events", _events, "show an execution's history", full)
    events.add_argument("id", metavar="ID")

    watch = add("watch", _watch, "follow an execution as a live timeline until it ends", waiting)
    watch.add_argument("id", metavar="ID")

    statuses = [s.value for s in ExecutionStatus]
    cancel = add("cancel", _cancel, "cancel a running execution (it rolls back), or every one a filter selects")
    cancel.add_argument("id", metavar="ID", nargs="?")
    add_filter_options(cancel, statuses)

    retry = add("retry", _retry, "retry the compensations of a failed execution, or of every one a filter selects")
    retry.add_argument("id", metavar="ID", nargs="?")
    add_filter_options(retry, statuses)

    resolve = add("resolve", _resolve, "say a failed compensation was done by hand; the rollback carries on")
    resolve.add_argument("id", metavar="ID")
    resolve.add_argument("--step", required=True, help="the step whose compensation failed")
    resolve.add_argument("--note", required=True, help="what was done by hand (kept in the history)")


def _run(name: str, command: Command, args: argparse.Namespace) -> int:
    """Run one command with a client; turn what goes wrong into a message and an exit code."""
    output = Output(json_mode=args.json, color=not args.no_color)
    try:
        with SagaClient(args.url, token=args.token) as client:
            return command(args, client, output)
    except UsageError as error:
        output.usage(name, str(error))
        return EXIT_USAGE
    except SagaError as error:
        output.problem(name, error)
        return exit_code_of(error)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`saga watch ID --json | head`): nothing more to say, to anyone.
        _silence_stdout()
        return 141  # 128 + SIGPIPE, what a shell reports for a writer killed by a closed pipe


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # not a real file (captured in tests): nothing to silence
        pass


def exit_code_of(error: SagaError) -> int:
    """3 when the coordinator is unreachable or failed; 2 when it refused the request."""
    if isinstance(error, ApiError) and not isinstance(error, ServerError):
        return EXIT_USAGE
    return EXIT_UNAVAILABLE


def _status_code(execution: Execution, waited: bool) -> int:
    """0 when completed (or running, if nobody waited); 1 when compensated, failed or still running after a wait."""
    if execution.status is ExecutionStatus.COMPLETED:
        return EXIT_OK
    if execution.is_terminal or waited:
        return EXIT_BAD_END
    return EXIT_OK


# -- the commands ------------------------------------------------------------------------------


def _register(args: argparse.Namespace, client: SagaClient, out: Output) -> int:
    from coordinator.definition import find_definition_files, load_definition_file
    from coordinator.errors import DefinitionInvalid as LocalInvalid

    files: list[Path] = []
    for name in args.files:
        path = Path(name)
        if path.is_dir():
            files.extend(find_definition_files(path))
        elif path.is_file():
            files.append(path)
        else:
            raise UsageError(f"{name}: no such file or directory")
    if not files:
        raise UsageError(f"no definition files (.yaml, .yml, .json) in {' '.join(args.files)}")
    results: list[dict[str, Any]] = []
    code = EXIT_OK
    for path in files:
        try:
            document = load_definition_file(path)  # ${VAR} expansion, as `saga serve --sagas-dir` does
            ref = client.register(document)
        except LocalInvalid as error:  # unreadable, or a variable is not set: never sent
            problems = [{"path": p.path, "message": p.message} for p in error.problems]
            results.append(
                {"file": str(path), "error": {"code": error.code, "detail": error.detail, "errors": problems}}
            )
            out.problems(
                f"register {path}", f"{error.title} ({error.code})", [(p.path, p.message) for p in error.problems]
            )
            code = EXIT_USAGE
        except ApiError as error:
            if isinstance(error, ServerError):
                raise
            problems = [{"path": p.path, "message": p.message} for p in error.problems]
            results.append(
                {"file": str(path), "error": {"code": error.code, "detail": error.detail, "errors": problems}}
            )
            out.problem(f"register {path}", error)
            code = EXIT_USAGE
        else:
            results.append({"file": str(path), "name": ref.name, "version": ref.version, "created": ref.created})
            if not out.json_mode:
                out.registered(str(path), ref)
    if out.json_mode:
        out.json(results)
    return code


def _start(args: argparse.Namespace, client: SagaClient, out: Output) -> int:
    waiting = args.wait or args.timeout is not None
    timeout = parse_timeout(args.timeout)
    # For people, the wait is a live timeline (`saga watch`); a script (`--json`) waits quietly.
    quiet_wait = waiting and out.json_mode
    handle = client.start(
        args.saga,
        read_input(args.input),
        idempotency_key=args.idempotency_key,
        version=args.version,
        wait=timeout if quiet_wait else None,
    )
    if quiet_wait and args.wait and timeout is None:
        handle.wait()  # `wait=None` above means "no wait": here it means "as long as it takes"
    execution = handle.execution
    if out.json_mode:
        out.json(execution.raw)
    elif waiting:
        execution = follow(client, out, execution, timeout)
    else:
        out.started(execution, handle.created)
    # Without --wait the command only starts the saga: how it ends (even if already) is for later.
    return _status_code(execution, waited=True) if waiting else EXIT_OK


def _get(args: argparse.Namespace, client: SagaClient, out: Output) -> int:
    waiting = args.wait or args.timeout is not None
    timeout = parse_timeout(args.timeout)  # a mistake in the command line first, before any request
    read = (lambda eid: client.wait(eid, timeout)) if waiting else client.get
    execution = by_execution_id(client, args.id, read)
    if out.json_mode:
        out.json(execution.raw)
    else:
        out.execution(execution, full=args.full)
    return _status_code(execution, waited=waiting)


def _ls(args: argparse.Namespace, client: SagaClient, out: Output) -> int:
    found = list(
        client.list(saga=args.saga, status=args.status, key=args.key, attention=args.attention, limit=args.limit + 1)
    )
    if not found and args.saga is not None:
        client.get_saga(args.saga)  # no executions, or no such saga: SagaNotFound says which
    shown = found[: args.limit]
    if out.json_mode:
        out.json(raw(shown))
    else:
        out.executions(shown, more=len(found) > args.limit)
    return EXIT_OK


def _events(args: argparse.Namespace, client: SagaClient, out: Output) -> int:
    events = by_execution_id(client, args.id, lambda eid: list(client.events(eid)))  # an unknown id: ExecutionNotFound
    if out.json_mode:
        out.json(raw(events))
    else:
        out.events(events, full=args.full)
    return EXIT_OK


def _watch(args: argparse.Namespace, client: SagaClient, out: Output) -> int:
    timeout = parse_timeout(args.timeout)
    execution = follow(client, out, by_execution_id(client, args.id, client.get), timeout)
    if out.json_mode:
        out.json_line({"execution": execution.raw})
    return _status_code(execution, waited=True)


def _cancel(args: argparse.Namespace, client: SagaClient, out: Output) -> int:
    if has_filter(args):
        return run_bulk("cancel", args, client, out)
    execution = by_execution_id(client, _one_id(args, "cancel"), client.cancel)
    if out.json_mode:
        out.json(execution.raw)
    else:
        out.line(f"cancel requested: execution {execution.id} is {execution.status}; `saga watch {execution.id}`")
    return EXIT_OK


def _retry(args: argparse.Namespace, client: SagaClient, out: Output) -> int:
    if has_filter(args):
        return run_bulk("retry", args, client, out)
    execution = by_execution_id(client, _one_id(args, "retry"), client.retry)
    if out.json_mode:
        out.json(execution.raw)
    else:
        out.line(f"retry requested: execution {execution.id} is {execution.status}; `saga watch {execution.id}`")
    return EXIT_OK


def _one_id(args: argparse.Namespace, action: str) -> str:
    if args.id is None:
        raise UsageError(
            f"`saga {action}` needs an ID, or filter flags for many (--saga, --status, --key, --attention)"
        )
    return str(args.id)


def _resolve(args: argparse.Namespace, client: SagaClient, out: Output) -> int:
    # 409 (the execution is not failed, or that step's compensation did not fail) is an
    # ExecutionStateConflict: a message and exit 2, as for cancel and retry.
    execution = by_execution_id(client, args.id, lambda eid: client.resolve(eid, args.step, args.note))
    if out.json_mode:
        out.json(execution.raw)
    else:
        out.line(f"resolved: the compensation of {args.step} was done by hand; the rollback carries on")
        out.execution(execution)
    return EXIT_OK
