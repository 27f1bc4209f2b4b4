"""Pushing a model folder as a new immutable version.

Order of a push, and why it is crash-safe:

1. check the name, version, parent and key; refuse an existing version;
2. take a push lease (no gc can run until we are done, see `leases`);
3. chunk and name every file (FastCDC + BLAKE3), in parallel processes;
4. write the chunks the store lacks into new packs (each fsynced, then its index),
   sealed under the model's data key when it is encrypted (`registry.encryption`);
5. sign the folder if a key was given; check no file changed meanwhile;
6. write the recipe and (encrypted) the wrapped data keys, seal the provenance (if
   given: an in-toto statement naming the recipe and the signature, signed with the
   same key; `registry.provenance`), then create the manifest — only if absent — as
   the commit.

A crash before step 6 leaves only unreferenced packs, which gc removes; the
version is visible exactly when its manifest exists, and everything it needs was
durable before that.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from fleetyard.registry import attest, encryption, layout, leases
from fleetyard.registry.chunking import (
    Chunk,
    Segment,
    chunk_id,
    chunk_segment,
    plan_segments,
    splice_segments,
)
from fleetyard.registry.errors import (
    IntegrityError,
    InvalidInputError,
    SourceFolderError,
    StorageError,
    VersionExistsError,
)
from fleetyard.registry.manifest import (
    Encryption,
    FileEntry,
    Recipe,
    VersionManifest,
    content_id,
    encode_recipe,
)
from fleetyard.registry.names import check_alias, check_name, check_version, parse_ref
from fleetyard.registry.packs import (
    TARGET_PACK_SIZE,
    Extent,
    PackResult,
    encode_index,
    sample_compressible,
    write_pack,
)
from fleetyard.registry.provenance import BaseModelRef, ProvenanceInput
from fleetyard.registry.schema import labels_problem
from fleetyard.registry.signing import check_private_key, sign_folder, signed_paths
from fleetyard.registry.source import SourceFolder, scan_folder
from fleetyard.registry.store import Store, utc_now

__all__ = ["ProgressFn", "PushResult", "push"]

# progress(phase, done, total): phase is "chunk" (bytes read) or "store" (bytes written)
ProgressFn = Callable[[str, int, int], None]
PARALLEL_MIN_BYTES = 32 * 1024 * 1024
_GIT_IGNORED = (".gitattributes", ".gitignore", ".github/", ".git/")
T = TypeVar("T")


@dataclass(frozen=True)
class PushResult:
    """What a push stored: the new version and how much of it was new."""

    manifest: VersionManifest
    new_chunks: int
    reused_chunks: int
    raw_bytes_added: int
    stored_bytes_added: int
    packs_written: int
    seconds: float


def _noop() -> None:
    return None


@contextmanager
def _executor(workers: int, total: int, parallel_min: int) -> Iterator[Executor | None]:
    """A process pool for big pushes (None: work inline).

    Workers are forked — and started, by a first no-op task — before the push takes
    its lease, so no background thread exists yet when the process forks.
    """
    if workers <= 1 or total < parallel_min:
        yield None
        return
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        for f in [pool.submit(_noop) for _ in range(workers)]:
            f.result()
        yield pool


def _check_request(
    store: Store, name: str, version: str, alias: str | None, parent: str | None
) -> str | None:
    check_name(name)
    check_version(version)
    if alias is not None:
        check_alias(alias)
    if store.has_version(name, version):
        raise VersionExistsError(
            f"version {name}:{version} already exists in {store.url}: versions are "
            "immutable, push a new version"
        )
    if parent is None:
        return None
    ref = parse_ref(parent)
    return store.resolve(ref).ref


class _Ingest:
    """Chunks files and writes the new chunks into packs, as one pipeline.

    Segments are handed to the pool a few at a time, so pack writes (and the disk
    writeback they start) interleave with chunking instead of waiting for it.
    """

    def __init__(
        self,
        store: Store,
        src: SourceFolder,
        known: Callable[[bytes], bool],
        pool: Executor | None,
        pack_size: int,
        progress: ProgressFn | None,
        sealing: encryption.SealPlan | None = None,
    ) -> None:
        self.store, self.src, self.known, self.pool = store, src, known, pool
        self.sealer = sealing.sealer if sealing is not None else None
        self.pack_size, self.progress = pack_size, progress
        self.staging = store.backend.staging_dir()
        self.seen: set[bytes] = set()
        self.reused = 0
        self.job: list[Extent] = []
        self.job_bytes = 0
        self.writes: deque[Future[PackResult]] = deque()
        self.packs: list[PackResult] = []
        self.chunked = self.to_store = self.stored = 0

    def _submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        if self.pool is not None:
            return self.pool.submit(fn, *args)
        fut: Future[T] = Future()
        try:
            fut.set_result(fn(*args))
        except BaseException as exc:
            fut.set_exception(exc)
        return fut

    def run(self) -> list[list[Chunk]]:
        """Chunk every file and store its new chunks; returns per-file chunk lists."""
        try:
            return self._run()
        except BaseException:
            self._discard()
            raise

    def _run(self) -> list[list[Chunk]]:
        todo = deque(
            (i, seg) for i, f in enumerate(self.src.files) for seg in plan_segments(f.path, f.size)
        )
        n_segs = [0] * len(self.src.files)
        for i, _ in todo:
            n_segs[i] += 1
        window = 4 if self.pool is not None else 1
        inflight: deque[tuple[int, Segment, Future[list[Chunk]]]] = deque()
        parts: list[list[list[Chunk]]] = [[] for _ in self.src.files]
        out: list[list[Chunk]] = []
        while todo or inflight:
            while todo and len(inflight) < window:
                i, seg = todo.popleft()
                use_mmap = self.pool is not None
                inflight.append((i, seg, self._submit(chunk_segment, seg, use_mmap)))
            i, seg, fut = inflight.popleft()
            try:
                parts[i].append(fut.result())
            except BrokenProcessPool as exc:
                raise SourceFolderError(
                    f"{seg.path} changed (or a worker died) while it was being pushed"
                ) from exc
            self.chunked += seg.end - seg.start
            if self.progress:
                self.progress("chunk", self.chunked, self.src.size)
            if len(parts[i]) == n_segs[i]:
                out.append(self._file_done(i, parts[i]))
                parts[i] = []
            self._publish(block=False)
        if self.job:
            self.writes.append(self._submit(write_pack, self.staging, self.job, self.sealer))
            self.job = []
        self._publish(block=True)
        return out

    def _file_done(self, i: int, parts: list[list[Chunk]]) -> list[Chunk]:
        f = self.src.files[i]
        segs = plan_segments(f.path, f.size)

        def rehash(off: int, n: int) -> bytes:
            with open(f.path, "rb") as fh:
                return chunk_id(os.pread(fh.fileno(), n, off))

        chunks = splice_segments(segs, parts, rehash)
        if sum(c.length for c in chunks) != f.size:
            raise SourceFolderError(f"{f.path} changed while it was being pushed")
        compress = sample_compressible(f.path, f.size)
        for c in chunks:
            stored_id = self.sealer.scoped(c.digest) if self.sealer is not None else c.digest
            if stored_id in self.seen or self.known(stored_id):
                self.reused += 1
                continue
            self.seen.add(stored_id)
            self.job.append(Extent(f.path, c.offset, c.length, stored_id, compress))
            self.job_bytes += c.length
            self.to_store += c.length
            if self.job_bytes >= self.pack_size:
                self.writes.append(self._submit(write_pack, self.staging, self.job, self.sealer))
                self.job, self.job_bytes = [], 0
        return chunks

    def _publish(self, *, block: bool) -> None:
        """Hand finished packs to the backend: data first, then the index."""
        while self.writes and (block or self.writes[0].done()):
            res = self.writes[0].result()
            self.store.backend.put_file(layout.pack_key(res.pack_id), res.path)
            self.writes.popleft()
            self.store.backend.put(layout.index_key(res.pack_id), encode_index(res.entries))
            self.packs.append(res)
            self.stored += sum(e.raw_size for e in res.entries)
            if self.progress:
                self.progress("store", self.stored, max(self.to_store, self.stored))

    def _discard(self) -> None:
        """Remove staged packs that were never handed to the backend."""
        for fut in self.writes:
            fut.cancel()
        for fut in self.writes:
            try:
                path = fut.result().path
            except BaseException:
                continue
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


def push(
    store: Store,
    folder: str | os.PathLike[str],
    name: str,
    version: str,
    *,
    key: str | os.PathLike[str] | None = None,
    key_password: str | None = None,
    alias: str | None = None,
    parent: str | None = None,
    labels: dict[str, str] | None = None,
    provenance: ProvenanceInput | None = None,
    encrypt_for: list[encryption.Recipient] | None = None,
    site_key: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    lease_wait: float = 300.0,
    pack_size: int = TARGET_PACK_SIZE,
    parallel_min_bytes: int = PARALLEL_MIN_BYTES,
) -> PushResult:
    """Push a model folder as `name:version`; see the module docstring for the order.

    `encrypt_for` (site public keys) makes a model's first push encrypted; `site_key` (a
    recipient's private key) unwraps the data key of a model already encrypted."""
    started = time.perf_counter()
    parent_ref = _check_request(store, name, version, alias, parent)
    bad_labels = labels_problem(labels or {})
    if bad_labels is not None:
        raise InvalidInputError(f"cannot push {name}:{version}: {bad_labels}")
    base: BaseModelRef | None = None
    if provenance is not None:
        attest.check_input(provenance)
        if provenance.base_model:
            base = attest.resolve_base_model(store, provenance.base_model)
    src = scan_folder(folder)
    if key is not None:
        check_private_key(key, key_password)
    sealing = encryption.plan_push(store.backend, name, list(encrypt_for or []), site_key, utc_now())
    n_workers = workers if workers is not None else (os.cpu_count() or 1)
    try:
        with (
            _executor(n_workers, src.size, parallel_min_bytes) as pool,
            leases.acquire(store.backend, "push", f"{name}:{version}", wait=lease_wait),
        ):
            index = store.index()
            ingest = _Ingest(store, src, index.__contains__, pool, pack_size, progress, sealing)
            per_file = ingest.run()
            packs, reused = ingest.packs, ingest.reused
            signature = _signature(src, key, key_password)
            for f in src.files:
                if f.changed():
                    raise SourceFolderError(f"{f.path} changed while it was being pushed")
            prov = None if provenance is None else (provenance, base, key, key_password)
            if sealing is not None and sealing.changed:
                encryption.write_keys(store.backend, sealing.doc, new=sealing.new)
            enc = None if sealing is None else Encryption(sealing.doc.key_id)
            manifest = _commit(
                store, src, per_file, name, version, parent_ref, labels, signature, packs, prov, enc
            )
    except OSError as exc:
        raise StorageError(f"push of {name}:{version} to {store.url} failed: {exc}") from exc
    if alias is not None:
        store.set_alias(name, alias, version)
    return PushResult(
        manifest=manifest,
        new_chunks=sum(len(p.entries) for p in packs),
        reused_chunks=reused,
        raw_bytes_added=manifest.raw_bytes_added,
        stored_bytes_added=manifest.stored_bytes_added,
        packs_written=len(packs),
        seconds=time.perf_counter() - started,
    )


def _signature(
    src: SourceFolder, key: str | os.PathLike[str] | None, password: str | None
) -> str | None:
    if key is None:
        return src.signature
    sig = sign_folder(src.root, key, password, allow_symlinks=src.has_symlinks)
    expected = {f.rel for f in src.files if not f.rel.startswith(_GIT_IGNORED)}
    if set(signed_paths(sig)) != expected:
        raise SourceFolderError(f"files in {src.root} changed while it was being signed")
    return sig


def _commit(
    store: Store,
    src: SourceFolder,
    per_file: list[list[Chunk]],
    name: str,
    version: str,
    parent: str | None,
    labels: dict[str, str] | None,
    signature: str | None,
    packs: list[PackResult],
    sealing: tuple[ProvenanceInput, BaseModelRef | None, Any, str | None] | None = None,
    enc: Encryption | None = None,
) -> VersionManifest:
    lists = [[(c.digest, c.length) for c in chunks] for chunks in per_file]
    data, digest = encode_recipe(Recipe(tuple(lists)))
    store.backend.put(layout.recipe_key(digest), data)
    created = utc_now()
    envelope = None
    if sealing is not None:
        given, base, key, password = sealing
        envelope = attest.seal(given, base, ref=f"{name}:{version}", recipe=digest, signature=signature,
                               parent=parent, created=created, key=key, password=password)
    files = tuple(
        FileEntry(f.rel, f.size, f.mode, content_id(chunks))
        for f, chunks in zip(src.files, lists, strict=True)
    )
    manifest = VersionManifest(
        name=name,
        version=version,
        created=created,
        size=src.size,
        files=files,
        recipe=digest,
        chunk_count=sum(len(x) for x in lists),
        parent=parent,
        labels=dict(labels or {}),
        signature=signature,
        stored_bytes_added=sum(p.size - 8 for p in packs),
        raw_bytes_added=sum(e.raw_size for p in packs for e in p.entries),
        provenance=envelope,
        encryption=enc,
    )
    key, data = layout.version_key(name, version), manifest.to_json()
    try:
        VersionManifest.from_json(data, key)  # what every reader will check: never store less
    except IntegrityError as exc:
        raise InvalidInputError(f"cannot push {name}:{version}: {exc}") from None
    if not store.backend.put_new(key, data):
        raise VersionExistsError(
            f"version {name}:{version} was pushed by someone else meanwhile: versions are immutable"
        )
    return manifest
