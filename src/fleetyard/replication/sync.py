"""Syncing one model version into a site's local chunk store, from the best source.

`sync_version` asks the registry's `missing_chunks` which chunks the site lacks,
fetches only those, in batched byte ranges, from its sources in order (peers first,
then the center), checks every chunk against its BLAKE3 name, and writes the good
ones into small local packs. A chunk that fails its check is refused - never stored
- and recorded with its digest and source; it is tried again from the next source.
A source that fails (unreachable, lacks the version or some chunks) hands what is
left to the next one. Only when every chunk is held are the recipe and, last, the
manifest written: a version is present locally exactly when it is complete.

`may_continue` is asked before every range request; when it says no (the sync
window closed, the agent is stopping) the sync publishes what it has and returns
`paused`. A later call resumes: chunks already held are never fetched again.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Literal

from fleetyard.registry import layout, leases
from fleetyard.registry.backends.base import Backend
from fleetyard.registry.errors import IntegrityError, InvalidInputError, RegistryError
from fleetyard.registry.manifest import VersionManifest, decode_recipe, stored_recipe
from fleetyard.registry.names import parse_ref
from fleetyard.registry.packs import decode_chunk
from fleetyard.registry.store import Store
from fleetyard.registry.transfer import PackRange, missing_chunks
from fleetyard.replication.localpacks import LOCAL_PACK_SIZE, LocalPackWriter

__all__ = ["RejectedChunk", "Source", "SourceFailure", "SyncProgress", "SyncResult", "sync_version"]

SyncOutcome = Literal["synced", "paused", "failed"]
DEFAULT_RANGE = 4 * 1024 * 1024


@dataclass(frozen=True)
class Source:
    """Somewhere to fetch chunks from: "center" or a peer site, and its backend."""

    name: str
    backend: Backend
    kind: Literal["peer", "center"] = "center"


@dataclass(frozen=True)
class RejectedChunk:
    """A chunk that failed its hash check: refused, never stored."""

    digest: str
    source: str
    reason: str

    def describe(self) -> str:
        """One line for a status report."""
        return f"corrupted chunk {self.digest} from {self.source} refused: {self.reason}"


@dataclass(frozen=True)
class SourceFailure:
    """A source that could not deliver (what it failed at, in one line)."""

    source: str
    message: str


@dataclass(frozen=True)
class SyncProgress:
    """Where a sync stands; passed to the progress callback after every range."""

    ref: str
    bytes_needed: int
    bytes_done: int
    chunks_needed: int
    chunks_done: int
    source: str


@dataclass(frozen=True)
class SyncResult:
    """How a sync ended: `synced` (complete locally), `paused` or `failed` (with why)."""

    ref: str
    outcome: SyncOutcome
    bytes_needed: int = 0
    chunks_needed: int = 0
    chunks_fetched: int = 0
    chunk_bytes: int = 0
    rejected: tuple[RejectedChunk, ...] = ()
    failures: tuple[SourceFailure, ...] = ()
    error: str | None = None
    manifest: VersionManifest | None = None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@dataclass
class _State:
    manifest: VersionManifest
    recipe: bytes
    sizes: dict[bytes, int]
    need: set[bytes]
    bytes_needed: int = 0
    chunks_needed: int = 0
    done_bytes: int = 0
    rejected: list[RejectedChunk] = field(default_factory=list)
    failures: list[SourceFailure] = field(default_factory=list)
    paused: bool = False


class _Sync:
    def __init__(
        self,
        ref: str,
        sources: Sequence[Source],
        local: Store,
        may_continue: Callable[[], bool],
        progress: Callable[[SyncProgress], None] | None,
        max_range: int,
        threads: int,
    ) -> None:
        self.ref, self.sources, self.local = ref, list(sources), local
        self.may_continue, self.progress = may_continue, progress
        self.max_range, self.threads = max_range, max(1, threads)

    def resolve(self, name: str, version: str) -> tuple[VersionManifest, bytes] | list[SourceFailure]:
        """The manifest and recipe from the first source that has them."""
        failures: list[SourceFailure] = []
        for src in self.sources:
            try:
                manifest = Store(src.backend).manifest(name, version)
                key = layout.recipe_key(manifest.recipe)
                data = src.backend.get(key)
                decode_recipe(data, manifest.recipe, key)
                return manifest, data
            except Exception as exc:
                failures.append(SourceFailure(src.name, _one_line(exc)))
        return failures

    def fetch_all(self, st: _State, writer: LocalPackWriter) -> None:
        """Fetch what is needed from each source in turn until nothing is left."""
        for src in self.sources:
            if not st.need or st.paused:
                return
            try:
                self._from_source(src, st, writer)
            except Exception as exc:
                st.failures.append(SourceFailure(src.name, _one_line(exc)))
            writer.flush()

    def _from_source(self, src: Source, st: _State, writer: LocalPackWriter) -> None:
        store = Store(src.backend)
        index = store.index()
        refused_here = {bytes.fromhex(r.digest) for r in st.rejected if r.source == src.name}
        skip = {d for d in st.need if d not in index} | refused_here
        if st.bytes_needed == 0 and st.chunks_needed:
            st.bytes_needed = sum(
                loc.entry.stored_size if (loc := index.get(d)) else st.sizes[d] for d in st.need
            )
        have = (st.sizes.keys() - st.need) | skip
        plan = missing_chunks(store, st.manifest, have, index=index, max_range=self.max_range)
        if skip - refused_here:
            st.failures.append(SourceFailure(src.name, f"lacks {len(skip - refused_here)} chunk(s)"))
        if not plan.ranges:
            return
        error = self._fetch(src, plan.ranges, st, writer)
        if error is not None:
            raise error

    def _fetch(
        self, src: Source, ranges: Sequence[PackRange], st: _State, writer: LocalPackWriter
    ) -> Exception | None:
        """Fetch ranges with a bounded read-ahead; returns the first request error."""
        pending: Iterator[PackRange] = iter(ranges)
        window: deque[tuple[PackRange, Future[bytes]]] = deque()
        error: Exception | None = None
        with ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="sync") as pool:

            def submit() -> None:
                if error is not None or st.paused:
                    return
                if not self.may_continue():
                    st.paused = True
                    return
                r = next(pending, None)
                if r is not None:
                    window.append((r, pool.submit(src.backend.get_range, r.key, r.offset, r.length)))

            for _ in range(self.threads):
                submit()
            while window:
                r, fut = window.popleft()
                try:
                    data = fut.result()
                except Exception as exc:
                    error = error or exc
                    continue
                self._take(src, r, data, st, writer)
                submit()
        return error

    def _take(self, src: Source, r: PackRange, data: bytes, st: _State, writer: LocalPackWriter) -> None:
        """Verify each chunk of a fetched range; store the good ones, refuse the bad."""
        view = memoryview(data)
        for n in r.chunks:
            digest = bytes.fromhex(n.digest)
            if digest not in st.need:
                continue
            stored = view[n.offset - r.offset : n.offset - r.offset + n.stored_size]
            try:
                if len(stored) != n.stored_size:
                    raise IntegrityError(f"range from pack {r.key} was truncated")
                decode_chunk(stored, n.entry)
            except IntegrityError as exc:
                st.rejected.append(
                    RejectedChunk(n.digest, src.name, f"{_one_line(exc)} (pack {r.key} at offset {n.offset})")
                )
                continue
            writer.add(digest, stored, n.raw_size, n.codec)
            st.need.discard(digest)
            st.done_bytes += n.stored_size
        if self.progress is not None:
            self.progress(
                SyncProgress(
                    self.ref,
                    st.bytes_needed,
                    st.done_bytes,
                    st.chunks_needed,
                    st.chunks_needed - len(st.need),
                    src.name,
                )
            )


def _failure_text(ref: str, st: _State) -> str:
    parts = [f"{ref}: {len(st.need)} chunk(s) could not be fetched from any source"]
    if st.rejected:
        parts.append(st.rejected[0].describe() + (f" (+{len(st.rejected) - 1} more)" if len(st.rejected) > 1 else ""))
    parts.extend(f"{f.source}: {f.message}" for f in st.failures[:3])
    return "; ".join(parts)


def sync_version(
    ref: str,
    sources: Sequence[Source],
    local: Store,
    *,
    may_continue: Callable[[], bool] = lambda: True,
    progress: Callable[[SyncProgress], None] | None = None,
    pack_size: int = LOCAL_PACK_SIZE,
    pack_max_age: float = 5.0,
    max_range: int = DEFAULT_RANGE,
    threads: int = 4,
    lease_wait: float = 60.0,
    monotonic: Callable[[], float] = time.monotonic,
) -> SyncResult:
    """Make `local` hold version `ref` (name:version) completely; see the module docstring."""
    r = parse_ref(ref)
    if r.version is None:
        raise InvalidInputError(f"{ref}: a sync needs name:version (the server resolves aliases)")
    name, version = r.name, r.version
    if local.has_version(name, version):
        return SyncResult(ref, "synced", manifest=local.manifest(name, version))
    if not may_continue():
        return SyncResult(ref, "paused")
    job = _Sync(ref, sources, local, may_continue, progress, max_range, threads)
    found = job.resolve(name, version)
    if isinstance(found, list):
        detail = "; ".join(f"{f.source}: {f.message}" for f in found) or "no sources given"
        return SyncResult(ref, "failed", failures=tuple(found), error=f"{ref}: no source could serve it ({detail})")
    manifest, recipe_bytes = found
    # chunk names as stored: an encrypted version's are scoped by its key id, and its
    # sealed chunks are checked by their keyless checksum (no key needed to sync or relay)
    recipe = stored_recipe(manifest, decode_recipe(recipe_bytes, manifest.recipe, layout.recipe_key(manifest.recipe)))
    sizes = {d: n for chunks in recipe.files for d, n in chunks}
    with leases.acquire(local.backend, "push", f"sync {ref}", wait=lease_wait):
        held = local.index().digests()
        st = _State(manifest, recipe_bytes, sizes, set(sizes) - held)
        st.chunks_needed = len(st.need)
        writer = LocalPackWriter(local, pack_size=pack_size, max_age=pack_max_age, monotonic=monotonic)
        try:
            job.fetch_all(st, writer)
            writer.flush()
        except BaseException:
            writer.abort()
            raise
        result = SyncResult(
            ref,
            "synced",
            bytes_needed=st.bytes_needed,
            chunks_needed=st.chunks_needed,
            chunks_fetched=writer.chunks,
            chunk_bytes=writer.bytes,
            rejected=tuple(st.rejected),
            failures=tuple(st.failures),
            manifest=manifest,
        )
        if st.need:
            if st.paused:
                return replace(result, outcome="paused")
            return replace(result, outcome="failed", error=_failure_text(ref, st))
        _commit(local, manifest, recipe_bytes)
    return result


def _commit(local: Store, manifest: VersionManifest, recipe: bytes) -> None:
    """Write the recipe, then the manifest: the version becomes visible complete."""
    local.backend.put(layout.recipe_key(manifest.recipe), recipe)
    if not local.backend.put_new(layout.version_key(manifest.name, manifest.version), manifest.to_json()):
        existing = local.manifest(manifest.name, manifest.version)
        if existing.recipe != manifest.recipe:
            raise RegistryError(f"{manifest.ref} exists locally with different content")
