"""Line charts as inline SVG, drawn on the server: no script library, no
build step, nothing the console's Content-Security-Policy has to allow.

Each chart is an image with a title and a description (what it shows, over
which window, its latest value, lowest and highest), and the latest value is
also printed beside it as text: the numbers are readable without the picture.
"""

from __future__ import annotations

from datetime import UTC, datetime

from markupsafe import Markup, escape

from services.console.history import Series

WIDTH = 320
HEIGHT = 84
PAD_X = 4  # the last point's dot stays whole
PAD_TOP = 6
PAD_BOTTOM = 14  # room for the time labels


def number(value: float | None, unit: str) -> str:
    """A value as the chart's caption says it: rates with a decimal, counts whole."""
    if value is None:
        return "no data"
    text = f"{value:.0f}" if unit == "messages" or value >= 100 else f"{value:.1f}"
    return f"{text} {unit}" if unit == "messages" else f"{text}{unit}"


def _clock(at: float, span: float) -> str:
    # Seconds only when the line is short enough that minutes would repeat.
    return datetime.fromtimestamp(at, UTC).strftime("%H:%M:%S" if span < 600 else "%H:%M")


def line_chart(series: Series, window: str, uid: str) -> Markup:
    chart = series.chart
    points = series.points
    title_id, desc_id = f"{uid}-t", f"{uid}-d"
    if points:
        values = [v for _, v in points]
        low, high = min(values), max(values)
        desc = (
            f"{chart.title} over the last {window}: now {number(series.latest, chart.unit)}, "
            f"lowest {number(low, chart.unit)}, highest {number(high, chart.unit)}."
        )
    else:
        desc = f"{chart.title} over the last {window}: no data."
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{title_id} {desc_id}" preserveAspectRatio="none">',
        f'<title id="{title_id}">{escape(chart.title)}</title>',
        f'<desc id="{desc_id}">{escape(desc)}</desc>',
        f'<line class="axis" x1="0" y1="{HEIGHT - PAD_BOTTOM}" x2="{WIDTH}" '
        f'y2="{HEIGHT - PAD_BOTTOM}"/>',
    ]
    if points:
        parts.extend(_plot(points))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every piece above is a number or escaped


def _plot(points: list[tuple[float, float]]) -> list[str]:
    first, last = points[0][0], points[-1][0]
    top = max(v for _, v in points)
    # A flat zero line sits on the axis; anything else fills the height.
    scale_y = (HEIGHT - PAD_TOP - PAD_BOTTOM) / top if top > 0 else 0.0
    span = last - first

    def x(at: float) -> float:
        return PAD_X + (at - first) / span * (WIDTH - 2 * PAD_X) if span else WIDTH / 2

    def y(value: float) -> float:
        return HEIGHT - PAD_BOTTOM - value * scale_y

    coords = " ".join(f"{x(at):.1f},{y(v):.1f}" for at, v in points)
    base = HEIGHT - PAD_BOTTOM
    out = []
    if len(points) > 1:
        area = f"{x(first):.1f},{base} {coords} {x(last):.1f},{base}"
        out.append(f'<polygon class="area" points="{area}"/>')
        out.append(f'<polyline class="line" points="{coords}"/>')
    at, value = points[-1]
    out.append(f'<circle class="dot" cx="{x(at):.1f}" cy="{y(value):.1f}" r="2.5"/>')
    label_y = HEIGHT - 2
    out.append(f'<text class="tick" x="{PAD_X}" y="{label_y}">{_clock(first, span)}</text>')
    out.append(
        f'<text class="tick" x="{WIDTH - PAD_X}" y="{label_y}" text-anchor="end">'
        f"{_clock(last, span)}</text>"
    )
    return out
