"""Time for the replication engine, injectable so windows and caps test in simulated time.

Three clocks share one small protocol: `SystemClock` (the real one), `ManualClock`
(tests: time moves only when told to, and `sleep` advances it instead of blocking),
and `FileClock` (an agent under test reads its wall-clock time from a file the test
rewrites, while sleeping and measuring durations in real time).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

__all__ = ["Clock", "FileClock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    """Wall-clock time for sync windows; monotonic time and sleep for rate limits."""

    def now(self) -> datetime:
        """The current wall-clock time, timezone-aware."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block (or, in simulation, advance time) for `seconds`."""
        ...


class SystemClock:
    """The machine's clocks."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class ManualClock:
    """Simulated time: `sleep` and `advance` move both wall-clock and monotonic time."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start if start is not None else datetime(2026, 1, 1, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")
        self._mono = 0.0
        self._lock = threading.Lock()
        self.slept = 0.0

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.advance(seconds)
            with self._lock:
                self.slept += seconds

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        with self._lock:
            self._mono += seconds
            self._now += timedelta(seconds=seconds)

    def set(self, when: datetime) -> None:
        """Jump the wall clock (monotonic time moves by the same amount if forward)."""
        with self._lock:
            delta = (when - self._now).total_seconds()
            self._now = when
            self._mono += max(delta, 0.0)


class FileClock:
    """Wall-clock time read from a file holding an ISO 8601 timestamp (tests only).

    The agent uses it when FLEETYARD_TEST_CLOCK names a file, so an integration test
    can open and close sync windows by rewriting that file. Durations and sleeps stay
    real. An unreadable or malformed file falls back to the system time.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._system = SystemClock()

    def now(self) -> datetime:
        try:
            text = self.path.read_text(encoding="utf-8").strip()
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except (OSError, ValueError):
            return self._system.now()
        return when if when.tzinfo is not None else when.replace(tzinfo=UTC)

    def monotonic(self) -> float:
        return self._system.monotonic()

    def sleep(self, seconds: float) -> None:
        self._system.sleep(seconds)
