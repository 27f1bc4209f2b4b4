"""The event webhook: POST each event, in id order, to FLEETYARD_EVENT_WEBHOOK.

The body is the event (`id`, `at`, `kind`, `subject`, `message`, `data`) plus a
Slack-compatible `text` ("[site.down] par-1: par-1 is unavailable: ..."), so a
Slack or Mattermost incoming webhook shows it as it is, and anything else gets the
fields. `events.delivered_at` is the outbox: an event is marked when the receiver
answered 2xx. A failure (no answer, or not 2xx) stops the tick's batch and is tried
again after a backoff that doubles from 1 s up to 5 min (as the agent's retries do),
so events arrive in order and at least once; at most `BATCH` per tick.

Each event is locked (`SELECT ... FOR UPDATE` on PostgreSQL) while it is POSTed, so of
several servers sharing the database one delivers it. Without a webhook configured the
job marks events as passed (`delivered_at` set, nothing sent): configuring one later
sends what happens from then on, not the whole history.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from fleetyard.services.db import Database, EventRow
from fleetyard.services.events import to_wire

__all__ = ["BATCH", "WebhookJob", "payload"]

log = logging.getLogger("fleetyard.server")
BATCH = 50
RETRY_BASE = 1.0
RETRY_MAX = 300.0


def payload(row: EventRow) -> dict[str, Any]:
    """The JSON body for one event."""
    body: dict[str, Any] = to_wire(row).model_dump(mode="json")
    return {"text": f"[{row.kind}] {row.subject}: {row.message}", **body}


class WebhookJob:
    """`job(now)`: deliver up to `batch` undelivered events (see the module docstring)."""

    def __init__(self, db: Database, url: str | None, *, batch: int = BATCH, timeout: float = 5.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.db, self.url, self.batch = db, url, batch
        self.failures = 0
        self.retry_at: datetime | None = None
        self.last_error: str | None = None
        self._http = httpx.Client(timeout=timeout, transport=transport) if url else None

    def __call__(self, now: datetime) -> None:
        if self.url is None or self._http is None:
            self._pass_by(now)
            return
        if self.retry_at is not None and now < self.retry_at:
            return
        for _ in range(self.batch):
            if not self._deliver_one(now):
                return

    def _pass_by(self, now: datetime) -> None:
        with self.db.session() as s:  # look first: an UPDATE of nothing still takes SQLite's write lock
            if s.scalar(select(EventRow.id).where(EventRow.delivered_at.is_(None)).limit(1)) is None:
                return
            s.execute(update(EventRow).where(EventRow.delivered_at.is_(None)).values(delivered_at=now))
            s.commit()

    def _deliver_one(self, now: datetime) -> bool:
        """POST the oldest undelivered event; False when there is none or it failed."""
        assert self._http is not None and self.url is not None
        with self.db.session() as s:
            row = s.scalar(select(EventRow).where(EventRow.delivered_at.is_(None)).order_by(EventRow.id).limit(1)
                           .with_for_update())
            if row is None:
                return False
            try:
                answer = self._http.post(self.url, json=payload(row))
                ok = 200 <= answer.status_code < 300
                error = None if ok else f"answered {answer.status_code}"
            except httpx.HTTPError as exc:
                ok, error = False, f"{type(exc).__name__}: {exc}"
            if not ok:
                s.rollback()
                self.failures += 1
                delay = min(RETRY_BASE * 2 ** (self.failures - 1), RETRY_MAX)
                self.retry_at = now + timedelta(seconds=delay)
                if error != self.last_error:
                    log.warning("event webhook %s: event %d not delivered (%s); retrying in %.0f s",
                                self.url, row.id, error, delay)
                self.last_error = error
                return False
            row.delivered_at = now
            s.commit()
        self.failures, self.retry_at, self.last_error = 0, None, None
        return True

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
