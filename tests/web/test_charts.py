"""The SVG charts and the fleet map: real point lists in, countable, escaped SVG out."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from fleetyard.server.web.charts import bar_chart, line_chart, nice_ticks, time_ticks
from fleetyard.server.web.fleetmap import STATE_COLOURS, MapPoint, fleet_map, project

SVG = "{http://www.w3.org/2000/svg}"
T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _svg(markup: str) -> ET.Element:
    return ET.fromstring(markup[:markup.index("</svg>") + 6])


def _power() -> list[tuple[datetime, float]]:
    """Six hours of a site's IT power every 10 minutes: a ramp from 1.2 kW to 1.9 kW."""
    return [(T0 + timedelta(minutes=10 * i), 1.2 + 0.02 * i) for i in range(37)]


def test_line_chart_draws_every_point_inside_its_axes() -> None:
    svg = _svg(line_chart("fra-1 IT kW", [("IT kW", _power())], unit="kW", width=640, height=240))
    path = svg.find(f".//{SVG}path")
    assert path is not None and path.get("data-points") == "37"
    circles = svg.findall(f".//{SVG}circle")
    assert len(circles) == 37
    xs = [float(c.get("cx", "nan")) for c in circles]
    ys = [float(c.get("cy", "nan")) for c in circles]
    assert xs == sorted(xs) and 56 <= xs[0] < xs[-1] <= 640 - 12  # time runs left to right within the plot
    assert ys == sorted(ys, reverse=True) and all(12 <= y <= 240 - 28 for y in ys)  # rising values go up
    ticks = [t.text for t in svg.findall(f".//{SVG}text") if t.get("class") == "tick"]
    assert ticks[0] == "12:00" and "18:00" in ticks and len(ticks) >= 3


def test_line_chart_value_axis_covers_the_data_from_zero() -> None:
    svg = _svg(line_chart("W", [("GPU W", [(T0, 180.0), (T0 + timedelta(hours=1), 730.0)])], unit="W"))
    labels = [t.text for t in svg.findall(f".//{SVG}g[@class='axis']/{SVG}text")
              if t.get("text-anchor") == "end" and t.get("class") != "tick"]
    values = [float((v or "").replace(",", "")) for v in labels]
    assert values[0] == 0 and values[-1] >= 730 and values == sorted(values)


def test_line_chart_without_samples_says_so() -> None:
    out = line_chart("empty", [("IT kW", []), ("capacity", [])])
    assert "no samples yet" in out and "<circle" not in out


def test_line_chart_of_one_point_and_several_lines_has_a_legend() -> None:
    out = line_chart("two", [("a", [(T0, 1.0)]), ("b", [(T0, 2.0)])])
    svg = _svg(out)
    assert [p.get("data-points") for p in svg.findall(f".//{SVG}path")] == ["1", "1"]
    assert out.count("<li>") == 2


def test_labels_are_escaped() -> None:
    out = line_chart("<script>x</script>", [("<b>", [(T0, 1.0)])])
    assert "<script>" not in out and "&lt;script&gt;" in out and "<b>" not in out
    bars = bar_chart("t", [("<img src=x>", 3.0)])
    assert "<img" not in bars and "&lt;img" in bars


def test_bar_chart_bars_are_proportional() -> None:
    svg = _svg(bar_chart("cost by team", [("search", 40.0), ("chat", 10.0), ("idle", 0.0)], unit="$"))
    widths = [float(r.get("width", "nan")) for r in svg.findall(f".//{SVG}rect")]
    assert widths[0] > 0 and abs(widths[1] * 4 - widths[0]) < 0.5 and widths[2] == 0
    assert [g.get("data-value") for g in svg.findall(f".//{SVG}g")] == ["40", "10", "0"]
    assert "nothing yet" in bar_chart("none", [])


def test_nice_and_time_ticks() -> None:
    assert nice_ticks(0, 730) == [0, 200, 400, 600, 800]
    assert nice_ticks(0, 1.9) == [0, 0.5, 1.0, 1.5, 2.0]
    ticks = time_ticks(T0 + timedelta(minutes=7), T0 + timedelta(hours=6))
    assert ticks[0] == T0 + timedelta(hours=1) and all(t.minute == 0 for t in ticks)


def test_projection_keeps_north_up_east_right_and_fits() -> None:
    # Frankfurt, Paris, Amsterdam, Singapore
    pts = [(50.11, 8.68), (48.86, 2.35), (52.37, 4.90), (1.35, 103.82)]
    xy = project(pts, 720, 400, pad=40)
    assert all(40 - 1e-6 <= x <= 680 + 1e-6 and 40 - 1e-6 <= y <= 360 + 1e-6 for x, y in xy)
    (fx, fy), (px, _py), (_ax, ay), (sx, sy) = xy
    assert px < fx < sx  # Paris west of Frankfurt west of Singapore
    assert ay < fy < sy  # Amsterdam north of Frankfurt north of Singapore
    assert project([(10.0, 20.0)], 100, 100) == [(50.0, 50.0)]  # one point: the middle


def test_fleet_map_colours_sites_by_state_and_draws_regions() -> None:
    out = fleet_map([MapPoint("fra-1", 50.1, 8.7, "site", "ok", "/ui/sites/fra-1"),
                     MapPoint("par-1", 48.9, 2.4, "site", "down", "/ui/sites/par-1"),
                     MapPoint("<eu>", 50.0, 5.0, "region")])
    svg = _svg(out)
    sites = {g.get("data-site"): g for g in svg.findall(f".//{SVG}g") if g.get("data-site")}
    assert set(sites) == {"fra-1", "par-1"}
    fill = {n: g.find(f".//{SVG}circle").get("fill") for n, g in sites.items()}  # type: ignore[union-attr]
    assert fill == {"fra-1": STATE_COLOURS["ok"], "par-1": STATE_COLOURS["down"]}
    assert re.search(r'<a href="/ui/sites/par-1">', out)
    assert len(svg.findall(f".//{SVG}rect")) == 2  # the sea and the one region square
    assert "&lt;eu&gt;" in out and "<eu>" not in out
    assert "no sites yet" in fleet_map([])
