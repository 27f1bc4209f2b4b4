"""Sync windows in a site's time zone: open/closed, wrapping midnight, next opening, DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleetyard.replication import ManualClock, SyncWindows


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_no_windows_means_always() -> None:
    w = SyncWindows([], "UTC")
    assert w.always and w.is_open(utc(2026, 3, 1, 12)) and w.closes_at(utc(2026, 3, 1, 12)) is None
    assert w.next_open(utc(2026, 3, 1, 12)) == utc(2026, 3, 1, 12)
    assert w.describe() == "always"


def test_simple_window_in_utc() -> None:
    w = SyncWindows(["01:00-05:00"])
    assert not w.is_open(utc(2026, 3, 1, 0, 59))
    assert w.is_open(utc(2026, 3, 1, 1, 0))
    assert w.is_open(utc(2026, 3, 1, 4, 59))
    assert not w.is_open(utc(2026, 3, 1, 5, 0))
    assert w.next_open(utc(2026, 3, 1, 5, 0)) == utc(2026, 3, 2, 1, 0)
    assert w.closes_at(utc(2026, 3, 1, 2)) == utc(2026, 3, 1, 5)


def test_window_wrapping_midnight() -> None:
    w = SyncWindows(["22:00-02:00"])
    assert w.is_open(utc(2026, 3, 1, 23, 30))
    assert w.is_open(utc(2026, 3, 2, 1, 59))
    assert not w.is_open(utc(2026, 3, 2, 2, 0))
    assert not w.is_open(utc(2026, 3, 1, 21, 59))
    assert w.closes_at(utc(2026, 3, 1, 23)) == utc(2026, 3, 2, 2)
    assert w.closes_at(utc(2026, 3, 2, 1)) == utc(2026, 3, 2, 2)
    assert w.next_open(utc(2026, 3, 2, 12)) == utc(2026, 3, 2, 22)


def test_adjacent_windows_merge_and_whole_day() -> None:
    w = SyncWindows(["20:00-24:00", "00:00-03:00"])
    assert w.closes_at(utc(2026, 3, 1, 21)) == utc(2026, 3, 2, 3)
    day = SyncWindows(["00:00-24:00"])
    assert day.is_open(utc(2026, 3, 1, 0)) and day.is_open(utc(2026, 3, 1, 23, 59))


def test_windows_are_in_the_site_time_zone() -> None:
    berlin = SyncWindows(["01:00-05:00"], "Europe/Berlin")
    # winter: Berlin is UTC+1, so 01:00-05:00 local is 00:00-04:00 UTC
    assert berlin.is_open(utc(2026, 1, 15, 0, 30))
    assert not berlin.is_open(utc(2026, 1, 15, 4, 30))
    # summer: UTC+2, 23:00-03:00 UTC
    assert berlin.is_open(utc(2026, 7, 14, 23, 30))
    assert not berlin.is_open(utc(2026, 7, 15, 3, 30))
    assert berlin.next_open(utc(2026, 7, 15, 12)) == utc(2026, 7, 15, 23)
    tokyo = SyncWindows(["22:00-02:00"], "Asia/Tokyo")  # UTC+9: 13:00-17:00 UTC
    assert tokyo.is_open(utc(2026, 5, 1, 14)) and not tokyo.is_open(utc(2026, 5, 1, 18))


def test_daylight_saving_night_is_shorter() -> None:
    # 29 March 2026: Berlin skips 02:00-03:00; the window 01:00-05:00 lasts 3 hours
    w = SyncWindows(["01:00-05:00"], "Europe/Berlin")
    opens = w.next_open(utc(2026, 3, 28, 12))
    assert opens == utc(2026, 3, 29, 0)
    assert w.closes_at(opens) == utc(2026, 3, 29, 3)


@pytest.mark.parametrize("bad", ["1:00-05:00", "01:00-25:00", "01:00", "05:00-05:00", "aa:bb-cc:dd"])
def test_malformed_windows_are_refused_with_the_expected_form(bad: str) -> None:
    with pytest.raises(ValueError, match="sync window"):
        SyncWindows([bad])


def test_unknown_time_zone() -> None:
    with pytest.raises(ValueError, match="IANA"):
        SyncWindows(["01:00-02:00"], "Mars/Olympus")


def test_a_fake_clock_walks_through_a_day() -> None:
    clock = ManualClock(utc(2026, 3, 1, 0))
    w = SyncWindows(["22:00-02:00"])
    open_minutes = 0
    for _ in range(24 * 60):
        open_minutes += w.is_open(clock.now())
        clock.advance(60)
    assert open_minutes == 4 * 60


windows = st.tuples(st.integers(0, 23), st.integers(0, 59), st.integers(0, 23), st.integers(0, 59)).filter(
    lambda t: (t[0], t[1]) != (t[2], t[3])
)


ZONES = st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"])


@given(st.lists(windows, min_size=1, max_size=3), st.integers(0, 365 * 24 * 60), ZONES)
def test_next_open_is_open_and_nothing_before_it_is(
    spec: list[tuple[int, int, int, int]], minute: int, tz: str
) -> None:
    w = SyncWindows([f"{a:02d}:{b:02d}-{c:02d}:{d:02d}" for a, b, c, d in spec], tz)
    now = utc(2026, 1, 1) + timedelta(minutes=minute)
    nxt = w.next_open(now)
    assert nxt is not None and nxt >= now
    assert w.is_open(nxt)
    closes = w.closes_at(nxt)
    assert closes is not None and closes > nxt
    if nxt > now:
        assert not w.is_open(now)
