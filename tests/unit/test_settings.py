"""Settings from the environment and flags, and the unsafe combinations they refuse."""

from __future__ import annotations

from pathlib import Path

import pytest

from coordinator.settings import Settings, SettingsError


def test_defaults() -> None:
    s = Settings.from_env({})
    assert (s.host, s.port, s.database_url) == ("127.0.0.1", 8080, "sqlite:///./saga.db")
    assert s.max_body_bytes == 1024 * 1024 and s.api_tokens == ()


def test_environment_then_flags() -> None:
    env = {
        "SAGA_DATABASE_URL": "postgresql://u@h/db",
        "SAGA_API_TOKENS": "a, b,,",
        "SAGA_MAX_BODY_BYTES": "2048",
        "SAGA_SAGAS_DIR": "/tmp/s",
    }
    s = Settings.from_env(env, port=9000, database_url=None)
    assert s.database_url == "postgresql://u@h/db" and s.port == 9000
    assert s.api_tokens == ("a", "b") and s.max_body_bytes == 2048 and s.sagas_dir == Path("/tmp/s")
    assert Settings.from_env(env, database_url="sqlite:///x.db").database_url == "sqlite:///x.db"


@pytest.mark.parametrize(
    ("env", "overrides", "message"),
    [
        ({"SAGA_MAX_BODY_BYTES": "lots"}, {}, "SAGA_MAX_BODY_BYTES"),
        ({}, {"database_url": "mysql://x"}, "--database-url"),
        ({}, {"host": "0.0.0.0"}, "--insecure"),
        ({}, {"port": 70000}, "--port"),
    ],
)
def test_refusals_name_the_setting(env: dict[str, str], overrides: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env, **overrides)


def test_non_loopback_is_allowed_with_tokens_or_insecure() -> None:
    assert Settings.from_env({"SAGA_API_TOKENS": "t"}, host="0.0.0.0").host == "0.0.0.0"
    assert Settings.from_env({}, host="0.0.0.0", insecure=True).insecure
