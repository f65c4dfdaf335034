"""`saga serve` exporting OTLP/HTTP to a receiver: the trees an SRE sees, across a SIGKILL."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import Coordinator, Participant, wait_until
from tests.e2e.otlp_receiver import OtlpReceiver, render_tree
from tests.e2e.workload import definition

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def test_traces_from_a_real_process_survive_sigkill(tmp_path: Path) -> None:
    receiver = OtlpReceiver()
    participant = Participant(latency_ms=200)
    sagas = tmp_path / "sagas"
    sagas.mkdir()
    (sagas / "crash-test.yaml").write_text(definition(participant.url))
    coordinator = Coordinator(
        database_url=f"sqlite:///{tmp_path / 'saga.db'}",
        sagas_dir=sagas,
        log_path=tmp_path / "coordinator.log",
        env={
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_BSP_SCHEDULE_DELAY": "50",
            "OTEL_SERVICE_NAME": "saga-coordinator",
        },
    )
    try:
        coordinator.start()
        with httpx.Client(base_url=coordinator.url, timeout=30) as client:

            def run(fail: str) -> dict[str, object]:
                r = client.post(
                    "/v1/sagas/crash-test/executions",
                    params={"wait": "20s"},
                    json={"input": {"fail": fail, "order": "o"}},
                )
                assert r.status_code == 201
                body: dict[str, object] = r.json()
                return body

            completed = run("none")
            rolled_back = run("ship")
            caller = "0af7651916cd43dd8448eb211c80319c"
            r = client.post(
                "/v1/sagas/crash-test/executions",
                json={"input": {"fail": "none", "order": "k"}},
                headers={"traceparent": f"00-{caller}-b7ad6b7169203331-01"},
            )
            killed = r.json()
            assert killed["trace_id"] == caller
            time.sleep(0.3)  # reserve is in flight (200 ms per call)
            coordinator.kill()
            coordinator.start()
            resumed = client.get(f"/v1/executions/{killed['id']}", params={"wait": "20s"}).json()
            assert resumed["status"] == "completed"
            metrics = client.get("/metrics").text

        for ex, outcome in ((completed, "completed"), (rolled_back, "compensated"), (resumed, "completed")):
            trace_id = str(ex["trace_id"])
            wait_until(
                lambda t=trace_id: any(s.name == "saga crash-test" for s in receiver.trace(t)),
                timeout=20,
                what=f"the root span of {trace_id}",
            )
            spans = receiver.trace(trace_id)
            root = next(s for s in spans if s.name == "saga crash-test")
            assert root.attributes["saga.outcome"] == outcome
            assert root.attributes["saga.execution_id"] == ex["id"]
            assert root.resource["service.name"] == "saga-coordinator"
            assert root.resource["service.instance.id"]
            assert (root.status_code == 2) == (outcome != "completed")
            steps = [s for s in spans if s.name.startswith("step ")]
            assert all(s.parent_span_id == root.span_id for s in steps)
            if ex is rolled_back:
                print("\nrolled-back saga, as exported:\n" + render_tree(spans))
                names = {s.name for s in spans}
                assert {"compensate reserve", "compensate charge", "step ship"} <= names
        # the killed one: the caller's span is the parent, and the step in flight was re-sent
        resumed_spans = receiver.trace(caller)
        root = next(s for s in resumed_spans if s.name == "saga crash-test")
        server = next(s for s in resumed_spans if s.parent_span_id == "b7ad6b7169203331")
        assert server.kind == 2 and root.parent_span_id == server.span_id  # caller -> POST -> saga
        print("\nsaga resumed after SIGKILL, in the caller's trace:\n" + render_tree(resumed_spans))
        assert any("attempt_resent" in s.events for s in resumed_spans if s.name.startswith("step "))
        seen = [r["traceparent"] for r in participant.ledger()["requests"] if r["execution"] == killed["id"]]
        assert seen and all(tp.split("-")[1] == caller for tp in seen)
        # metrics of the restarted process count what it finished
        assert 'saga_executions_finished_total{saga="crash-test",status="completed"} 1.0' in metrics
    finally:
        coordinator.stop()
        participant.stop()
        receiver.stop()
