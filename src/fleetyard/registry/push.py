"""Pushing a model folder as a new immutable version.

Order of a push, and why it is crash-safe:

1. check the name, version, parent and key; refuse an existing version;
2. take a push lease (no gc can run until we are done, see `leases`);
3. chunk and name every file (FastCDC + BLAKE3), in parallel processes;
4. write the chunks the store lacks into new packs (each fsynced, then its index);
5. sign the folder if a key was given; check no file changed meanwhile;
6. write the recipe, then create the manifest — only if absent — as the commit.

A crash before step 6 leaves only unreferenced packs, which gc removes; the
version is visible exactly when its manifest exists, and everything it needs was
durable before that.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from fleetyard.registry import layout, leases
from fleetyard.registry.chunking import (
    Chunk,
    chunk_id,
    chunk_segment,
    plan_segments,
    splice_segments,
)
from fleetyard.registry.errors import SourceFolderError, StorageError, VersionExistsError
from fleetyard.registry.manifest import (
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


class _Inline(Executor):
    """Runs work in the calling process: small pushes skip process start-up."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        fut: Future[T] = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            fut.set_exception(exc)
        return fut


@contextmanager
def _executor(workers: int, total: int, parallel_min: int) -> Iterator[Executor]:
    if workers <= 1 or total < parallel_min:
        yield _Inline()
        return
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["fleetyard.registry.chunking", "fleetyard.registry.packs"])
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
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


def _chunk_files(
    src: SourceFolder, pool: Executor, progress: ProgressFn | None
) -> list[list[Chunk]]:
    """Chunk every file; returns per-file chunk lists in file order."""
    total = src.size
    done = 0
    jobs = []
    for f in src.files:
        segs = plan_segments(f.path, f.size)
        jobs.append((f, segs, [pool.submit(chunk_segment, s) for s in segs]))
    out: list[list[Chunk]] = []
    for f, segs, futs in jobs:
        parts = []
        for seg, fut in zip(segs, futs, strict=True):
            parts.append(fut.result())
            done += seg.end - seg.start
            if progress:
                progress("chunk", done, total)

        def rehash(off: int, n: int, path: str = f.path) -> bytes:
            with open(path, "rb") as fh:
                return chunk_id(os.pread(fh.fileno(), n, off))

        chunks = splice_segments(segs, parts, rehash)
        if sum(c.length for c in chunks) != f.size:
            raise SourceFolderError(f"{f.path} changed while it was being pushed")
        out.append(chunks)
    return out


def _pack_jobs(
    src: SourceFolder, per_file: list[list[Chunk]], known: Callable[[bytes], bool], pack_size: int
) -> tuple[list[list[Extent]], int]:
    """Group the chunks the store lacks into pack-sized jobs; returns jobs, reused count."""
    jobs: list[list[Extent]] = []
    current: list[Extent] = []
    size = reused = 0
    seen: set[bytes] = set()
    for f, chunks in zip(src.files, per_file, strict=True):
        compress = sample_compressible(f.path, f.size)
        for c in chunks:
            if c.digest in seen or known(c.digest):
                reused += 1
                continue
            seen.add(c.digest)
            current.append(Extent(f.path, c.offset, c.length, c.digest, compress))
            size += c.length
            if size >= pack_size:
                jobs.append(current)
                current, size = [], 0
    if current:
        jobs.append(current)
    return jobs, reused


def _store_packs(
    store: Store, jobs: list[list[Extent]], pool: Executor, progress: ProgressFn | None
) -> list[PackResult]:
    staging = store.backend.staging_dir()
    total = sum(e.length for job in jobs for e in job)
    done = 0
    futs = [pool.submit(write_pack, staging, job) for job in jobs]
    results: list[PackResult] = []
    try:
        for job, fut in zip(jobs, futs, strict=True):
            res = fut.result()
            store.backend.put_file(layout.pack_key(res.pack_id), res.path)
            store.backend.put(layout.index_key(res.pack_id), encode_index(res.entries))
            results.append(res)
            done += sum(e.length for e in job)
            if progress:
                progress("store", done, total)
    except BaseException:
        for fut in futs:
            fut.cancel()
            if fut.done() and fut.exception() is None:
                try:
                    os.unlink(fut.result().path)
                except FileNotFoundError:
                    pass
        raise
    return results


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
    workers: int | None = None,
    progress: ProgressFn | None = None,
    lease_wait: float = 300.0,
    pack_size: int = TARGET_PACK_SIZE,
    parallel_min_bytes: int = PARALLEL_MIN_BYTES,
) -> PushResult:
    """Push a model folder as `name:version`; see the module docstring for the order."""
    started = time.perf_counter()
    parent_ref = _check_request(store, name, version, alias, parent)
    src = scan_folder(folder)
    if key is not None:
        check_private_key(key, key_password)
    n_workers = workers if workers is not None else (os.cpu_count() or 1)
    try:
        with leases.acquire(store.backend, "push", f"{name}:{version}", wait=lease_wait):
            index = store.index()
            with _executor(n_workers, src.size, parallel_min_bytes) as pool:
                per_file = _chunk_files(src, pool, progress)
                jobs, reused = _pack_jobs(src, per_file, index.__contains__, pack_size)
                packs = _store_packs(store, jobs, pool, progress)
            signature = _signature(src, key, key_password)
            for f in src.files:
                if f.changed():
                    raise SourceFolderError(f"{f.path} changed while it was being pushed")
            manifest = _commit(
                store, src, per_file, name, version, parent_ref, labels, signature, packs
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
) -> VersionManifest:
    lists = [[(c.digest, c.length) for c in chunks] for chunks in per_file]
    data, digest = encode_recipe(Recipe(tuple(lists)))
    store.backend.put(layout.recipe_key(digest), data)
    files = tuple(
        FileEntry(f.rel, f.size, f.mode, content_id(chunks))
        for f, chunks in zip(src.files, lists, strict=True)
    )
    manifest = VersionManifest(
        name=name,
        version=version,
        created=utc_now(),
        size=src.size,
        files=files,
        recipe=digest,
        chunk_count=sum(len(x) for x in lists),
        parent=parent,
        labels=dict(labels or {}),
        signature=signature,
        stored_bytes_added=sum(p.size - 8 for p in packs),
        raw_bytes_added=sum(e.raw_size for p in packs for e in p.entries),
    )
    if not store.backend.put_new(layout.version_key(name, version), manifest.to_json()):
        raise VersionExistsError(
            f"version {name}:{version} was pushed by someone else meanwhile: versions are immutable"
        )
    return manifest
