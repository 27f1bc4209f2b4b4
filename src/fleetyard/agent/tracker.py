"""What the agent knows about each model version it must hold: state, bytes, errors.

Bytes fetched are counted per source ("center" or a peer site) and kept in
`state/transfers.json`, so `fleetyard status` shows what a site pulled from where even
across agent restarts. States follow the wire schema: pending (not started, or the
sync window is closed before any byte), syncing, synced (complete in the local
store), active (verified and materialized; workloads may run it), failed (with the
reason; retried with backoff unless it cannot get better, like a bad signature).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fleetyard.agent.metrics import AgentMetrics
from fleetyard.services.wire import ModelState, ModelStatus

__all__ = ["ModelTracker", "Tracked"]

RETRY_BASE = 5.0
RETRY_MAX = 300.0


@dataclass
class Tracked:
    """One model version at this site."""

    ref: str
    state: ModelState = "pending"
    bytes_by_source: dict[str, int] = field(default_factory=dict)
    bytes_needed: int | None = None
    bytes_done: int = 0
    error: str | None = None
    failures: int = 0
    retry_at: float = 0.0
    final: bool = False  # failed for good (bad signature): not retried

    @property
    def bytes_fetched(self) -> int:
        return sum(self.bytes_by_source.values())


class ModelTracker:
    """Thread-safe state of every model version; persists the byte counters."""

    def __init__(self, path: Path, metrics: AgentMetrics, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.metrics = metrics
        self._now = monotonic
        self._lock = threading.Lock()
        self._models: dict[str, Tracked] = {}
        self._dirty = False
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            for ref, by in saved.items():
                self._models[ref] = Tracked(ref, bytes_by_source={str(k): int(v) for k, v in by.items()})
        except (OSError, ValueError, AttributeError):
            pass

    def get(self, ref: str) -> Tracked:
        """A copy of the model's record (created pending if new)."""
        with self._lock:
            t = self._models.setdefault(ref, Tracked(ref))
            return Tracked(t.ref, t.state, dict(t.bytes_by_source), t.bytes_needed, t.bytes_done, t.error,
                           t.failures, t.retry_at, t.final)

    def set(self, ref: str, state: ModelState, *, error: str | None = None, final: bool = False) -> None:
        """Move a model to a state (a failure schedules the retry; success clears it)."""
        with self._lock:
            t = self._models.setdefault(ref, Tracked(ref))
            t.state, t.error, t.final = state, error, final
            if state == "failed":
                t.failures += 1
                t.retry_at = self._now() + min(RETRY_BASE * 2 ** (t.failures - 1), RETRY_MAX)
            elif state in ("synced", "active"):
                t.failures, t.retry_at = 0, 0.0
        self.metrics.set_model_state(ref, state)
        self.save()

    def progress(self, ref: str, needed: int | None, done: int) -> None:
        """Where the running sync stands."""
        with self._lock:
            t = self._models.setdefault(ref, Tracked(ref))
            t.bytes_needed, t.bytes_done = needed, done

    def add_bytes(self, ref: str, source: str, n: int) -> None:
        """Bytes received for `ref` from `source` (also counted in the metrics)."""
        with self._lock:
            t = self._models.setdefault(ref, Tracked(ref))
            t.bytes_by_source[source] = t.bytes_by_source.get(source, 0) + n
            self._dirty = True
        self.metrics.bytes_fetched.labels(source=source).inc(n)

    def bytes_by_source(self) -> dict[str, int]:
        """Bytes received per source over every model version this site has tracked."""
        out: dict[str, int] = {}
        with self._lock:
            for t in self._models.values():
                for source, n in t.bytes_by_source.items():
                    out[source] = out.get(source, 0) + n
        return out

    def due(self, ref: str) -> bool:
        """Whether a failed model may be tried again now."""
        t = self.get(ref)
        return t.state != "failed" or (not t.final and self._now() >= t.retry_at)

    def statuses(self, refs: Sequence[str]) -> list[ModelStatus]:
        """The wire status of these refs, in order."""
        out = []
        for ref in refs:
            t = self.get(ref)
            out.append(ModelStatus(ref=ref, state=t.state, bytes_fetched=t.bytes_fetched,
                                   bytes_needed=t.bytes_needed, bytes_by_source=t.bytes_by_source, error=t.error))
        return out

    def save(self, *, only_if_dirty: bool = False) -> None:
        """Write the byte counters (atomically)."""
        with self._lock:
            if only_if_dirty and not self._dirty:
                return
            doc = {ref: t.bytes_by_source for ref, t in self._models.items() if t.bytes_by_source}
            self._dirty = False
        tmp = self.path.with_name(f".{self.path.name}.{threading.get_ident()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(doc, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            pass
