"""The composition root: builds the store, executor, timers, telemetry and engine from `Settings`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets as random_bytes
import signal
import time
from dataclasses import dataclass
from types import FrameType

from coordinator import __version__
from coordinator.definition import find_definition_files, load_definition_file
from coordinator.engine import CallPool, Collaborators, DefinitionRegistry, Engine, EnvSecretSource, SagaService
from coordinator.engine.callback_tokens import CALLBACK_KEY_NAME, CallbackTokens
from coordinator.engine.faults import FaultPoints
from coordinator.engine.ownership import Ownership
from coordinator.executor import HttpStepExecutor, TargetPolicy, build_client
from coordinator.ports import Clock, SagaStore, StepExecutor, TimerService
from coordinator.settings import Settings
from coordinator.store import DailyArchive, open_store
from coordinator.telemetry import LoopLagSampler, Telemetry, TelemetryObserver, W3CTraceContexts
from coordinator.telemetry.logs import install_redaction
from coordinator.timers import SchedulerTimers

log = logging.getLogger("coordinator")


def _log_tasks_on_sigusr1() -> None:
    """`kill -USR1 <pid>` logs every asyncio task's stack: what a stuck coordinator is waiting on."""

    def dump() -> None:
        for task in asyncio.all_tasks():
            frames = [
                f"{f.f_code.co_filename.rsplit('/', 1)[-1]}:{f.f_lineno} {f.f_code.co_name}" for f in _chain(task)
            ]
            log.warning("task %s waiting at %s", task.get_name(), " -> ".join(frames) or "(not started)")

    with contextlib.suppress(NotImplementedError, RuntimeError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump)


def _chain(task: asyncio.Task[object]) -> list[FrameType]:
    """The frames of a task's coroutine and of every coroutine it awaits, outermost first."""
    frames: list[FrameType] = []
    coro: object = task.get_coro()
    while coro is not None:
        frame = getattr(coro, "cr_frame", None)
        if frame is not None:
            frames.append(frame)
        coro = getattr(coro, "cr_await", None)
    return frames


def _url_host(host: str) -> str:
    """`host` as a URL writes it: an IPv6 address in brackets; a wildcard as the loopback address."""
    if host in ("0.0.0.0", "::", ""):  # noqa: S104  # a wildcard names no address a participant can use
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


class SystemClock(Clock):
    """The machine's wall clock."""

    def now_ms(self) -> int:
        """Epoch milliseconds now."""
        return time.time_ns() // 1_000_000


@dataclass(kw_only=True)
class Runtime:
    """Everything one coordinator process runs on, wired once."""

    settings: Settings
    store: SagaStore
    """Owned here (opened and closed); callers use `service`."""
    engine: Engine
    telemetry: Telemetry
    own_executor: HttpStepExecutor | None
    """The executor this runtime built (and closes); None when the caller passed one in."""
    loop_lag: LoopLagSampler
    """`saga_event_loop_lag_seconds`, sampled from `start()` to `close()`."""

    @property
    def service(self) -> SagaService:
        """What the API and the tools ask of the coordinator."""
        return self.engine.service

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        executor: StepExecutor | None = None,
        timers: TimerService | None = None,
        clock: Clock | None = None,
        telemetry: Telemetry | None = None,
    ) -> Runtime:
        """Open the database (migrating it) and wire the engine. Nothing runs until `start()`."""
        telemetry = telemetry or Telemetry.from_env(os.environ, service_version=__version__)
        store = await open_store(settings.database_url, call_timeout_s=settings.db_timeout_seconds)
        clock = clock or SystemClock()
        timers = timers or SchedulerTimers()
        policy = TargetPolicy(settings.allowed_targets)
        own_executor = None
        if executor is None:
            own_executor = executor = HttpStepExecutor(
                build_client(max_connections=settings.outbound_connections),
                max_response_bytes=settings.max_response_bytes,
                policy=policy,
                tracer=telemetry.attempt_tracer(),
            )
        callback_secret = settings.callback_key or await store.server_key(
            CALLBACK_KEY_NAME, random_bytes.token_urlsafe(32), now_ms=clock.now_ms()
        )
        public_url = settings.public_url or f"http://{_url_host(settings.host)}:{settings.port}"
        secrets = EnvSecretSource()
        install_redaction(secrets.all_values)
        # Built before the observer and the engine: the observer's gauges read it, the engine fills it.
        calls = CallPool(settings.outbound_connections)
        engine = Engine(
            Collaborators(
                store=store,
                registry=DefinitionRegistry(
                    store,
                    clock,
                    allow_target=policy.check,
                    secret_exists=lambda name: secrets(name) is not None,
                    default_alert_after_ms=settings.alert_after_ms,
                ),
                executor=executor,
                timers=timers,
                clock=clock,
                secrets=secrets,
                calls=calls,
                observer=TelemetryObserver(
                    telemetry, store, pending_wakeups=timers.pending, calls_in_flight=calls.count
                ),
                traces=W3CTraceContexts(),
                ownership=Ownership(lease_ms=int(settings.lease_seconds * 1000)),
                faults=FaultPoints(
                    points=frozenset(settings.fault_points), nth=settings.fault_nth, target=settings.fault_target
                ),
                callback_tokens=CallbackTokens.from_secret(callback_secret, public_url),
                max_response_bytes=settings.max_response_bytes,
                max_recovery_attempts=settings.max_recovery_attempts,
                retention_ms=settings.retention_ms,
                archive=DailyArchive(settings.archive_dir) if settings.archive_dir is not None else None,
            )
        )
        return cls(
            settings=settings,
            store=store,
            engine=engine,
            telemetry=telemetry,
            own_executor=own_executor,
            loop_lag=telemetry.loop_lag_sampler(),
        )

    async def start(self) -> None:
        """Register the sagas folder, start timers, and resume unfinished executions (in the background)."""
        self.loop_lag.start()
        if self.settings.sagas_dir is not None:
            await self.register_directory()
        # A SQLite file has one process (a file lock enforces it): every lease on it is a dead
        # process's, so take them all now rather than after they expire.
        self.engine.start(
            sweep_seconds=self.settings.sweep_seconds,
            take_over_all=not self.settings.database_url.startswith("postgres"),
        )
        _log_tasks_on_sigusr1()

    async def register_directory(self) -> None:
        """Register every definition in `sagas_dir`; an unchanged one is a no-op."""
        assert self.settings.sagas_dir is not None
        for path in find_definition_files(self.settings.sagas_dir):
            document = load_definition_file(path)
            stored, created = await self.service.register(document)
            log.info("%s %s v%d from %s", "registered" if created else "unchanged", stored.name, stored.version, path)

    async def close(self) -> None:
        """Stop the engine (letting calls in flight finish), then release the executor's client and the database."""
        await self.engine.close(grace_s=self.settings.shutdown_grace_seconds)
        await self.loop_lag.stop()
        if self.own_executor is not None:
            await self.own_executor.aclose()
        await self.store.close()
        self.telemetry.shutdown()
        log.info("shutdown complete")
