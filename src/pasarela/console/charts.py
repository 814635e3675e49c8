"""Small horizontal bar charts as inline SVG, drawn on the server (no script, no library)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

ROW = 22  # pixels per bar
LABEL = 150  # pixels for the label column
VALUE = 80  # pixels for the figure at the end of each bar


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    segments: tuple[tuple[float, str], ...]  # (value, CSS class) stacked left to right
    text: str  # the figure written after the bar


def bar(label: str, value: float | None, text: str, css: str = "ok") -> Bar:
    return Bar(label, ((value or 0.0, css),), text)


def bar_chart(bars: Sequence[Bar], *, title: str, width: int = 460, scale: float | None = None) -> Markup:
    """A chart of `bars`; `scale` is the value of a full bar (default: the largest total)."""
    if not bars:
        return Markup('<p class="empty">{}</p>').format(f"{title}: no data yet")
    top = scale or max((sum(v for v, _ in b.segments) for b in bars), default=0.0) or 1.0
    span = width - LABEL - VALUE
    height = ROW * len(bars) + 4
    parts = [
        Markup('<svg class="chart" role="img" viewBox="0 0 {w} {h}" width="{w}" height="{h}">').format(
            w=width, h=height
        ),
        Markup("<title>{}</title>").format(title),
    ]
    for row, item in enumerate(bars):
        y = row * ROW + 2
        parts.append(
            Markup('<text x="{x}" y="{y}" class="label">{t}</text>').format(
                x=LABEL - 6, y=y + 14, t=_clip(item.label)
            )
        )
        x = float(LABEL)
        for value, css in item.segments:
            length = max(0.0, min(value / top, 1.0)) * span
            if length > 0:
                parts.append(
                    Markup('<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{h}" class="{c}"/>').format(
                        x=x, y=y + 2, w=length, h=ROW - 6, c=css
                    )
                )
            x += length
        parts.append(
            Markup('<text x="{x:.1f}" y="{y}" class="figure">{t}</text>').format(
                x=x + 4, y=y + 14, t=item.text
            )
        )
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def _clip(label: str, limit: int = 22) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"
