"""Bearer tokens with scopes: the matrix of every /v1 operation against every scope."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from coordinator.api.auth import authenticate
from coordinator.settings import Settings, SettingsError
from tests.integration.scripted_participant import ScriptedParticipant
from tests.security.conftest import Served, one_step, serve_coordinator

TOKENS = {
    "all": "all-0123456789abcdef",  # no scopes written: every scope
    "write": "write-0123456789abcdef:definitions:write",
    "start": "start-0123456789abcdef:executions:start",
    "read": "read-0123456789abcdef:executions:read",
    "admin": "admin-0123456789abcdef:admin",
    "start+read": "multi-0123456789abcdef:executions:start+executions:read",
}


def bearer(kind: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[kind].split(':', 1)[0]}"}


@pytest.fixture
async def secured(db_url: str, tmp_path: Path, participant: ScriptedParticipant) -> AsyncIterator[Served]:
    tokens_file = tmp_path / "tokens"
    tokens_file.write_text("# operators\n" + "\n".join(list(TOKENS.values())[3:]) + "\n\n")
    env = {
        "SAGA_DATABASE_URL": db_url,
        "SAGA_API_TOKENS": ",".join(list(TOKENS.values())[:3]),
        "SAGA_API_TOKENS_FILE": str(tokens_file),
    }
    async with serve_coordinator(Settings.from_env(env)) as served:
        r = await served.api.post("/v1/sagas", json=one_step(f"{participant.url}/x"), headers=bearer("all"))
        assert r.status_code == 201
        yield served


# (method, path, scope needed); {id} is filled with a real execution
OPERATIONS = [
    ("POST", "/v1/sagas", "definitions:write"),
    ("GET", "/v1/sagas", "executions:read"),
    ("GET", "/v1/sagas/probe", "executions:read"),
    ("GET", "/v1/sagas/probe/versions", "executions:read"),
    ("GET", "/v1/sagas/probe/versions/1", "executions:read"),
    ("POST", "/v1/sagas/probe/executions", "executions:start"),
    ("GET", "/v1/executions", "executions:read"),
    ("GET", "/v1/executions/{id}", "executions:read"),
    ("GET", "/v1/executions/{id}/events", "executions:read"),
    ("POST", "/v1/executions/{id}/cancel", "admin"),
    ("POST", "/v1/executions/{id}/retry", "admin"),
]
GRANTED = {
    "all": {"definitions:write", "executions:start", "executions:read", "admin"},
    "admin": {"definitions:write", "executions:start", "executions:read", "admin"},
    "write": {"definitions:write"},
    "start": {"executions:start"},
    "read": {"executions:read"},
    "start+read": {"executions:start", "executions:read"},
}


async def test_every_operation_against_every_scope(secured: Served, participant: ScriptedParticipant) -> None:
    started = await secured.api.post("/v1/sagas/probe/executions", json={"input": {}}, headers=bearer("all"))
    execution_id = started.json()["id"]
    for method, template, needed in OPERATIONS:
        path = template.replace("{id}", execution_id)
        for kind, scopes in GRANTED.items():
            body = (
                one_step(f"{participant.url}/x", name=f"by-{kind.replace('+', '-')}")
                if path == "/v1/sagas"
                else ({"input": {}} if method == "POST" else None)
            )
            r = await secured.api.request(method, path, json=body, headers=bearer(kind))
            if needed in scopes:
                assert r.status_code not in (401, 403), (method, path, kind, r.text)
            else:
                assert r.status_code == 403, (method, path, kind, r.text)
                problem = r.json()
                assert r.headers["content-type"].startswith("application/problem+json")
                assert problem["code"] == "forbidden" and problem["scope"] == needed, problem
                assert f'scope="{needed}"' in r.headers["www-authenticate"]
    # a refused write changed nothing
    names = {s["name"] for s in (await secured.api.get("/v1/sagas", headers=bearer("read"))).json()["items"]}
    assert names == {"probe", "by-all", "by-admin", "by-write"}


WRONG = [
    None,
    "",
    "Bearer",
    "Bearer wrong",
    "Basic all-0123456789abcdef",
    "bearerall-0123456789abcdef",
    "Bearer all-0123456789abcde",
    "Bearer all-0123456789abcdefX",
    "Bearer ALL-0123456789ABCDEF",
    "Bearer all-0123456789abcdef:admin",
    "Token all-0123456789abcdef",
]


async def test_missing_or_wrong_tokens_are_401(secured: Served) -> None:
    for authorization in WRONG:
        headers = {} if authorization is None else {"Authorization": authorization}
        for method, template, _ in OPERATIONS:
            r = await secured.api.request(method, template.replace("{id}", "nope"), headers=headers)
            assert r.status_code == 401, (method, template, authorization, r.text)
            assert r.headers["www-authenticate"] == "Bearer"
            assert r.json()["code"] == "unauthorized"


async def test_health_metrics_and_schema_stay_open(secured: Served) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/schema/openapi.json", "/schema/openapi.yaml"):
        assert (await secured.api.get(path)).status_code == 200, path
    # OPTIONS needs a valid token but no scope, and lists every method of the path
    assert (await secured.api.options("/v1/sagas")).status_code == 401
    r = await secured.api.options("/v1/sagas", headers=bearer("read"))
    assert r.status_code == 204 and r.headers["allow"] == "GET, OPTIONS, POST"


def test_token_entries_are_checked_at_start(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="unknown or missing scope") as refused:
        Settings.from_env({"SAGA_API_TOKENS": "s3cret-value:executions:write"})
    assert "s3cret-value" not in str(refused.value)  # the token itself is never echoed
    with pytest.raises(SettingsError, match="letters, digits"):
        Settings.from_env({"SAGA_API_TOKENS": "has space"})
    with pytest.raises(SettingsError, match="SAGA_API_TOKENS_FILE"):
        Settings.from_env({"SAGA_API_TOKENS_FILE": str(tmp_path / "missing")})
    with pytest.raises(SettingsError, match="--insecure"):
        Settings.from_env({}, host="0.0.0.0")
    tokens = tmp_path / "tokens"
    tokens.write_text("a-token  # the CI's\n\n# comment\nb-token:executions:read\n")
    settings = Settings.from_env({"SAGA_API_TOKENS_FILE": str(tokens)}, host="0.0.0.0")
    assert [g.scopes for g in settings.token_grants()][1] == frozenset({"executions:read"})


def test_authenticate_compares_whole_tokens_only() -> None:
    grants = Settings(api_tokens=("abc", "abcdef:admin")).token_grants()
    assert authenticate(grants, "Bearer abc") is grants[0]
    assert authenticate(grants, "Bearer abcdef") is grants[1]
    assert authenticate(grants, "Bearer abcd") is None
    assert authenticate(grants, "bearer abc") is grants[0]  # the scheme is case-insensitive (RFC 7235)
