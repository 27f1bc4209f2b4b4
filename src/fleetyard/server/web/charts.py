"""Charts as SVG, rendered on the server: a line chart over time and horizontal bars.

No JavaScript library: the page gets finished SVG (works offline, prints, reads on a
phone). Every label is escaped. A line's `<path>` carries `data-points` (how many
samples it draws) and each sample is a `<circle>` (up to `MAX_CIRCLES` per line), so a
test - or a person with devtools - can count what was drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from markupsafe import Markup, escape

__all__ = ["COLOURS", "Line", "bar_chart", "line_chart", "nice_ticks", "time_ticks"]

Line = tuple[str, Sequence[tuple[datetime, float]]]  # label, (time, value) oldest first
COLOURS = ("#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2")
MAX_CIRCLES = 200
STEPS = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round values (1, 2 or 5 x 10^k apart) covering [low, high]."""
    if high <= low:
        high = low + 1.0
    raw = (high - low) / max(1, count)
    scale = 10.0 ** len(str(int(raw))) / 10.0 if raw >= 1 else 1.0
    while scale > raw:
        scale /= 10.0
    step = next(m * scale for m in (1, 2, 5, 10) if m * scale >= raw)
    first = (low // step) * step
    out, v = [], first
    while v <= high + step * 1e-9:
        out.append(round(v, 10))
        v += step
    if out[-1] < high:
        out.append(round(v, 10))
    return out


def time_ticks(start: datetime, end: datetime, count: int = 6) -> list[datetime]:
    """Whole-minute/hour/day times between start and end, about `count` of them."""
    span = max(1.0, (end - start).total_seconds())
    step = next((s for s in STEPS if span / s <= count), STEPS[-1])
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    t0 = start.astimezone(UTC)
    first = epoch + timedelta(seconds=-(-(t0 - epoch).total_seconds() // step) * step)
    out = []
    t = first
    while t <= end:
        out.append(t)
        t += timedelta(seconds=step)
    return out


def _label(t: datetime, span: float) -> str:
    t = t.astimezone(UTC)
    return t.strftime("%H:%M") if span <= 86400 else t.strftime("%m-%d %H:%M") if span <= 3 * 86400 \
        else t.strftime("%Y-%m-%d")


def _fmt(v: float) -> str:
    """A short number: 1,234 / 12.5 / 0.0042 (two significant digits below 1)."""
    if v == 0:
        return "0"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 1:
        return f"{v:,.2f}".rstrip("0").rstrip(".")
    return f"{v:.2g}" if abs(v) >= 0.001 else ("<0.001" if v > 0 else ">-0.001")


def line_chart(title: str, lines: Sequence[Line], *, unit: str = "", width: int = 640,
               height: int = 240) -> Markup:
    """A line chart of `lines` with value and time axes; "no samples yet" when all are empty."""
    points = [(t, v) for _label_, pts in lines for t, v in pts]
    head = (f'<svg class="chart line-chart" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>')
    if not points:
        return Markup(f'{head}<text x="{width / 2}" y="{height / 2}" text-anchor="middle" class="empty">'
                      'no samples yet</text></svg>')
    left, right, top, bottom = 56, 12, 12, 28
    t_lo, t_hi = min(t for t, _ in points), max(t for t, _ in points)
    if t_hi <= t_lo:
        t_lo, t_hi = t_lo - timedelta(minutes=30), t_hi + timedelta(minutes=30)
    v_ticks = nice_ticks(min(0.0, min(v for _, v in points)), max(v for _, v in points))
    v_lo, v_hi = v_ticks[0], v_ticks[-1]
    span = (t_hi - t_lo).total_seconds()
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(t: datetime) -> float:
        return round(left + plot_w * (t - t_lo).total_seconds() / span, 1)

    def y(v: float) -> float:
        return round(top + plot_h * (1 - (v - v_lo) / (v_hi - v_lo)), 1)

    parts = [head, f'<g class="axis"><line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" '
             f'y2="{top + plot_h}"/><line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}"/>']
    for v in v_ticks:
        parts.append(f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{y(v)}" y2="{y(v)}"/>'
                     f'<text x="{left - 6}" y="{y(v) + 4}" text-anchor="end">{escape(_fmt(v))}</text>')
    for t in time_ticks(t_lo, t_hi):
        anchor = "end" if x(t) > width - 30 else "middle"  # the last label stays inside the chart
        parts.append(f'<text class="tick" x="{x(t)}" y="{height - 8}" text-anchor="{anchor}">'
                     f'{escape(_label(t, span))}</text>')
    parts.append(f'<text x="{left}" y="{top - 2}" class="unit">{escape(unit)}</text></g>')
    for i, (label, pts) in enumerate(lines):
        colour = COLOURS[i % len(COLOURS)]
        d = " ".join(f"{'M' if j == 0 else 'L'}{x(t)},{y(v)}" for j, (t, v) in enumerate(pts))
        parts.append(f'<g class="series" data-label="{escape(label)}"><path d="{d}" fill="none" '
                     f'stroke="{colour}" stroke-width="2" data-points="{len(pts)}"/>')
        for t, v in list(pts)[-MAX_CIRCLES:]:
            parts.append(f'<circle cx="{x(t)}" cy="{y(v)}" r="2.5" fill="{colour}">'
                         f'<title>{escape(label)} {escape(_fmt(v))} {escape(unit)} at '
                         f'{t.astimezone(UTC):%Y-%m-%d %H:%M} UTC</title></circle>')
        parts.append("</g>")
    parts.append("</svg>")
    legend = "".join(f'<li><span class="swatch c{i % len(COLOURS)}"></span>'
                     f"{escape(label)}</li>" for i, (label, _pts) in enumerate(lines))
    return Markup("".join(parts) + (f'<ul class="legend">{legend}</ul>' if len(lines) > 1 else ""))


def bar_chart(title: str, rows: Sequence[tuple[str, float]], *, unit: str = "", width: int = 640) -> Markup:
    """Horizontal bars, one per (label, value), longest = the largest value."""
    row_h, left = 26, 160
    height = max(1, len(rows)) * row_h + 8
    head = (f'<svg class="chart bar-chart" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>')
    if not rows:
        return Markup(f'{head}<text x="{width / 2}" y="18" text-anchor="middle" class="empty">nothing yet</text>'
                      "</svg>")
    top = max((v for _, v in rows), default=0.0) or 1.0
    plot = width - left - 110
    parts = [head]
    for i, (label, value) in enumerate(rows):
        y = 4 + i * row_h
        w = round(plot * max(0.0, value) / top, 1)
        parts.append(f'<g class="bar" data-value="{value:g}"><text x="{left - 8}" y="{y + 16}" text-anchor="end">'
                     f'{escape(label[:24])}</text><rect x="{left}" y="{y + 3}" width="{w}" height="{row_h - 8}" '
                     f'fill="{COLOURS[0]}"><title>{escape(label)}: {escape(_fmt(value))} {escape(unit)}</title>'
                     f'</rect><text x="{left + w + 6}" y="{y + 16}">{escape(_fmt(value))} {escape(unit)}</text></g>')
    parts.append("</svg>")
    return Markup("".join(parts))
