"""Providers built from the standard `OTEL_*` variables; nothing global is installed.

Traces: `OTEL_TRACES_EXPORTER` = `otlp` | `console` | `none` (a comma list is allowed). Unset, it
is `otlp` when `OTEL_EXPORTER_OTLP_ENDPOINT` (or the traces variant) is set and `none` otherwise,
so a laptop run does not retry against a collector that is not there. OTLP speaks
`http/protobuf` unless `OTEL_EXPORTER_OTLP_PROTOCOL` (or the traces variant) says `grpc`.
Metrics are always on, served as Prometheus text at `/metrics` from a registry of our own.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, TraceIdRatioBased
from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry, generate_latest

from coordinator.ports import AttemptTracer
from coordinator.telemetry.attempts import OtelAttemptTracer
from coordinator.telemetry.ids import PresetIdGenerator
from coordinator.telemetry.loop_lag import LoopLagSampler, lag_view

SERVICE_NAME = "saga-coordinator"
INSTRUMENTATION = "saga-coordinator"
_SHUTDOWN_FLUSH_MS = 2_000


class TelemetryError(ValueError):
    """An `OTEL_*` variable has a value we cannot honour."""


def _traces_exporters(env: Mapping[str, str]) -> list[SpanExporter]:
    names = env.get("OTEL_TRACES_EXPORTER")
    if names is None:
        has_endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        names = "otlp" if has_endpoint else "none"
    exporters: list[SpanExporter] = []
    for name in (n.strip().lower() for n in names.split(",") if n.strip()):
        if name == "none":
            continue
        if name == "console":
            exporters.append(ConsoleSpanExporter())
        elif name == "otlp":
            exporters.append(_otlp_exporter(env))
        else:
            raise TelemetryError(f"OTEL_TRACES_EXPORTER={name!r} is not supported (otlp, console, none)")
    return exporters


def _otlp_exporter(env: Mapping[str, str]) -> SpanExporter:
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf"
    )
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter()
    if protocol in ("http/protobuf", "http"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

        return HttpExporter()
    raise TelemetryError(f"OTLP protocol {protocol!r} is not supported (http/protobuf, grpc)")


@dataclass(kw_only=True)
class Telemetry:
    """The tracer and meter providers of one coordinator process."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    registry: CollectorRegistry
    tracing_enabled: bool
    instance_id: str
    extra_processors: list[SpanProcessor] = field(default_factory=list)

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        *,
        service_version: str,
        instance_id: str | None = None,
        span_processors: list[SpanProcessor] | None = None,
    ) -> Telemetry:
        """Providers for `env`; `span_processors` are added as they are (tests pass in-memory ones)."""
        instance = instance_id or str(uuid.uuid4())
        resource = Resource.create(
            {
                "service.name": env.get("OTEL_SERVICE_NAME") or SERVICE_NAME,
                "service.version": service_version,
                "service.instance.id": instance,
            }
        )
        processors: list[SpanProcessor] = [BatchSpanProcessor(e) for e in _traces_exporters(env)]
        processors += span_processors or []
        ratio = float(env.get("OTEL_TRACES_SAMPLER_ARG", "1.0") or 1.0)
        # With nothing to export, record nothing: span objects would only cost CPU.
        sampler = ParentBased(TraceIdRatioBased(ratio)) if processors else ALWAYS_OFF
        tracer_provider = TracerProvider(resource=resource, id_generator=PresetIdGenerator(), sampler=sampler)
        for processor in processors:
            tracer_provider.add_span_processor(processor)
        registry = CollectorRegistry()
        meter_provider = MeterProvider(
            resource=resource,
            metric_readers=[
                PrometheusMetricReader(registry=registry, disable_target_info=True, scope_info_enabled=False)
            ],
            views=[lag_view()],
        )
        return cls(
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            registry=registry,
            tracing_enabled=bool(processors),
            instance_id=instance,
        )

    @property
    def tracer(self) -> Tracer:
        """The coordinator's tracer."""
        return self.tracer_provider.get_tracer(INSTRUMENTATION)

    def attempt_tracer(self) -> AttemptTracer:
        """The executor's attempt spans; with tracing off, only the trace context is passed on.

        Off, no span is started at all: a sampler that records nothing would still mint a new,
        unsampled span id for the participant's `traceparent`.
        """
        return OtelAttemptTracer(self.tracer if self.tracing_enabled else None)

    def loop_lag_sampler(self) -> LoopLagSampler:
        """A sampler of this process's event-loop lag (`saga_event_loop_lag_seconds`); the runtime starts it."""
        return LoopLagSampler(self.meter_provider.get_meter(INSTRUMENTATION))

    def prometheus_text(self) -> bytes:
        """Every metric in the Prometheus text format."""
        return generate_latest(self.registry)

    def shutdown(self) -> None:
        """Flush what is queued (briefly: a missing collector must not hold the exit), then stop."""
        self.tracer_provider.force_flush(timeout_millis=_SHUTDOWN_FLUSH_MS)
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown(timeout_millis=_SHUTDOWN_FLUSH_MS)
