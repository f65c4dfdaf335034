"""With SAGA_API_TOKENS set, every /v1 call needs a bearer token; health endpoints stay open."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest

from coordinator.api import create_app
from coordinator.runtime import Runtime
from coordinator.settings import Settings
from saga_examples.serve import serve_asgi


@pytest.fixture
async def guarded(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    secured = replace(settings, api_tokens=("s3cret-token", "other-token"))
    runtime = await Runtime.open(secured)
    await runtime.start()
    try:
        async with serve_asgi(create_app(secured, runtime=runtime)) as url, httpx.AsyncClient(base_url=url) as c:
            yield c
    finally:
        await runtime.close()


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
async def test_v1_needs_a_valid_bearer_token(guarded: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret-token"}):
        r = await guarded.get("/v1/sagas", headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.headers["www-authenticate"] == "Bearer"
    for token in ("s3cret-token", "other-token"):
        assert (await guarded.get("/v1/sagas", headers={"Authorization": f"Bearer {token}"})).status_code == 200
    assert (await guarded.get("/healthz")).status_code == 200
    assert (await guarded.get("/readyz")).status_code == 200
