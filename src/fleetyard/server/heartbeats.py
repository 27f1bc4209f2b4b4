"""Heartbeats written in batches: one transaction and one commit for many sites' reports.

The heartbeat is the server's hot path (a thousand sites at a 1 s heartbeat are a
thousand writes a second). Instead of a transaction per request, requests queue their
report and wait; `writers` threads each take up to `max_batch` queued reports, check
and store them in one session, commit once and answer every waiting request (a request
is answered only after its report is committed, exactly as before). A report the caller
got wrong (token, site, body) is answered with its error and does not disturb the rest
of the batch: those checks come before the report writes anything. Anything else that
fails (a database error, a race that keeps losing) rolls the batch back and writes each
of its reports again in a transaction of its own, so one bad report costs only itself.

`max_batch = 1` is a transaction per heartbeat (FLEETYARD_HEARTBEAT_BATCH=1).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from fastapi.exceptions import RequestValidationError
from sqlalchemy.orm import Session

from fleetyard.services.db import Database
from fleetyard.services.errors import Forbidden, InvalidRequest, PayloadTooLarge, Unauthorized
from fleetyard.services.tls import PeerCertificate

__all__ = ["HeartbeatWriter", "Pending"]

log = logging.getLogger("fleetyard.server")
CALLER_ERRORS = (Unauthorized, Forbidden, InvalidRequest, PayloadTooLarge, RequestValidationError)


@dataclass
class Pending:
    header: str | None
    site: str
    body: bytes | PayloadTooLarge
    peer: PeerCertificate | None
    future: asyncio.Future[None]
    loop: asyncio.AbstractEventLoop


Store = Callable[[Session, Pending], None]  # check and write one report in the session (no commit)


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():  # the client went away and the request was cancelled
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


class HeartbeatWriter:
    """Queued heartbeats, written by `writers` threads in batches of up to `max_batch`."""

    def __init__(self, db: Database, store: Store, *, max_batch: int = 64, writers: int = 4) -> None:
        self.db, self.store, self.max_batch = db, store, max(1, max_batch)
        self._queue: queue.SimpleQueue[Pending | None] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._run, name=f"fleetyard-heartbeats-{i}", daemon=True)
                         for i in range(max(1, writers))]
        self._started = False
        self._start_lock = threading.Lock()
        self.batches = 0
        self.written = 0

    async def submit(self, header: str | None, site: str, body: bytes | PayloadTooLarge,
                     peer: PeerCertificate | None = None) -> None:
        """Queue one report (`peer`: the connection's client certificate); return once it is
        committed (or raise its error)."""
        self._ensure_started()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._queue.put(Pending(header, site, body, peer, future, loop))
        await future

    def _ensure_started(self) -> None:
        if not self._started:
            with self._start_lock:
                if not self._started:
                    for t in self._threads:
                        t.start()
                    self._started = True

    def close(self) -> None:
        if self._started:
            for _ in self._threads:
                self._queue.put(None)
            for t in self._threads:
                t.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # for this thread's next turn: finish the batch first
                    break
                batch.append(item)
            for item, error in zip(batch, self._write(batch), strict=True):
                item.loop.call_soon_threadsafe(_settle, item.future, error)

    def _write(self, batch: list[Pending]) -> list[BaseException | None]:
        errors: list[BaseException | None] = []
        try:
            with self.db.session() as session:
                for item in batch:
                    try:
                        self.store(session, item)
                        errors.append(None)
                    except CALLER_ERRORS as exc:  # raised before the report wrote anything
                        errors.append(exc)
                session.commit()
            self.batches += 1
            self.written += sum(e is None for e in errors)
            return errors
        except Exception as exc:
            if len(batch) == 1:
                return [exc]
            log.warning("a heartbeat batch of %d failed (%s); writing each on its own", len(batch),
                        str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return [self._write([item])[0] for item in batch]
