"""The server's background jobs: one loop that calls each job every `tick_interval` seconds.

Jobs are the control plane acting on its own: the rollout controller advancing waves,
failover marking sites down and up, the event webhook delivering its outbox. Each job
is a plain function `job(now)` of a use case in `services/` that opens its own
transaction; it runs in a worker thread so the event loop keeps serving. A job that
raises is logged and tried again on the next tick; one job's failure never stops the
others. Several server processes may serve one database: on PostgreSQL only the leader
(`services/leader.py`, a session advisory lock) runs the jobs, and a follower takes over
within a tick of the leader's death. Every job still makes its decisions with
conditional updates or row locks, so two servers never both act on the same change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import anyio

from fleetyard.services.leader import Leadership

__all__ = ["Background", "Job"]

log = logging.getLogger("fleetyard.server")

Job = Callable[[datetime], None]


class Background:
    """Runs `jobs` every `interval` seconds from `start()` until `stop()`."""

    def __init__(self, jobs: Sequence[tuple[str, Job]], interval: float, *, leader: Leadership | None = None,
                 on_leading: Callable[[bool], None] | None = None) -> None:
        self.jobs = list(jobs)
        self.interval = interval
        self.leader = leader
        self.on_leading = on_leading
        self._task: asyncio.Task[None] | None = None
        self.ticks = 0

    def run_once(self, now: datetime | None = None) -> None:
        """Every job once, in order, if this process leads (tests call this directly)."""
        leading = self.leader is None or self.leader.check()
        if self.on_leading is not None:
            self.on_leading(leading)
        if not leading:
            return
        at = now or datetime.now(UTC)
        for name, job in self.jobs:
            try:
                job(at)
            except Exception:  # a job's bug must not stop the loop or the other jobs
                log.exception("background job %s failed; trying again next tick", name)
        self.ticks += 1

    async def _loop(self) -> None:
        while True:
            await anyio.to_thread.run_sync(self.run_once)
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        if self.jobs and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="fleetyard-background")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self.leader is not None:
            await anyio.to_thread.run_sync(self.leader.release)
