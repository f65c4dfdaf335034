"""The client's public surface is pinned, and it depends on httpx and the standard library only."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import coordinator.client

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "coordinator" / "client"

PUBLIC = [
    "ApiError",
    "AsyncCallback",
    "AsyncExecutionHandle",
    "AsyncSagaClient",
    "BadRequest",
    "BulkReport",
    "BulkResult",
    "CALLBACK_HEADER",
    "Callback",
    "CallbackConflict",
    "CallbackNotFound",
    "Conflict",
    "DefinitionConflict",
    "DefinitionInvalid",
    "Delivery",
    "Event",
    "Execution",
    "ExecutionError",
    "ExecutionHandle",
    "ExecutionInputInvalid",
    "ExecutionNotFound",
    "ExecutionStateConflict",
    "ExecutionStatus",
    "Forbidden",
    "IdempotencyConflict",
    "InvalidInput",
    "NotFound",
    "Page",
    "PayloadTooLarge",
    "Problem",
    "Saga",
    "SagaClient",
    "SagaCompensated",
    "SagaDidNotComplete",
    "SagaError",
    "SagaFailed",
    "SagaNotFound",
    "SagaRef",
    "SagaVersionNotFound",
    "ServerError",
    "Step",
    "StoreUnavailable",
    "Unauthorized",
    "UnexpectedResponse",
    "Unreachable",
    "WaitTimeout",
]


def test_all_is_pinned() -> None:
    """Adding or removing a public name is a decision: update this list (and docs/client.md) with it."""
    assert sorted(coordinator.client.__all__) == PUBLIC
    for name in PUBLIC:
        value = getattr(coordinator.client, name)
        assert value.__doc__, f"{name} has no docstring"


def test_the_client_sync_and_async_have_the_same_methods() -> None:
    def public(cls: type) -> set[str]:
        return {n for n in vars(cls) if not n.startswith("_")}

    sync, aio = coordinator.client.SagaClient, coordinator.client.AsyncSagaClient
    assert public(sync) - {"close"} == public(aio) - {"aclose"}
    assert public(coordinator.client.ExecutionHandle) == public(coordinator.client.AsyncExecutionHandle)
    callback, async_callback = coordinator.client.Callback, coordinator.client.AsyncCallback
    assert public(callback) - {"close"} == public(async_callback) - {"aclose"}


def test_the_package_imports_only_httpx_the_standard_library_itself_and_the_pure_core() -> None:
    # The core is stdlib-only; the client reads its one enum of history event types from there.
    for path in sorted(CLIENT.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                allowed = (
                    name.split(".")[0] in sys.stdlib_module_names
                    or name.split(".")[0] == "httpx"
                    or name == "coordinator"
                    or name.startswith(("coordinator.client", "coordinator.core"))
                )
                assert allowed, f"{path.relative_to(ROOT)} imports {name}"


BLOCKED = [
    "litestar", "sqlmodel", "sqlalchemy", "alembic", "apscheduler", "opentelemetry", "uvicorn", "pydantic",
    "jmespath", "jsonschema", "yaml", "rich", "psycopg",
    "coordinator.api", "coordinator.engine", "coordinator.store", "coordinator.executor", "coordinator.timers",
    "coordinator.telemetry", "coordinator.definition", "coordinator.runtime",
    "coordinator.settings", "coordinator.errors", "coordinator.ports", "coordinator.cli",
]  # fmt: skip
# Not blocked: coordinator.core, stdlib-only by its own test; the client reads HistoryEventType from it.


def test_importing_the_client_loads_nothing_of_the_server() -> None:
    """In a fresh interpreter where the server's libraries and modules cannot be imported at all."""
    script = textwrap.dedent(
        f"""
        import sys
        from importlib.abc import MetaPathFinder

        BLOCKED = {BLOCKED!r}

        class Block(MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if any(name == b or name.startswith(b + ".") for b in BLOCKED):
                    raise ImportError(f"blocked: {{name}}")
                return None

        sys.meta_path.insert(0, Block())
        import coordinator.client
        from coordinator.client import SagaClient, AsyncSagaClient

        SagaClient("http://127.0.0.1:1").close()
        loaded = sorted(m for m in sys.modules if m == "coordinator" or m.startswith("coordinator."))
        print(" ".join(loaded))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    loaded = result.stdout.split()
    assert "coordinator.client" in loaded
    assert all(m == "coordinator" or m.startswith(("coordinator.client", "coordinator.core")) for m in loaded), loaded
