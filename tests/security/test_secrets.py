"""A secret used by sagas never leaves the outbound request: not in the database, logs, spans or API.

The secret holds `/`, `+` and `=`, so its percent-encoded and `+`-encoded spellings differ from it;
none of them may appear either. Participants echo it back in success bodies, error bodies and
headers, as a careless or hostile service would.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from coordinator import __version__
from coordinator.settings import Settings
from coordinator.telemetry import JsonFormatter, Telemetry
from tests.integration.scripted_participant import Reply, ScriptedParticipant
from tests.security.conftest import serve_coordinator

TEMPLATE = "{{ secrets.pay }}"
FAST = {"max_attempts": 2, "initial_interval": "10ms", "jitter": "none"}


def _sagas(url: str) -> list[dict[str, Any]]:
    auth = {"Authorization": f"Bearer {TEMPLATE}"}
    return [
        {  # succeeds with echoes, then fails with echoes: rollback runs a compensation that uses it too
            "name": "leaky",
            "steps": [
                {
                    "name": "charge",
                    "action": {
                        "method": "POST",
                        "url": f"{url}/charge?token={TEMPLATE}",
                        "headers": auth,
                        "body": {"card": TEMPLATE, "note": f"key={TEMPLATE}"},
                    },
                    "compensation": {
                        "method": "POST",
                        "url": f"{url}/refund/{TEMPLATE}?key={TEMPLATE}",
                        "headers": auth,
                    },
                    "retry": FAST,
                },
                {
                    "name": "ship",
                    "action": {"method": "POST", "url": f"{url}/ship/{TEMPLATE}", "headers": auth},
                    "retry": FAST,
                },
            ],
        },
        {  # a timeout: the outcome is unknown, the compensation runs
            "name": "slow",
            "steps": [
                {
                    "name": "hold",
                    "action": {
                        "method": "POST",
                        "url": f"{url}/slow?token={TEMPLATE}",
                        "headers": auth,
                        "timeout": "200ms",
                    },
                    "compensation": {"method": "POST", "url": f"{url}/unhold", "headers": auth},
                    "retry": {"max_attempts": 1},
                },
            ],
        },
        {  # a template that fails on the secret's value: JMESPath quotes values in its errors
            "name": "badtemplate",
            "steps": [
                {
                    "name": "x",
                    "action": {"method": "POST", "url": f"{url}/x", "headers": {"X-N": "{{ abs(secrets.pay) }}"}},
                }
            ],
        },
    ]


async def test_a_secret_never_leaves_the_request(
    db_url: str, participant: ScriptedParticipant, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = f"S3CR3T-{uuid.uuid4().hex}/x+y="
    forms = {secret, quote(secret, safe=""), quote(secret), quote_plus(secret)}
    monkeypatch.setenv("SAGA_SECRET_PAY", secret)
    echo = {"echo": f"Bearer {secret}", "url": f"/charge?token={quote(secret, safe='')}", "nested": [{"k": secret}]}
    participant.on("/charge", Reply(status=201, body=echo, headers={"X-Echo": secret}))
    for spelling in (secret, quote(secret, safe="")):  # however the participant's framework decodes paths
        participant.on(f"/ship/{spelling}", Reply(status=500, body={"detail": f"bad token {secret}"}))
        participant.on(f"/refund/{spelling}", Reply(status=200, body={"refunded": secret}))
    participant.on("/slow", Reply(delay_s=1.0))
    exporter = InMemorySpanExporter()
    telemetry = Telemetry.from_env({}, service_version=__version__, span_processors=[SimpleSpanProcessor(exporter)])
    answers: list[str] = []
    with caplog.at_level(logging.DEBUG):
        async with serve_coordinator(Settings(database_url=db_url), telemetry=telemetry) as served:
            api = served.api
            ids = []
            for doc in _sagas(participant.url):
                r = await api.post("/v1/sagas", json=doc)
                assert r.status_code == 201, r.text
                answers.append(r.text)
                r = await api.post(f"/v1/sagas/{doc['name']}/executions", json={"input": {}}, params={"wait": "10s"})
                answers.append(r.text)
                ids.append(r.json()["id"])
                assert r.json()["status"] in ("compensated", "failed"), r.text
            for path in [
                "/v1/sagas",
                "/v1/executions",
                "/metrics",
                *(f"/v1/executions/{i}" for i in ids),
                *(f"/v1/executions/{i}/events" for i in ids),
                *(f"/v1/sagas/{d['name']}" for d in _sagas("")),
                *(f"/v1/sagas/{d['name']}/versions" for d in _sagas("")),
            ]:
                r = await api.get(path)
                assert r.status_code == 200, (path, r.text)
                answers.append(r.text)
            stored = (await api.get("/v1/sagas/leaky")).json()["definition"]
        dump = "\n".join(sqlite3.connect(db_url.removeprefix("sqlite:///")).iterdump())

    # the participant got the real value, where it was meant to go
    charge = participant.calls("/charge")[0]
    assert charge.headers["authorization"] == f"Bearer {secret}" and charge.body["card"] == secret
    assert [r for r in participant.requests if r.path.startswith("/refund/")]
    # what was stored is the reference, not the value
    assert stored["steps"][0]["action"]["headers"]["Authorization"] == f"Bearer {TEMPLATE}"

    formatter = JsonFormatter()
    logs = [formatter.format(r) + r.getMessage() + repr(r.__dict__) for r in caplog.records]
    spans = [s.to_json() for s in exporter.get_finished_spans()]
    places = {"database dump": [dump], "API answers": answers, "logs": logs, "spans": spans}
    for place, texts in places.items():
        leaks = [text for text in texts for form in forms if form in text]
        assert not leaks, f"the secret reached the {place}: {leaks[0][:500]}"
    assert any("token=***" in s for s in spans)  # redacted, not dropped
    assert "***" in dump  # the echoed response body was kept, redacted
    assert any('"Authorization":"Bearer ***"' in a for a in answers)  # the request as sent is kept, redacted
