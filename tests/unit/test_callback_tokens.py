"""Callback tokens: bound to one attempt, unforgeable without the key, never decoded leniently."""

from __future__ import annotations

import base64

import pytest

from coordinator.core.state import Direction
from coordinator.engine.callback_tokens import CallbackTarget, CallbackTokens
from coordinator.redaction import redact_callback_path

TARGET = CallbackTarget(
    execution_id="6f1c0c3e-2d7b-4d0e-9a55-8e0b8f1f4a21", step=3, direction=Direction.COMPENSATION, attempt=2
)


def test_a_token_verifies_to_the_attempt_it_was_minted_for() -> None:
    tokens = CallbackTokens.from_secret("a server secret of some length", "http://saga:8080/")
    token = tokens.mint(TARGET)
    assert tokens.verify(token) == TARGET
    assert tokens.url(token) == f"http://saga:8080/v1/callbacks/{token}"
    assert token.isascii() and "/" not in token and "=" not in token


def test_each_token_is_fresh_and_carries_at_least_128_random_bits() -> None:
    tokens = CallbackTokens.from_secret("a server secret of some length", "http://saga")
    minted = {tokens.mint(TARGET) for _ in range(50)}
    assert len(minted) == 50
    raw = base64.urlsafe_b64decode(next(iter(minted)) + "==")
    assert len(raw) >= 16 + 32  # nonce and mac before the target


def test_another_key_or_any_change_is_refused() -> None:
    ours = CallbackTokens.from_secret("a server secret of some length", "http://saga")
    theirs = CallbackTokens.from_secret("another secret of some length", "http://saga")
    token = ours.mint(TARGET)
    assert theirs.verify(token) is None
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    for position in (0, 20, len(raw) - 1):  # the nonce, the mac, the target (attempt number)
        forged = bytearray(raw)
        forged[position] ^= 1
        assert ours.verify(base64.urlsafe_b64encode(bytes(forged)).rstrip(b"=").decode()) is None


@pytest.mark.parametrize("text", ["", "A", "%%%", "A" * 600, "not base64 at all!", "====", "ab/cd"])
def test_garbage_is_refused_without_raising(text: str) -> None:
    assert CallbackTokens.from_secret("a server secret of some length", "http://saga").verify(text) is None


def test_foreign_characters_do_not_make_another_spelling_of_a_token() -> None:
    tokens = CallbackTokens.from_secret("a server secret of some length", "http://saga")
    token = tokens.mint(TARGET)
    assert tokens.verify("%" + token) is None and tokens.verify(token[:10] + "." + token[10:]) is None


def test_paths_show_no_token() -> None:
    assert redact_callback_path("/v1/callbacks/abcDEF_-123") == "/v1/callbacks/***"
    assert redact_callback_path("/v1/callbacks/abc/heartbeat") == "/v1/callbacks/***/heartbeat"
    assert redact_callback_path("/v1/executions/x") == "/v1/executions/x"
