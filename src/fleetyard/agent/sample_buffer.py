"""The agent's bounded buffer of telemetry samples waiting for the server (issue 12).

Every heartbeat adds one sample. Each report carries the oldest `MAX_SAMPLES_PER_REPORT`
buffered samples (`batch`); they leave the buffer only once the server answered 2xx
(`acknowledge`), so a lost link keeps them and the next reports send them again, oldest
first. The server keys raw samples by (site, t): a batch it stored but whose answer was
lost is stored once. Beyond `capacity` (default: 24 hours of samples at the heartbeat
interval) the oldest samples are dropped and counted (`fleetyard_agent_samples_dropped`).
Sample times are made strictly increasing, so no two samples of a site share a `t`.
The buffer lives in memory: an agent restart loses what was not sent yet.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import timedelta

from fleetyard.agent.metrics import AgentMetrics
from fleetyard.services.wire_telemetry import MAX_SAMPLES_PER_REPORT, Sample

__all__ = ["SampleBuffer", "default_capacity"]

DAY_S = 86_400.0
MIN_STEP = timedelta(milliseconds=1)


def default_capacity(heartbeat_s: float) -> int:
    """24 hours of samples at one per heartbeat."""
    return max(int(DAY_S / heartbeat_s), MAX_SAMPLES_PER_REPORT)


class SampleBuffer:
    """Oldest-first samples not yet accepted by the server."""

    def __init__(self, capacity: int, metrics: AgentMetrics | None = None) -> None:
        if capacity < 1:
            raise ValueError(f"a sample buffer holds at least one sample, got capacity {capacity}")
        self.capacity = capacity
        self.metrics = metrics
        self._items: deque[Sample] = deque()
        self._lock = threading.Lock()
        self.dropped = 0
        self.added = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def add(self, sample: Sample) -> Sample:
        """Buffer `sample` (its `t` moved just past the last one if it is not later); drop the
        oldest beyond capacity. Returns the sample as buffered."""
        with self._lock:
            if self._items and sample.t <= self._items[-1].t:
                sample = sample.model_copy(update={"t": self._items[-1].t + MIN_STEP})
            self._items.append(sample)
            self.added += 1
            dropped = 0
            while len(self._items) > self.capacity:
                self._items.popleft()
                dropped += 1
            self.dropped += dropped
            size = len(self._items)
        if self.metrics is not None:
            self.metrics.samples_dropped.inc(dropped)
            self.metrics.samples_buffered.set(size)
        return sample

    def batch(self, limit: int = MAX_SAMPLES_PER_REPORT) -> list[Sample]:
        """The oldest `limit` samples, for the next report (they stay until acknowledged)."""
        with self._lock:
            return [s for _, s in zip(range(limit), self._items, strict=False)]

    def acknowledge(self, sent: list[Sample]) -> None:
        """The server accepted `sent`: remove those still at the head (some may have been dropped meanwhile)."""
        if not sent:
            return
        last = sent[-1].t
        with self._lock:
            while self._items and self._items[0].t <= last:
                self._items.popleft()
            size = len(self._items)
        if self.metrics is not None:
            self.metrics.samples_buffered.set(size)
