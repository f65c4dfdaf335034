"""The timeline's bars and waits as SVG text, written here rather than in Jinja.

A long execution has one bar per attempt and one wait per retry (the bench's: 1,800 and 1,700);
Jinja's per-value escaping and `round` filter calls made them a sixth of the page's drawing time.
The shapes are the template's (`_timeline.svg.j2` draws the rows, ticks and marks); the text of a
title or label can hold a participant's error, so it goes through `html.escape`.
"""

from __future__ import annotations

from html import escape

from markupsafe import Markup

from coordinator.console.runs import step_page
from coordinator.console.timeline import Bar, Gap


def _n(value: float) -> str:
    """A coordinate as the template wrote it (`|round(1)`), the same text some faster: a whole
    number stays whole, like `round`'s."""
    return str(value) if type(value) is int else f"{value:.1f}"


def gaps_svg(gaps: list[Gap]) -> Markup:
    """Each retry's wait: a line with its reason as a title, and a label where it fits."""
    parts: list[str] = []
    for gap in gaps:
        y = _n(gap.y)
        label = ""
        if gap.label:
            label = (
                f'<text x="{_n((gap.x1 + gap.x2) / 2)}" y="{_n(gap.y - 3)}" text-anchor="middle">'
                f"{escape(gap.label)}</text>"
            )
        parts.append(
            f'<g class="gap"><title>{escape(gap.title)}</title>'
            f'<line x1="{_n(gap.x1)}" y1="{y}" x2="{_n(gap.x2)}" y2="{y}"></line>{label}</g>\n'
        )
    return Markup("".join(parts))  # noqa: S704 - the text above was escaped


def bars_svg(bars: list[Bar], execution_id: str) -> Markup:
    """Each attempt: a bar with its title, and its label inside the bar or after it; a run of
    attempts (a long execution's, see runs.py) links to its step's page, which draws each of them."""
    parts: list[str] = []
    for bar in bars:
        label = ""
        if bar.label:
            x = bar.x + 3 if bar.label_inside else bar.x + bar.width + 3
            where = "inside" if bar.label_inside else "outside"
            label = f'<text x="{_n(x)}" y="{_n(bar.y + 12)}" class="{where}">{escape(bar.label)}</text>'
        drawn = (
            f'<g class="{escape(bar.css)}"><title>{escape(bar.title)}</title>'
            f'<rect x="{_n(bar.x)}" y="{_n(bar.y)}" width="{_n(bar.width)}" height="16" rx="2"></rect>{label}</g>'
        )
        if bar.run_of is not None:
            drawn = f'<a href="{escape(step_page(execution_id, bar.run_of))}">{drawn}</a>'
        parts.append(drawn + "\n")
    return Markup("".join(parts))  # noqa: S704 - the text above was escaped
