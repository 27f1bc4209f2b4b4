"""The fleet map as SVG: an equirectangular projection fit to the sites' and regions' locations.

Sites are circles coloured by state (ok / stale / down / unknown), user regions are
squares; every marker has a label and a `<title>`, and each site links to its page.
Longitude maps to x and latitude to y linearly (equirectangular), over the bounding box
of all locations plus a margin, keeping the aspect ratio (x scaled by cos(mean lat)).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = ["STATE_COLOURS", "MapPoint", "fleet_map", "project"]

STATE_COLOURS = {"ok": "#16a34a", "stale": "#d97706", "down": "#dc2626", "unknown": "#6b7280"}


@dataclass(frozen=True)
class MapPoint:
    """A marker: a site (with its state and page) or a user region."""

    name: str
    lat: float
    lon: float
    kind: str  # site | region
    state: str = "unknown"
    href: str | None = None


def project(points: Sequence[tuple[float, float]], width: float, height: float, pad: float = 40.0,
            label_room: float = 0.0, min_span: float = 2.0) -> list[tuple[float, float]]:
    """(lat, lon) -> (x, y) inside width x height with `pad` margins (and `label_room` more on
    the right, for labels); north up, east right; a box at least `min_span` degrees wide and
    high, so sites a few km apart are not blown up to the whole map."""
    if not points:
        return []
    lats = [p[0] for p in points]
    lons = [p[1] for p in points]
    k = math.cos(math.radians((min(lats) + max(lats)) / 2)) or 1e-6
    span_x = max((max(lons) - min(lons)) * k, min_span * k)
    span_y = max(max(lats) - min(lats), min_span)
    scale = min((width - 2 * pad - label_room) / span_x, (height - 2 * pad) / span_y)
    cx = (min(lons) + max(lons)) / 2
    cy = (min(lats) + max(lats)) / 2
    mid_x = pad + (width - 2 * pad - label_room) / 2
    return [(round(mid_x + (lon - cx) * k * scale, 1), round(height / 2 - (lat - cy) * scale, 1))
            for lat, lon in points]


def _label_rows(xy: Sequence[tuple[float, float]], line: float = 15.0, span: float = 90.0) -> list[float]:
    """A y for each label: below any earlier label it would overlap (close sites stay readable)."""
    placed: list[tuple[float, float]] = []
    out: list[float] = []
    for x, y in xy:
        ly = y - 8
        while any(abs(px - x) < span and abs(py - ly) < line for px, py in placed):
            ly += line
        placed.append((x, ly))
        out.append(ly)
    return out


def fleet_map(points: Sequence[MapPoint], *, width: int = 720, height: int = 400) -> Markup:
    """The map; a note instead of markers when there is nothing to show."""
    head = (f'<svg class="fleet-map" viewBox="0 0 {width} {height}" role="img" aria-label="Map of the fleet" '
            f'xmlns="http://www.w3.org/2000/svg"><title>Map of the fleet</title>'
            f'<rect class="sea" x="0" y="0" width="{width}" height="{height}"/>')
    if not points:
        return Markup(f'{head}<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no sites yet</text></svg>')
    order = sorted(range(len(points)), key=lambda i: (points[i].kind == "site", -points[i].lat, points[i].name))
    points = [points[i] for i in order]
    xy = project([(p.lat, p.lon) for p in points], width, height, label_room=90.0)
    rows = _label_rows(xy)
    parts = [head]
    for p, (x, y), ly in zip(points, xy, rows, strict=True):
        name = escape(p.name)
        if p.kind == "region":
            parts.append(f'<g class="region" data-region="{name}"><rect x="{x - 14}" y="{y - 14}" width="28" '
                         f'height="28" fill="none" stroke="#1e3a8a" stroke-width="2" stroke-dasharray="4 2">'
                         f'<title>region {name}</title>'
                         f'</rect><text x="{x + 18}" y="{ly + 4}" class="region-label">{name}</text></g>')
            continue
        colour = STATE_COLOURS.get(p.state, STATE_COLOURS["unknown"])
        marker = (f'<circle cx="{x}" cy="{y}" r="9" fill="{colour}" stroke="#fff" stroke-width="2">'
                  f'<title>{name}: {escape(p.state)}</title></circle>'
                  f'<text x="{x + 12}" y="{ly + 4}" class="site-label">{name}</text>')
        if p.href:
            marker = f'<a href="{escape(p.href)}">{marker}</a>'
        parts.append(f'<g class="site state-{escape(p.state)}" data-site="{name}" data-state="{escape(p.state)}">'
                     f"{marker}</g>")
    parts.append("</svg>")
    return Markup("".join(parts))
