"""Summarise py-spy's collapsed stacks (`--format raw`): where the coordinator's CPU time goes."""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
_GENERATED = re.compile(r"^<(?P<pkg>[A-Za-z0-9_]+) generated")
_OTEL_SUBPACKAGES = frozenset({"metrics", "trace", "sdk", "propagators", "context", "baggage", "semconv", "_logs"})
IDLE_LEAVES = ("_worker (concurrent/futures/thread.py:81)",)
"""Leaf frames py-spy reports although the thread only waits: a thread pool worker waiting for work."""


def _package(path: str) -> str:
    """A readable bucket for a source file: `sqlalchemy`, `coordinator.store`, `stdlib:asyncio`, ..."""
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    generated = _GENERATED.match(path)
    if generated:
        return generated.group("pkg")
    parts = path.strip("/").split("/")
    top = parts[0].removesuffix(".py")
    if top == "coordinator" and len(parts) > 1:
        return "coordinator." + parts[1].removesuffix(".py")
    if len(parts) > 1 and top in _OTEL_SUBPACKAGES:
        return "opentelemetry"  # a namespace package: py-spy drops its `opentelemetry/` prefix
    if top in sys.stdlib_module_names:
        return "stdlib:" + top
    return top or "?"


def _parse(frame: str) -> tuple[str, str]:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip(), "?"
    path = match.group("file")
    short = path.split("site-packages/", 1)[-1] if "site-packages/" in path else path.split("/work/main/", 1)[-1]
    return f"{match.group('func')} ({short})", _package(path)


def summarise(collapsed: Path, *, top: int = 25) -> dict[str, Any]:
    """Self and inclusive shares per function and per package, from py-spy's raw output."""
    total = 0
    idle = 0
    self_fn: Counter[str] = Counter()
    incl_fn: Counter[str] = Counter()
    self_pkg: Counter[str] = Counter()
    incl_pkg: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        if frames[-1].strip() in IDLE_LEAVES:
            idle += count
            continue
        total += count
        if frames and frames[0].startswith(("thread ", "process ")):
            thread = frames[0]
            frames = [f for f in frames[1:] if not f.startswith(("thread ", "process "))]
            threads[thread] += count
        parsed = [_parse(f) for f in frames if f]
        if not parsed:
            continue
        leaf_fn, leaf_pkg = parsed[-1]
        self_fn[leaf_fn] += count
        self_pkg[leaf_pkg] += count
        for fn in {fn for fn, _ in parsed}:
            incl_fn[fn] += count
        for pkg in {pkg for _, pkg in parsed}:
            incl_pkg[pkg] += count

    def shares(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * n / total, 1)) for name, n in counter.most_common(top)] if total else []

    return {
        "samples": total,
        "idle_samples_excluded": idle,
        "threads": shares(threads),
        "self_by_package": shares(self_pkg),
        "inclusive_by_package": shares(incl_pkg),
        "self_by_function": shares(self_fn),
        "inclusive_by_function": shares(incl_fn),
    }


def as_text(summary: dict[str, Any]) -> str:
    """The summary as a readable report."""
    lines = [f"samples: {summary['samples']} ({summary['idle_samples_excluded']} more of idle pool threads excluded)"]
    for key, title in (
        ("threads", "by thread"),
        ("self_by_package", "self time by package (the code that was running)"),
        ("inclusive_by_package", "inclusive time by package (on the stack)"),
        ("self_by_function", "self time by function"),
        ("inclusive_by_function", "inclusive time by function"),
    ):
        lines.append("")
        lines.append(title)
        for name, share in summary[key]:
            lines.append(f"  {share:5.1f}%  {name}")
    return "\n".join(lines) + "\n"
