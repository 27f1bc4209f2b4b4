"""The agent's sync worker: brings every desired model version to `active`, one at a time.

For each model of the desired state, in order: fetch what the local store lacks
(`replication.sync_version`, only inside the site's sync windows, under the cap,
from the sources the server listed - peers first, then the center), then assemble
the version from the local store, verify its signature against the keys this site
trusts, and activate it. It runs in its own thread so heartbeats and workload
supervision go on during a long transfer; when a window closes or the agent stops,
the transfer pauses at the next range and resumes later without refetching.

Faults: a source that fails hands over to the next; a corrupted chunk is refused
and tried from the next source; if a version cannot be completed it is `failed`
with the reason and retried with backoff (5 s doubling to 5 min). A version whose
signature no trusted key verifies is `failed` for good and never activated; the
workloads keep the version they run. An encrypted version syncs as ciphertext (its
sealed chunks are checked by their keyless checksum); the site's `--site-key` opens it
at assembly, and a version it cannot open is `failed` with the reason and retried
(a `registry grant` may add the site meanwhile).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path

from fleetyard.agent.controlplane import ControlPlane
from fleetyard.agent.metrics import AgentMetrics
from fleetyard.agent.models import ModelDirs
from fleetyard.agent.tracker import ModelTracker
from fleetyard.registry import RegistryError, SignatureError, Store, gc, layout
from fleetyard.registry.encryption import parse_keys
from fleetyard.registry.names import parse_ref
from fleetyard.replication import (
    ByteLedger,
    CachedBackend,
    Clock,
    MeteredBackend,
    Source,
    SyncProgress,
    SyncWindows,
    TokenBucket,
    sync_version,
)
from fleetyard.services.wire import DesiredModel, DesiredState

__all__ = ["SyncWorker"]

PACK_MAX_AGE = 2.0  # seconds: a crash loses at most this much transfer (or one 4 MB pack)
COLLECT_EVERY = 300.0  # seconds between looks for local versions nobody needs (and on every change)


class SyncWorker:
    """Runs syncs and activations in a background thread."""

    def __init__(self, *, site: str, local: Store, dirs: ModelDirs, tracker: ModelTracker, control: ControlPlane,
                 limiter: TokenBucket | None, clock: Clock, metrics: AgentMetrics, cache_dir: Path,
                 on_change: Callable[[], None], relay_wait: float = 0.0) -> None:
        self.site, self.local, self.dirs, self.tracker = site, local, dirs, tracker
        self.control, self.limiter, self.clock, self.metrics = control, limiter, clock, metrics
        self.cache_dir, self.on_change, self.relay_wait = cache_dir, on_change, relay_wait
        self._first_needed: dict[str, float] = {}
        self._collected_for: list[DesiredModel] | None = None
        self._collected_at = 0.0
        self._desired: DesiredState | None = None
        self._windows = SyncWindows()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sync", daemon=True)
        self.window_error: str | None = None

    # ---- control --------------------------------------------------------------------

    def update(self, desired: DesiredState) -> None:
        """New desired state: wake the worker if what it must hold changed."""
        old = self._desired
        self._desired = desired
        try:
            self._windows = SyncWindows(desired.sync_windows, desired.timezone)
            self.window_error = None
        except ValueError as exc:
            self._windows = SyncWindows()
            self.window_error = f"{exc}; syncing at any time"
        if old is None or old.models != desired.models:  # new versions or new peers to fetch from
            self._wake.set()

    def in_window(self) -> bool:
        """Whether the site may download now."""
        return self._windows.is_open(self.clock.now())

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Pause at the next range and wait for the worker to finish."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    # ---- the loop ----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            desired = self._desired
            self.metrics.in_sync_window.set(1.0 if self.in_window() else 0.0)
            if desired is not None:
                for model in desired.models:
                    if self._stop.is_set() or (self._desired is not desired and self._dropped(model.ref)):
                        break
                    try:
                        self._bring(model)
                    except Exception as exc:  # a bug or an unexpected I/O error: report it, keep going
                        self.tracker.set(model.ref, "failed", error=f"{type(exc).__name__}: {exc}")
                        self.on_change()
                if desired is self._desired and not self._stop.is_set():
                    self._collect(desired)
            self._wake.wait(1.0)
            self._wake.clear()

    def _collect(self, desired: DesiredState) -> None:
        """Drop local versions nobody needs (not desired, active or previous), then their chunks.

        Only when every desired version is complete: a gc deletes chunks no version
        references, which includes the chunks of a paused sync.
        """
        if any(self.tracker.get(m.ref).state != "active" for m in desired.models):
            return
        now = self.clock.monotonic()
        if desired.models == self._collected_for and now - self._collected_at < COLLECT_EVERY:
            return
        self._collected_for, self._collected_at = list(desired.models), now
        keep = {m.ref for m in desired.models} | {k for w in desired.workloads for k in w.keep}  # rollback targets
        for name in {m.name for m in desired.models} | set(self.dirs.actives()):
            keep |= {f"{name}:{v}" for v in (self.dirs.active(name), self.dirs.previous(name)) if v}
        stale = [m for m in self.local.versions() if m.ref not in keep]
        if not stale:
            return
        for m in stale:
            self.local.remove_version(m.name, m.version, force=True)
        try:
            gc(self.local, wait=5.0)
        except RegistryError:
            pass  # busy or unreadable: next time
        self.dirs.prune(keep)

    def _dropped(self, ref: str) -> bool:
        d = self._desired
        return d is None or ref not in {m.ref for m in d.models}

    def _bring(self, model: DesiredModel) -> None:
        ref = model.ref
        if self.dirs.is_materialized(ref):
            self._point_active(model)
            if self.tracker.get(ref).state != "active":
                self.tracker.set(ref, "active")
                self.on_change()
            return
        if not self.tracker.due(ref):
            return
        r = parse_ref(ref)
        assert r.version is not None
        if not self.local.has_version(r.name, r.version) and not self._fetch(model):
            return
        self._refresh_keys(model, r.name, r.version)
        self._activate(ref, r.name, r.version)

    def _point_active(self, model: DesiredModel) -> None:
        """Make a verified version active if the active one is no longer wanted (a rollback)."""
        d = self._desired
        wanted = {m.version for m in (d.models if d else []) if m.name == model.name}
        if self.dirs.active(model.name) not in wanted:
            self.dirs.activate(model.name, model.version)
            self.on_change()

    def _fetch(self, model: DesiredModel) -> bool:
        """Sync the version into the local store; True when it is complete there."""
        ref = model.ref
        if not self.in_window():
            t = self.tracker.get(ref)
            if t.state not in ("pending", "syncing"):
                self.tracker.set(ref, "syncing" if t.bytes_done else "pending")
            return False
        if self._waiting_for_peers(model):
            return False
        self.tracker.set(ref, "syncing")
        self.on_change()
        ledger = ByteLedger(on_bytes=lambda source, n: self.tracker.add_bytes(ref, source, n))
        sources = []
        for s in model.sources:
            name = s.site if s.kind == "peer" and s.site else "center"
            if s.kind == "peer" and s.site == self.site:
                continue
            throttle = self.limiter.throttle if self.limiter is not None else None
            metered = MeteredBackend(self.control.source(s.url, throttle), name, ledger)
            sources.append(Source(name, CachedBackend(metered, self.cache_dir), s.kind))

        def progress(p: SyncProgress) -> None:
            self.tracker.progress(ref, p.bytes_needed, p.bytes_done)

        result = sync_version(
            ref, sources, self.local,
            may_continue=lambda: not self._stop.is_set() and self.in_window() and not self._dropped(ref),
            progress=progress,
            max_range=self.limiter.request_size() if self.limiter is not None else 4 * 1024 * 1024,
            pack_max_age=PACK_MAX_AGE,
            monotonic=self.clock.monotonic,
        )
        self.metrics.chunks_fetched.inc(result.chunks_fetched)
        self.metrics.chunks_rejected.inc(len(result.rejected))
        self.tracker.save()
        if result.outcome == "failed":
            self.tracker.set(ref, "failed", error=result.error)
            self.on_change()
            return False
        if result.outcome == "paused":
            return False
        self.tracker.progress(ref, result.bytes_needed, result.bytes_needed)
        error = result.rejected[0].describe() + " (fetched again from another source)" if result.rejected else None
        self.tracker.set(ref, "synced", error=error)
        return True

    def _refresh_keys(self, model: DesiredModel, name: str, version: str) -> None:
        """For an encrypted version, copy the model's wrapped data keys from the center (a peer
        only if the center cannot answer: its copy may predate a grant), on every try: a site
        granted access later opens the version on the next retry."""
        if self.local.manifest(name, version).encryption is None:
            return
        key = layout.key_doc_key(name)
        for s in sorted(model.sources, key=lambda s: s.kind != "center"):
            if s.kind == "peer" and s.site == self.site:
                continue
            try:
                data = self.control.source(s.url, None).get(key)
                parse_keys(data, key)
            except Exception:  # unreachable, absent or malformed there: the next source
                continue
            self.local.backend.put(key, data)
            return

    def _waiting_for_peers(self, model: DesiredModel) -> bool:
        """Hold back a center-only fetch for a moment, so one site of a region goes first.

        When a version is new everywhere at once, no peer holds it yet and every site
        would fetch it from the center. Each site waits a deterministic share of
        `relay_wait` (by a hash of site and version) before it does; meanwhile it
        polls the desired state, and as soon as the server lists a peer that holds the
        version it fetches from that peer instead. The center then sends about one
        copy, not one per site; the price is at most `relay_wait` seconds.
        """
        if self.relay_wait <= 0 or any(s.kind == "peer" and s.site != self.site for s in model.sources):
            return False
        first = self._first_needed.setdefault(model.ref, self.clock.monotonic())
        rank = int(hashlib.sha256(f"{self.site}|{model.ref}".encode()).hexdigest()[:8], 16) / 2**32
        if self.clock.monotonic() - first >= rank * self.relay_wait:
            return False
        if self.tracker.get(model.ref).state != "pending":
            self.tracker.set(model.ref, "pending")
        return True

    def _activate(self, ref: str, name: str, version: str) -> None:
        """Assemble, verify the signature, then flip `active`; never a half-checked model."""
        try:
            self.dirs.materialize(self.local, ref)
        except SignatureError as exc:
            self.tracker.set(ref, "failed", error=f"not activated: {exc}", final=True)
            self.on_change()
            return
        except RegistryError as exc:
            self.tracker.set(ref, "failed", error=f"not activated: {exc}")
            self.on_change()
            return
        self.dirs.activate(name, version)
        self.tracker.set(ref, "active")
        self.on_change()
