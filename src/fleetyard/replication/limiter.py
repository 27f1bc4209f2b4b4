"""A token-bucket bandwidth limiter shared by every transfer of a site.

`throttle(n)` is called before `n` bytes are requested and blocks until the site's
cap allows them. Requests larger than the bucket are allowed by going into debt: the
caller (and everyone after it) waits until the debt is paid, so the long-run rate is
the cap whatever the request sizes, and concurrent callers share it. The clock is
injectable, so a test can check a 30 s transfer in simulated time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from fleetyard.replication.clock import Clock, SystemClock

__all__ = ["Throttle", "TokenBucket", "mbps_to_bytes_per_second"]

# A throttle blocks until `n` more bytes may be transferred.
Throttle = Callable[[int], None]


def mbps_to_bytes_per_second(mbps: float) -> float:
    """Megabits per second (10^6 bits, as links are sold) to bytes per second."""
    return mbps * 1_000_000 / 8


class TokenBucket:
    """Allows `rate` bytes per second on average, bursts up to `burst` bytes."""

    def __init__(self, rate: float, burst: float | None = None, *, clock: Clock | None = None) -> None:
        if rate <= 0:
            raise ValueError(f"bandwidth cap must be positive, got {rate} bytes/s")
        self.rate = float(rate)
        self.burst = float(burst) if burst is not None else self.rate / 4
        self._clock = clock if clock is not None else SystemClock()
        self._lock = threading.Lock()
        self._tokens = 0.0  # start empty: no burst above the cap at start-up
        self._last = self._clock.monotonic()
        self.granted = 0

    @classmethod
    def from_mbps(cls, mbps: float, *, clock: Clock | None = None) -> TokenBucket:
        """A limiter for a cap given in megabits per second."""
        if mbps <= 0:
            raise ValueError(f"--max-mbps must be positive, got {mbps}")
        return cls(mbps_to_bytes_per_second(mbps), clock=clock)

    def throttle(self, n: int) -> None:
        """Block until `n` more bytes fit under the cap."""
        if n <= 0:
            return
        with self._lock:
            t = self._clock.monotonic()
            self._tokens = min(self.burst, self._tokens + (t - self._last) * self.rate)
            self._last = t
            self._tokens -= n
            self.granted += n
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._clock.sleep(wait)

    def request_size(self, floor: int = 256 * 1024, ceiling: int = 8 * 1024 * 1024) -> int:
        """A good request size under this cap: about a quarter second of transfer."""
        return max(floor, min(ceiling, int(self.rate / 4)))
