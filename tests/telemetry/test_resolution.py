"""Choosing a history's resolution from its range (no database)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fleetyard.services.telemetry.query import InvalidQuery, pick_resolution
from fleetyard.services.telemetry.retention import Retention
from tests.telemetry.helpers import T0

NOW = T0 + timedelta(days=400)
DEFAULT = Retention()


@pytest.mark.parametrize(("span", "want"), [
    (timedelta(minutes=10), 0), (timedelta(hours=2, minutes=45), 0), (timedelta(hours=3), 60),
    (timedelta(hours=33), 60), (timedelta(hours=34), 3600), (timedelta(days=7), 3600),
    (timedelta(days=365), 3600),
])
def test_the_finest_resolution_under_the_point_target(span: timedelta, want: int) -> None:
    assert pick_resolution(NOW - span, NOW, None, DEFAULT, NOW) == want


def test_retention_decides_before_points() -> None:
    assert pick_resolution(NOW - timedelta(hours=7), NOW - timedelta(hours=6, minutes=50), None, DEFAULT, NOW) == 60
    short = Retention(raw=timedelta(minutes=30), minute=timedelta(hours=2))
    assert pick_resolution(NOW - timedelta(hours=1), NOW, None, short, NOW) == 60
    assert pick_resolution(NOW - timedelta(hours=3), NOW, None, short, NOW) == 3600


@pytest.mark.parametrize(("start", "end", "resolution", "reason"), [
    (NOW, NOW, None, "must be after start"),
    (NOW - timedelta(days=366), NOW, None, "older than the longest retention (365 d)"),
    (NOW - timedelta(hours=7), NOW, 0, "resolution 0 is kept for 6 h"),
    (NOW - timedelta(days=8), NOW, 60, "resolution 60 is kept for 7 d"),
    (NOW - timedelta(hours=1), NOW, 5, "expected one of 0 (raw), 60, 3600"),
    (NOW - timedelta(days=20), NOW, 60, "resolution 60 is kept for 7 d"),
    (NOW - timedelta(days=5), NOW, 0, "resolution 0 is kept for 6 h"),
])
def test_impossible_ranges_say_why(start: object, end: object, resolution: int | None, reason: str) -> None:
    with pytest.raises(InvalidQuery, match=reason.replace("(", r"\(").replace(")", r"\)")):
        pick_resolution(start, end, resolution, DEFAULT, NOW)  # type: ignore[arg-type]


def test_too_many_points_is_refused() -> None:
    long = Retention(hour=timedelta(days=3650))
    assert pick_resolution(NOW - timedelta(days=800), NOW, None, long, NOW) == 3600  # 19,200 points
    with pytest.raises(InvalidQuery, match="points per line even hourly"):
        pick_resolution(NOW - timedelta(days=900), NOW, None, long, NOW)
    with pytest.raises(InvalidQuery, match="at most 20000"):
        pick_resolution(NOW - timedelta(hours=30), NOW, 0, Retention(raw=timedelta(days=2)), NOW)  # 21,600
