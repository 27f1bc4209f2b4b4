"""Sync windows: the hours, in a site's own time zone, when it may download models.

A site lists windows as "HH:MM-HH:MM" (Site.spec.sync_windows); "22:00-02:00" wraps
midnight, "00:00-24:00" is the whole day, and an empty list means "always". Windows
are wall-clock times in the site's IANA time zone, so "01:00-05:00" follows daylight
saving time. Each window is turned into concrete UTC intervals around the moment
asked about, which makes "is it open now?", "when does it close?" and "when does the
next one open?" the same simple interval arithmetic, across midnight and DST changes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["SyncWindows", "Window", "parse_window"]

_PATTERN = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-3]|24):([0-5][0-9])$")
_DAY = 24 * 60


@dataclass(frozen=True)
class Window:
    """One daily window as minutes after local midnight; `end <= start` wraps midnight."""

    start: int
    end: int
    text: str

    @property
    def wraps(self) -> bool:
        """Whether the window runs past midnight into the next day."""
        return self.end <= self.start


def parse_window(text: str) -> Window:
    """Parse "HH:MM-HH:MM"; ValueError with the expected form on a malformed window."""
    m = _PATTERN.match(text.strip())
    if m is None:
        raise ValueError(f"sync window {text!r}: expected HH:MM-HH:MM, e.g. 01:00-05:00 or 22:00-02:00")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end > _DAY:
        raise ValueError(f"sync window {text!r}: the end is after 24:00")
    if start == end:
        raise ValueError(f"sync window {text!r} is empty; use 00:00-24:00 for the whole day")
    return Window(start, end, text.strip())


def _local(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    day = day + timedelta(days=minutes // _DAY)
    minutes %= _DAY
    return datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=zone)


class SyncWindows:
    """A site's sync windows in its time zone; no windows means always open."""

    def __init__(self, windows: Sequence[str] = (), timezone: str = "UTC") -> None:
        try:
            self.zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"time zone {timezone!r}: expected an IANA name such as Europe/Berlin") from exc
        self.timezone = timezone
        self.windows = tuple(parse_window(w) for w in windows)

    @property
    def always(self) -> bool:
        """True when the site may sync at any time."""
        return not self.windows

    def describe(self) -> str:
        """For messages: "01:00-05:00, 22:00-23:00 Europe/Berlin" or "always"."""
        if self.always:
            return "always"
        return f"{', '.join(w.text for w in self.windows)} {self.timezone}"

    def _intervals(self, now: datetime) -> list[tuple[datetime, datetime]]:
        """Concrete UTC intervals of every window from yesterday to two days ahead, merged."""
        today = now.astimezone(self.zone).date()
        spans: list[tuple[datetime, datetime]] = []
        for offset in range(-1, 3):
            day = today + timedelta(days=offset)
            for w in self.windows:
                end = w.end + (_DAY if w.wraps else 0)
                start_utc = _local(day, w.start, self.zone).astimezone(UTC)
                end_utc = _local(day, end, self.zone).astimezone(UTC)
                if end_utc > start_utc:
                    spans.append((start_utc, end_utc))
        spans.sort()
        merged: list[tuple[datetime, datetime]] = []
        for s, e in spans:
            if merged and s <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], e))
            else:
                merged.append((s, e))
        return merged

    def is_open(self, now: datetime) -> bool:
        """Whether `now` (timezone-aware) falls inside a window."""
        if self.always:
            return True
        t = now.astimezone(UTC)
        return any(s <= t < e for s, e in self._intervals(now))

    def closes_at(self, now: datetime) -> datetime | None:
        """When the window open at `now` closes (UTC); None if always open or closed now."""
        if self.always:
            return None
        t = now.astimezone(UTC)
        for s, e in self._intervals(now):
            if s <= t < e:
                return e
        return None

    def next_open(self, now: datetime) -> datetime | None:
        """`now` if a window is open (or there are no windows), else when the next one opens (UTC)."""
        t = now.astimezone(UTC)
        if self.always:
            return t
        for s, e in self._intervals(now):
            if t < e:
                return max(s, t)
        return None  # unreachable with at least one non-empty window: tomorrow has one
