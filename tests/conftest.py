"""Fixtures every test folder may use: a throw-away PostgreSQL database for the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.postgres import throwaway_database


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated database of its own for this test session (skipped without a server, except in CI)."""
    with throwaway_database("saga_test") as url:
        yield url
