"""The outputs: the terminal table, the bars, `latest.json` and `latest.png`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.scenarios import STEPS

BARS_TEXT = {
    "happy_sqlite_c50": "happy, SQLite, C=50: sagas/s >= 0.33 x floor",
    "happy_postgres_c50": "happy, PostgreSQL, C=50: sagas/s >= 0.25 x floor",
    "rollback_sqlite_c50": "rollback, SQLite, C=50: sagas/s >= 0.25 x floor",
    "retry_sqlite_c50": "retry, SQLite, C=50: sagas/s >= 0.25 x floor",
    "overhead_c1": "overhead per step at C=1, p50 <= 2 ms (happy; each database)",
    "memory": "RSS after 50k executions <= 1.1 x RSS after 5k",
    "api_get": "1M stored: GET one execution p99 <= 20 ms",
    "api_list": "1M stored: one list page p99 <= 30 ms",
    "api_key": "1M stored: GET /v1/executions?key=<key> p99 <= 30 ms",
    "api_attention": "1M stored: GET /v1/executions?attention=true p99 <= 30 ms",
    "console_list": "1M stored: the console's list page p99 <= 50 ms",
    "purge_throughput": "retention purging 1M: sagas/s >= 0.8 x without purging",
    "purge_get": "retention purging 1M: GET one p99 <= 2 x without purging",
    "purge_growth": "retention purging: the database stops growing (MB grown while purging)",
    "recovery_first": "10k in flight: first attempts resume <= 5 s after restart",
    "recovery_all": "10k in flight: all terminal <= 60 s after restart",
}


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _ratio_label(ratio: float | None) -> str:
    if ratio is None:
        return "-"
    return f"{ratio:.3f}x" if ratio < 0.1 else f"{ratio:.2f}x"


def cell_table(cells: list[dict[str, Any]]) -> str:
    """The throughput suite as a fixed-width table: absolute figures and ratios to the floor."""
    header = (
        f"{'db':<8} {'scenario':<9} {'C':>3} {'n':>5} | {'sagas/s':>8} {'floor/s':>8} {'ratio':>6} | "
        f"{'p50 ms':>7} {'floor':>6} {'p99 ms':>7} {'floor':>6} {'p50 x':>6} | {'ovh/step':>8} | "
        f"{'coord CPU':>9} {'RSS MB':>6} | {'calls':>6}"
    )
    lines = [header, "-" * len(header)]
    for cell in cells:
        saga, floor = cell["saga"], cell["floor"]
        lines.append(
            f"{cell['db']:<8} {cell['scenario']:<9} {cell['concurrency']:>3} {saga['ok']:>5} | "
            f"{saga['throughput']:>8.1f} {floor['throughput']:>8.1f} {_fmt(cell['throughput_ratio'], 3):>6} | "
            f"{_fmt(saga['latency_ms']['p50']):>7} {_fmt(floor['latency_ms']['p50']):>6} "
            f"{_fmt(saga['latency_ms']['p99']):>7} {_fmt(floor['latency_ms']['p99']):>6} "
            f"{_fmt(cell['latency_p50_ratio']):>6} | {_fmt(cell['overhead_per_step_ms'], 2):>8} | "
            f"{_fmt(cell['coordinator_cpu_ms_per_saga'], 2):>6} ms {_fmt(cell['coordinator_rss_mb'], 0):>6} | "
            f"{'ok' if cell['verified'] else 'FAILED':>6}"
        )
    lines.append("")
    lines.append(
        "ratio = coordinator sagas/s / floor sagas/s; p50 x = coordinator p50 / floor p50; ovh/step = "
        f"(p50 - floor p50) / {STEPS}; coord CPU = coordinator process CPU (user+sys) per saga; "
        "calls = the participant's exact call counts were verified"
    )
    return "\n".join(lines)


def _cell(cells: list[dict[str, Any]], db: str, scenario: str, concurrency: int) -> dict[str, Any] | None:
    for cell in cells:
        if (cell["db"], cell["scenario"], cell["concurrency"]) == (db, scenario, concurrency):
            return cell
    return None


def evaluate_bars(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each bar of the issue: the measured value, its limit, and met / not met / not measured."""
    cells: list[dict[str, Any]] = results.get("throughput", {}).get("cells", [])
    bars: list[dict[str, Any]] = []

    def add(
        key: str, value: float | None, limit: float, *, at_most: bool, verified: bool = True, at_scale: bool = True
    ) -> None:
        if value is None:
            state = "not measured"
        elif not verified:
            state = "failed run"
        elif not at_scale:
            state = "small scale"
        else:
            state = "met" if (value <= limit if at_most else value >= limit) else "NOT met"
        bars.append({"bar": key, "text": BARS_TEXT[key], "value": value, "limit": limit, "state": state})

    for key, db, scenario, limit in (
        ("happy_sqlite_c50", "sqlite", "happy", 0.33),
        ("happy_postgres_c50", "postgres", "happy", 0.25),
        ("rollback_sqlite_c50", "sqlite", "rollback", 0.25),
        ("retry_sqlite_c50", "sqlite", "retry", 0.25),
    ):
        cell = _cell(cells, db, scenario, 50)
        add(
            key,
            None if cell is None else cell["throughput_ratio"],
            limit,
            at_most=False,
            verified=cell is None or cell["verified"],
        )
    overheads = [c for c in (_cell(cells, db, "happy", 1) for db in ("sqlite", "postgres")) if c is not None]
    worst = max((c["overhead_per_step_ms"] for c in overheads), default=None)
    add("overhead_c1", worst, 2.0, at_most=True, verified=all(c["verified"] for c in overheads))

    memory = results.get("memory")
    add(
        "memory",
        None if memory is None else memory["rss_ratio"],
        1.1,
        at_most=True,
        verified=memory is None or memory["verified"],
        at_scale=memory is None or (memory["small"] >= 5000 and memory["large"] >= 50000),
    )
    api_scale = results.get("api", {}).get("rows", 0) >= 1_000_000
    api = results.get("api", {}).get("databases", {})
    worst_get = max((d["get_one"]["latency_ms"]["p99"] for d in api.values() if d.get("get_one")), default=None)
    worst_list = max((d["list_pages"]["latency_ms"]["p99"] for d in api.values() if d.get("list_pages")), default=None)
    add("api_get", worst_get, 20.0, at_most=True, at_scale=api_scale)
    add("api_list", worst_list, 30.0, at_most=True, at_scale=api_scale)
    worst_console = max(
        (d["console_list"]["latency_ms"]["p99"] for d in api.values() if d.get("console_list")), default=None
    )
    for key, figure in (("api_key", "by_key"), ("api_attention", "attention")):
        worst = max((d[figure]["latency_ms"]["p99"] for d in api.values() if d.get(figure)), default=None)
        add(key, worst, 30.0, at_most=True, at_scale=api_scale)
    add("console_list", worst_console, 50.0, at_most=True, at_scale=api_scale)
    _purge_bars(results, add)
    recovery_scale = results.get("recovery", {}).get("executions", 0) >= 10_000
    recovery = results.get("recovery", {}).get("databases", {})
    first = max((d["first_resumed_s"] for d in recovery.values() if d.get("first_resumed_s") is not None), default=None)
    last = max((d["all_terminal_s"] for d in recovery.values() if d.get("all_terminal_s") is not None), default=None)
    recovered = all(d.get("verified", False) for d in recovery.values())
    add("recovery_first", first, 5.0, at_most=True, verified=recovered, at_scale=recovery_scale)
    add("recovery_all", last, 60.0, at_most=True, verified=recovered, at_scale=recovery_scale)
    return bars


def _purge_bars(results: dict[str, Any], add: Any) -> None:
    """The purge part's bars: the worst database of each (ratios within one run, growth in MB)."""
    purge = results.get("purge", {})
    measured = list(purge.get("databases", {}).values())
    scale = purge.get("rows", 0) >= 1_000_000
    verified = all(d["without"]["verified"] and d["purging"]["verified"] for d in measured)
    ratios = [d["throughput_ratio"] for d in measured if d.get("throughput_ratio") is not None]
    add("purge_throughput", min(ratios, default=None), 0.8, at_most=False, verified=verified, at_scale=scale)
    get_ratios = [d["get_p99_ratio"] for d in measured if d.get("get_p99_ratio") is not None]
    add("purge_get", max(get_ratios, default=None), 2.0, at_most=True, verified=verified, at_scale=scale)
    growth = [d["purging"]["growth_mb"] for d in measured]
    add("purge_growth", max(growth, default=None), 0.0, at_most=True, verified=verified, at_scale=scale)


def bars_table(bars: list[dict[str, Any]]) -> str:
    """The bars as lines of text."""
    lines = []
    for bar in bars:
        value = "-" if bar["value"] is None else f"{bar['value']:.3g}"
        lines.append(f"  [{bar['state']:^12}] {bar['text']:<62} measured {value}")
    return "\n".join(lines)


def write_json(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")


def write_chart(path: Path, results: dict[str, Any]) -> bool:
    """Throughput and p50/p99 per scenario and database, with the floor drawn; False if no cells."""
    cells: list[dict[str, Any]] = results.get("throughput", {}).get("cells", [])
    if not cells:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dbs = [db for db in ("sqlite", "postgres") if any(c["db"] == db for c in cells)]
    fig, axes = plt.subplots(len(dbs), 2, figsize=(15, 4.8 * len(dbs)), squeeze=False)
    for row, db in enumerate(dbs):
        mine = [c for c in cells if c["db"] == db]
        labels = [f"{c['scenario']}\nC={c['concurrency']}" for c in mine]
        xs = list(range(len(mine)))
        ax = axes[row][0]
        ax.bar(xs, [c["saga"]["throughput"] for c in mine], color="#3b7dd8", label="coordinator")
        ax.scatter(
            xs,
            [c["floor"]["throughput"] for c in mine],
            marker="_",
            s=900,
            color="black",
            linewidths=2.5,
            label="floor (no coordinator)",
            zorder=3,
        )
        for x, cell in zip(xs, mine, strict=True):
            ax.annotate(
                _ratio_label(cell["throughput_ratio"]) + ("" if cell["verified"] else " FAILED"),
                (x, cell["saga"]["throughput"]),
                ha="center",
                va="bottom",
                fontsize=8,
            )
        ax.set_yscale("log")
        ax.set_xticks(xs, labels, fontsize=8)
        ax.set_ylabel("sagas/s (log)")
        ax.set_title(f"{db}: throughput (label: ratio to floor)")
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, frameon=False)
        ax.grid(axis="y", alpha=0.3)

        ax = axes[row][1]
        width = 0.38
        ax.bar(
            [x - width / 2 for x in xs],
            [c["saga"]["latency_ms"]["p50"] or 0 for c in mine],
            width,
            color="#3b7dd8",
            label="coordinator p50",
        )
        ax.bar(
            [x + width / 2 for x in xs],
            [c["saga"]["latency_ms"]["p99"] or 0 for c in mine],
            width,
            color="#e8833a",
            label="coordinator p99",
        )
        ax.scatter(
            [x - width / 2 for x in xs],
            [c["floor"]["latency_ms"]["p50"] or 0 for c in mine],
            marker="_",
            s=300,
            color="black",
            linewidths=2.5,
            label="floor p50 / p99",
            zorder=3,
        )
        ax.scatter(
            [x + width / 2 for x in xs],
            [c["floor"]["latency_ms"]["p99"] or 0 for c in mine],
            marker="_",
            s=300,
            color="black",
            linewidths=2.5,
            zorder=3,
        )
        ax.set_yscale("log")
        ax.set_xticks(xs, labels, fontsize=8)
        ax.set_ylabel("saga latency, ms (log)")
        ax.set_title(f"{db}: latency per saga")
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, frameon=False)
        ax.grid(axis="y", alpha=0.3)
    machine = results.get("machine", {})
    fig.suptitle(
        f"saga coordinator benchmark · {machine.get('cpu', '?')} · {machine.get('cores', '?')} cores · "
        f"Python {machine.get('python', '?')} · {results.get('throughput', {}).get('measured_at', '')}",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def markdown(results: dict[str, Any]) -> str:
    """`latest.md`: the machine, the throughput table and the bars, ready to paste into a README."""
    machine = results.get("machine", {})
    lines = [
        f"Measured {results.get('generated_at', '?')} on {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, "
        f"{machine.get('memory_gb', '?')} GB, Python {machine.get('python', '?')}, "
        f"{', '.join(machine.get('databases', []))}.",
        "",
        "Parts: "
        + "; ".join(
            f"{part} {results[part].get('measured_at', '?')} (commit `{results[part].get('commit', '?')}`)"
            for part in ("throughput", "profile", "memory", "api", "purge", "recovery", "participants")
            if part in results
        )
        + ".",
        "",
    ]
    cells: list[dict[str, Any]] = results.get("throughput", {}).get("cells", [])
    if cells:
        lines += [
            "| db | scenario | C | sagas/s | floor/s | ratio | p50 ms | floor p50 | p99 ms | floor p99 "
            "| overhead/step ms | coordinator CPU ms/saga | calls |",
            "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
        ]
        for c in cells:
            saga, floor = c["saga"], c["floor"]
            lines.append(
                f"| {c['db']} | {c['scenario']} | {c['concurrency']} | {saga['throughput']:.1f} | "
                f"{floor['throughput']:.1f} | {_fmt(c['throughput_ratio'], 3)} | {_fmt(saga['latency_ms']['p50'])} | "
                f"{_fmt(floor['latency_ms']['p50'])} | {_fmt(saga['latency_ms']['p99'])} | "
                f"{_fmt(floor['latency_ms']['p99'])} | {_fmt(c['overhead_per_step_ms'], 2)} | "
                f"{_fmt(c['coordinator_cpu_ms_per_saga'], 1)} | {'verified' if c['verified'] else 'FAILED'} |"
            )
        lines.append("")
    lines += _api_markdown(results.get("api", {})) + _purge_markdown(results.get("purge", {}))
    bars = results.get("bars", [])
    if bars:
        lines += ["| bar | measured | state |", "|---|--:|---|"]
        for bar in bars:
            value = "-" if bar["value"] is None else f"{bar['value']:.3g}"
            lines.append(f"| {bar['text']} | {value} | {bar['state']} |")
        lines.append("")
    return "\n".join(lines)


_API_ROWS = (
    ("get_one", "GET one execution"),
    ("get_one_c10", "GET one execution, C=10"),
    ("events_page", "GET its events"),
    ("list_pages", "a list page (4 lists x 100 pages)"),
    ("by_key", "?key=<key> (one of 1M)"),
    ("attention", "?attention=true (first page)"),
    ("console_list", "console list page"),
    ("console_execution", "console execution page"),
)


def _api_markdown(api: dict[str, Any]) -> list[str]:
    dbs = api.get("databases", {})
    if not dbs:
        return []
    kinds = list(dbs)
    lines = [
        f"API latency with {api.get('rows', 0):,} executions stored (one request at a time unless said; "
        "n = requests measured):",
        "",
        "| request | " + " | ".join(f"{k} p50 ms | {k} p99 ms | n" for k in kinds) + " |",
        "|---|" + "--:|--:|--:|" * len(kinds),
    ]
    for key, label in _API_ROWS:
        cells = []
        for kind in kinds:
            figure = dbs[kind].get(key)
            if figure is None:
                cells.append("- | - | -")
                continue
            lat = figure["latency_ms"]
            cells.append(f"{_fmt(lat['p50'])} | {_fmt(lat['p99'])} | {figure['ok']}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _purge_markdown(purge: dict[str, Any]) -> list[str]:
    dbs = purge.get("databases", {})
    if not dbs:
        return []
    lines = [
        f"Retention under load: {purge.get('rows', 0):,} finished executions stored, the happy workload at C=50 "
        f"for {purge.get('seconds', 0):.0f} s without purging, then {purge.get('seconds', 0):.0f} s with "
        f"`SAGA_RETENTION={purge.get('retention', '?')}` (GET one: a probe every 20 ms; n = sagas / requests):",
        "",
        "| db | phase | sagas/s (n) | GET one p50 / p99 ms (n) | deleted (/s) | size before -> after MB | "
        "free pages / dead tuples |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    for kind, d in dbs.items():
        for phase in ("without", "purging"):
            p = d[phase]
            load, probe, after = p["load"], p["probe"], p["storage_after"]
            spare = after.get("freelist_count", after.get("dead_tuples"))
            lines.append(
                f"| {kind} | {phase} | {load['throughput']:.1f} ({load['ok']}) | "
                f"{_fmt(probe['latency_ms']['p50'])} / {_fmt(probe['latency_ms']['p99'])} ({probe['ok']}) | "
                f"{p['deleted']} ({p['deleted_per_s']:.0f}) | "
                f"{p['storage_before']['bytes'] / 2**20:.0f} -> {after['bytes'] / 2**20:.0f} | {spare} |"
            )
        lines.append(
            f"| {kind} | ratio | {_fmt(d['throughput_ratio'], 2)} x | {_fmt(d['get_p99_ratio'], 2)} x (p99) | | | |"
        )
    return [*lines, ""]
