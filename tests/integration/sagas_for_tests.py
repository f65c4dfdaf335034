"""Definitions the API tests register, pointing at the scripted participant."""

from __future__ import annotations

from typing import Any


def three_steps(
    url: str,
    *,
    name: str = "trip",
    retry: dict[str, Any] | None = None,
    compensation_retry: dict[str, Any] | None = None,
    timeout: str = "2s",
) -> dict[str, Any]:
    """Steps a -> b -> c, each with a compensation at /<step>/undo."""
    steps = []
    for step in ("a", "b", "c"):
        steps.append(
            {
                "name": step,
                "action": {
                    "method": "POST",
                    "url": f"{url}/{step}",
                    "body": {"order": "{{ input.order }}", "step": step},
                    "timeout": timeout,
                },
                "compensation": {"method": "POST", "url": f"{url}/{step}/undo"},
                "retry": retry or {"max_attempts": 3, "initial_interval": "10ms", "jitter": "none"},
                "compensation_retry": compensation_retry
                or {"max_attempts": 3, "initial_interval": "10ms", "jitter": "none"},
            }
        )
    return {
        "name": name,
        "description": "three undoable steps",
        "input_schema": {
            "type": "object",
            "required": ["order"],
            "properties": {"order": {"type": "string"}},
        },
        "steps": steps,
    }
