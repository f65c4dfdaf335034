"""`saga serve`, `saga migrate`, `saga validate` and `saga openapi`: running the coordinator and
checking what it will run."""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from coordinator.settings import Settings, SettingsError

__all__ = ["add_commands", "configure_logging", "database_kind", "openapi_document"]

log = logging.getLogger("coordinator")


def configure_logging(level: str, fmt: str = "text") -> None:
    """JSON lines or text lines, on stderr; either carries each saga event's execution and trace ids."""
    from coordinator.telemetry import JsonFormatter, TextFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    # Our own structured lines say what happened; the libraries' per-request lines are noise.
    for noisy in ("httpx", "apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def _serve(args: argparse.Namespace) -> int:
    try:
        settings = Settings.from_env(
            os.environ,
            host=args.host,
            port=args.port,
            database_url=args.database_url,
            sagas_dir=Path(args.sagas_dir) if args.sagas_dir else None,
            insecure=args.insecure or None,
            workers=args.workers,
        )
    except SettingsError as error:
        print(f"saga serve: {error}", file=sys.stderr)
        return 2
    if settings.sagas_dir is not None:
        from coordinator.definition import format_report, validate_directory

        if not settings.sagas_dir.is_dir():
            print(f"saga serve: --sagas-dir {settings.sagas_dir} is not a directory", file=sys.stderr)
            return 2
        results = validate_directory(settings.sagas_dir)
        if any(problems for _, problems in results):
            print(f"saga serve: invalid definitions in {settings.sagas_dir}:", file=sys.stderr)
            print(format_report(results), file=sys.stderr)
            return 2
    configure_logging(settings.log_level, settings.log_format)
    if not settings.api_tokens:
        log.warning("SAGA_API_TOKENS is not set: the API is open to anyone who can reach %s", settings.host)
    if args.worker_fds is None and settings.workers > 1:
        return _supervise(settings)
    if args.worker_fds is None and not settings.allowed_targets:
        log.warning("SAGA_ALLOWED_TARGETS is not set: sagas may call any host (set it in production)")
    # Imported only here: the supervisor of `--workers N` stays a small process without them.
    import uvicorn

    from coordinator.api import create_app

    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    server = _server_class(database_kind(settings.database_url))(config)
    # Everything loaded so far (modules, the app, its schemas and templates) lives as long as the
    # process: moved out of the collector's generations, a full collection no longer walks it. A
    # long execution's console page allocates enough to set off such collections, which were a
    # quarter of its drawing time and most of its spread (measured in-process: 360 -> 280 ms CPU).
    gc.freeze()
    if args.worker_fds is None:
        server.run()
        return 0
    from coordinator.cli.workers import exit_when_supervisor_dies, worker_fds

    sock_fd, pipe_fd = worker_fds(args.worker_fds)
    exit_when_supervisor_dies(pipe_fd, lambda: setattr(server, "should_exit", True))
    server.run(sockets=[socket.socket(fileno=sock_fd)])
    return 0


def _supervise(settings: Settings) -> int:
    """`--workers N` (N > 1): migrate once, bind the port once, and run N workers on it.

    The schema is migrated by `saga migrate` in a child process, so the supervisor never loads
    the database drivers (nor the API): it stays a small process that only starts and watches.
    """
    from coordinator.cli.workers import WorkerPool, bind_shared_socket, python_command

    if not settings.allowed_targets:
        log.warning("SAGA_ALLOWED_TARGETS is not set: sagas may call any host (set it in production)")
    migrate = subprocess.run(  # noqa: S603 -- our own interpreter and arguments
        [*python_command(), "migrate", "--database-url", settings.database_url], check=False
    )
    if migrate.returncode != 0:  # `saga migrate` said why on stderr
        return 1
    try:
        sock = bind_shared_socket(settings.host, settings.port)
    except OSError as error:
        print(f"saga serve: cannot listen on {settings.host}:{settings.port}: {error.strerror}", file=sys.stderr)
        return 1
    with sock:
        port = sock.getsockname()[1]  # `--port 0` is resolved once, for every worker
        command = [
            *python_command(),
            "serve",
            "--host",
            settings.host,
            "--port",
            str(port),
            "--database-url",
            settings.database_url,
        ]
        if settings.sagas_dir is not None:
            command += ["--sagas-dir", str(settings.sagas_dir)]
        if settings.insecure:
            command.append("--insecure")
        shown = f"[{settings.host}]" if ":" in settings.host else settings.host
        log.info(
            "supervising %d workers on http://%s:%d (database %s)",
            settings.workers,
            shown,
            port,
            database_kind(settings.database_url),
        )
        pool = WorkerPool(command, count=settings.workers, sock=sock, grace_s=settings.shutdown_grace_seconds)
        return pool.run()


def database_kind(url: str) -> str:
    """`sqlite`, `postgresql` or `memory`: what a database URL names, without its credentials."""
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    return "postgresql" if scheme == "postgres" else scheme


def _server_class(database: str) -> type[Any]:
    import uvicorn

    from coordinator import __version__

    class Server(uvicorn.Server):
        """uvicorn's server, but it says where it listens, and a SIGTERM/SIGINT handled gracefully ends with status 0.

        uvicorn re-raises the signal after its shutdown, so the process would die "terminated"
        even though every call in flight finished and every lease was handed back.
        """

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.should_exit:  # the bind failed; uvicorn said why
                return
            # The bound address, not the configured one: `--port 0` gets its port here.
            for server in self.servers:
                for sock in server.sockets:
                    host, port = sock.getsockname()[:2]
                    shown = f"[{host}]" if ":" in host else host
                    log.info("listening on http://%s:%d (database %s, version %s)", shown, port, database, __version__)
                    _callbacks_reach(self.config.app, f"http://{shown}:{port}")

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            handled = (signal.SIGINT, signal.SIGTERM)
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return Server


def _callbacks_reach(app: Any, url: str) -> None:
    """Without `SAGA_PUBLIC_URL`, callback URLs point at the address bound (its port, for `--port 0`)."""
    state = getattr(app, "state", None)
    runtime = getattr(state, "runtime", None)
    settings = getattr(state, "settings", None)
    if runtime is not None and settings is not None and settings.public_url is None:
        host = url.split("://", 1)[1].rsplit(":", 1)[0]
        if host in ("0.0.0.0", "[::]"):  # noqa: S104  # a wildcard is no address to call back on
            url = url.replace(host, "127.0.0.1", 1)
        runtime.service.listening(url)


def _migrate(args: argparse.Namespace) -> int:
    from coordinator.errors import StoreUnavailable
    from coordinator.store import upgrade_to_head

    try:
        settings = Settings.from_env(os.environ, database_url=args.database_url)
    except SettingsError as error:
        print(f"saga migrate: {error}", file=sys.stderr)
        return 2
    try:
        upgrade_to_head(settings.database_url)
    except (StoreUnavailable, OSError) as error:
        print(f"saga migrate: the database is unreachable: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # alembic/driver errors: report, do not dump a traceback on operators
        if "connect" in str(error).lower():
            print(f"saga migrate: the database is unreachable: {error}", file=sys.stderr)
            return 1
        raise
    print("saga migrate: the schema is up to date")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from coordinator.definition import find_definition_files, format_report, validate_files

    files: list[Path] = []
    for name in args.paths:  # files and folders, as `saga register` takes them
        path = Path(name)
        if not path.exists():
            print(f"saga validate: {name}: no such file or directory", file=sys.stderr)
            return 2
        files.extend(find_definition_files(path) if path.is_dir() else [path])
    results = validate_files(files)
    print(format_report(results))
    for warning in _unset_secrets(path for path, problems in results if not problems):
        print(warning)
    return 1 if any(problems for _, problems in results) else 0


def _unset_secrets(valid: Iterator[Path]) -> Iterator[str]:
    """Warnings for secrets not set here: the coordinator that runs the saga may well have them."""
    from coordinator.definition import load_definition_file, secret_problems, secret_variable

    for path in valid:
        problems = secret_problems(load_definition_file(path), lambda name: secret_variable(name) in os.environ)
        yield from (f"warn {path}: {p.path}: {p.message} (not in this environment)" for p in problems)


def openapi_document() -> str:
    """The API's OpenAPI document as YAML, exactly as checked in at `openapi.yaml`."""
    import yaml

    from coordinator.api import create_app

    app = create_app(Settings())
    schema = app.openapi_schema.to_schema()
    return yaml.safe_dump(schema, sort_keys=True, allow_unicode=True)


def _openapi(args: argparse.Namespace) -> int:
    text = openapi_document()
    if args.format == "json":
        import yaml

        text = json.dumps(yaml.safe_load(text), indent=2, sort_keys=True) + "\n"
    sys.stdout.write(text)
    return 0


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add serve, migrate, validate and openapi to `saga`'s parser."""
    serve = commands.add_parser("serve", help="run the coordinator's HTTP API and engine")
    serve.add_argument("--host", default=None, help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port to bind (default 8080)")
    serve.add_argument("--database-url", default=None, help="env SAGA_DATABASE_URL; default sqlite:///./saga.db")
    serve.add_argument("--sagas-dir", default=None, help="register every definition found here at start")
    serve.add_argument("--insecure", action="store_true", help="allow a non-loopback --host without API tokens")
    serve.add_argument(
        "--workers",
        type=int,
        default=None,
        help="env SAGA_WORKERS; processes on one port, each a replica (PostgreSQL only; default 1)",
    )
    # Given by the supervisor of `--workers N` to each worker: the shared socket and the pipe it watches.
    serve.add_argument("--worker-fds", default=None, help=argparse.SUPPRESS)
    serve.set_defaults(run=_serve)

    migrate = commands.add_parser("migrate", help="create or upgrade the database schema, then exit")
    migrate.add_argument("--database-url", default=None, help="env SAGA_DATABASE_URL; default sqlite:///./saga.db")
    migrate.set_defaults(run=_migrate)

    validate = commands.add_parser("validate", help="check definitions offline and print every problem")
    validate.add_argument("paths", nargs="+", metavar="FILE|DIR")
    validate.set_defaults(run=_validate)

    openapi = commands.add_parser("openapi", help="print the API's OpenAPI document")
    openapi.add_argument("--format", choices=("yaml", "json"), default="yaml")
    openapi.set_defaults(run=_openapi)
