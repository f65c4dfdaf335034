"""The console's payload formatting: fast, and exactly what the standard library writes."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from coordinator.console.formatting import excerpt, pretty

_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
JSON_VALUES = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4), max_leaves=20
)
"""What a body decoded from JSON can be (Python's decoder accepts NaN and infinities too)."""


def _standard(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


@given(JSON_VALUES)
def test_pretty_writes_what_json_dumps_writes(value: Any) -> None:
    assert pretty(value) == (value if isinstance(value, str) else _standard(value))


def test_the_floats_where_the_fast_writer_differs_fall_back() -> None:
    for value in (
        {"big": 1e300},
        [1e-7],
        [1e-05, -2.5e-05],
        {"nan": float("nan")},
        {"inf": [float("-inf")]},
        123456789012345678.5,
    ):
        assert pretty(value) == _standard(value)


def test_what_is_not_json_is_written_as_text() -> None:
    class Opaque:
        def __str__(self) -> str:
            return "opaque"

    assert pretty({"when": Opaque(), "n": (1, 2)}) == _standard({"when": Opaque(), "n": (1, 2)})
    assert excerpt({"a": "x" * 50}, limit=20).endswith("more characters)")
