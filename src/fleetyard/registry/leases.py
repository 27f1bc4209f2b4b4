"""Leases: how pushes and gc keep out of each other's way.

A push relies on chunks that already exist (that is what dedup means), so a gc
that deleted or repacked them mid-push would leave the new version pointing at
nothing. We make gc and pushes mutually exclusive with leases — small objects in
`leases/` — because that needs nothing but put, list and delete, and so works the
same on a folder and on any S3 store, across hosts:

* a push writes its lease, *then* lists leases; if a gc lease is live it removes its
  own and waits;
* a gc writes its lease, *then* lists; if any push (or other gc) lease is live it
  removes its own and waits.

Each side writes before it looks, so with a strongly consistent store at least one
of them sees the other (both may back off; they retry with jitter). Pushes never
block each other. A lease is refreshed by a heartbeat thread; it is dead when its
object is older than its time-to-live, or at once when it names a process on this
host that no longer exists (a push killed with SIGKILL does not stall gc for long).
Gc is rare and fast (it reads indexes and repacks only mostly-dead packs), so
making it wait for pushes costs little and keeps the safety argument one paragraph.
"""

from __future__ import annotations

import json
import os
import random
import socket
import threading
import time
from dataclasses import dataclass
from typing import Literal

from fleetyard.registry import layout
from fleetyard.registry.backends.base import Backend, ObjectNotFoundError
from fleetyard.registry.errors import StoreBusyError

__all__ = ["DEFAULT_TTL", "Lease", "LeaseInfo", "acquire", "live_leases"]

DEFAULT_TTL = 120.0
LeaseKind = Literal["push", "gc"]


@dataclass(frozen=True)
class LeaseInfo:
    """A lease as read from the store."""

    lease_id: str
    kind: str
    what: str
    host: str
    pid: int
    started: float
    ttl: float
    proc_start: str
    mtime: float

    def describe(self) -> str:
        """One line for messages: what holds the store, where, since when."""
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        return f"{self.kind} {self.what} (pid {self.pid} on {self.host}, since {since})"


def _proc_start(pid: int) -> str:
    """The start time of a local process, to tell a reused pid from the original."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _alive(info: LeaseInfo, now: float) -> bool:
    if now - info.mtime > info.ttl:
        return False
    if info.host == socket.gethostname():
        try:
            os.kill(info.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        if info.proc_start and _proc_start(info.pid) not in ("", info.proc_start):
            return False
    return True


def live_leases(backend: Backend) -> tuple[list[LeaseInfo], list[str]]:
    """Live leases and the keys of dead ones (which a gc may delete)."""
    live: list[LeaseInfo] = []
    dead: list[str] = []
    now = time.time()
    for obj in backend.list(layout.LEASES):
        try:
            doc = json.loads(backend.get(obj.key))
            info = LeaseInfo(mtime=obj.mtime, **doc)
        except ObjectNotFoundError:
            continue
        except (ValueError, TypeError):
            dead.append(obj.key)
            continue
        if _alive(info, now):
            live.append(info)
        else:
            dead.append(obj.key)
    return live, dead


class Lease:
    """A held lease; refreshed in the background until released."""

    def __init__(self, backend: Backend, info: LeaseInfo) -> None:
        self._backend = backend
        self.info = info
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._heartbeat, daemon=True, name="lease")

    @property
    def key(self) -> str:
        """The lease's object key."""
        return layout.lease_key(self.info.lease_id)

    def _write(self) -> None:
        doc = {
            "lease_id": self.info.lease_id,
            "kind": self.info.kind,
            "what": self.info.what,
            "host": self.info.host,
            "pid": self.info.pid,
            "started": self.info.started,
            "ttl": self.info.ttl,
            "proc_start": self.info.proc_start,
        }
        self._backend.put(self.key, json.dumps(doc).encode())

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.info.ttl / 4):
            try:
                self._write()
            except Exception:
                continue

    def release(self) -> None:
        """Stop refreshing and delete the lease."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._backend.delete(self.key)

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def acquire(
    backend: Backend, kind: LeaseKind, what: str, *, wait: float, ttl: float = DEFAULT_TTL
) -> Lease:
    """Take a push or gc lease, waiting up to `wait` seconds for the other kind."""
    pid = os.getpid()
    info = LeaseInfo(
        lease_id=f"{kind}-{os.urandom(8).hex()}",
        kind=kind,
        what=what,
        host=socket.gethostname(),
        pid=pid,
        started=time.time(),
        ttl=ttl,
        proc_start=_proc_start(pid),
        mtime=0.0,
    )
    lease = Lease(backend, info)
    deadline = time.monotonic() + wait
    while True:
        lease._write()
        live, _ = live_leases(backend)
        blockers = [
            x for x in live if x.lease_id != info.lease_id and (kind == "gc" or x.kind == "gc")
        ]
        if not blockers:
            lease._thread.start()
            return lease
        backend.delete(lease.key)
        if time.monotonic() >= deadline:
            held = "; ".join(b.describe() for b in blockers[:3])
            raise StoreBusyError(
                f"registry {backend.url} is busy: {held}; waited {wait:.0f}s "
                f"(retry later or pass a longer --wait)"
            )
        time.sleep(min(0.2 + random.random() * 0.5, max(deadline - time.monotonic(), 0.05)))
