"""The one redaction: every spelling of a secret is masked, in text and in JSON values."""

from __future__ import annotations

import json
from urllib.parse import quote, quote_plus

from coordinator.redaction import MASK, redact, redact_json, spellings

SECRET = 'p/ss+w rd="x"'
"""Holds `/`, `+`, a space and quotes: each encoding spells it differently."""


def test_each_encoding_of_a_secret_is_masked() -> None:
    forms = spellings([SECRET, ""])
    for spelled in (SECRET, quote(SECRET, safe=""), quote(SECRET), quote_plus(SECRET), json.dumps(SECRET)[1:-1]):
        assert redact(f"before {spelled} after", forms) == f"before {MASK} after"


def test_longer_spellings_go_first_so_no_fragment_survives() -> None:
    forms = spellings(["abc", "abcdef"])
    assert [len(f) for f in forms] == sorted((len(f) for f in forms), reverse=True)
    assert redact("abcdef", forms) == MASK


def test_json_values_are_masked_in_strings_and_keys() -> None:
    forms = spellings(["tok"])
    body = {"tok": ["a tok", 3, None], "n": {"k": "tok"}}
    assert redact_json(body, forms) == {MASK: [f"a {MASK}", 3, None], "n": {"k": MASK}}
    assert redact_json(body, ()) is body
