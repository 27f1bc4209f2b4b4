"""The missing-chunks question, verified range reads, and copying versions.

`missing_chunks` is the function replication calls: given the chunk names a site
already holds and a version, it returns exactly which chunks the site needs, the
byte ranges of the packs that hold them (adjacent chunks coalesced into one range)
and the bytes to transfer. `read_ranges` fetches such ranges and checks every chunk
against its name. `copy_version` moves a version between two stores with both; it
backs `export`/`import` today and is the shape of a site sync tomorrow.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice

from fleetyard.registry import layout, leases
from fleetyard.registry.errors import IntegrityError, VersionExistsError
from fleetyard.registry.index import ChunkIndex
from fleetyard.registry.manifest import VersionManifest, decode_recipe
from fleetyard.registry.names import Ref
from fleetyard.registry.packs import PackBuilder, PackEntry, PackResult, decode_chunk, encode_index
from fleetyard.registry.store import Store

__all__ = [
    "ChunkNeed",
    "MissingChunks",
    "PackRange",
    "copy_version",
    "missing_chunks",
    "read_ranges",
]

MAX_RANGE = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ChunkNeed:
    """One chunk a site must fetch: its name and where it sits in which pack."""

    digest: str
    pack_id: str
    offset: int
    stored_size: int
    raw_size: int
    codec: int

    @property
    def entry(self) -> PackEntry:
        """The chunk as a pack index entry (to index it again at the receiver)."""
        return PackEntry(
            bytes.fromhex(self.digest), self.offset, self.stored_size, self.raw_size, self.codec
        )


@dataclass(frozen=True)
class PackRange:
    """A contiguous byte range of one pack, covering one or more needed chunks."""

    pack_id: str
    offset: int
    length: int
    chunks: tuple[ChunkNeed, ...]

    @property
    def key(self) -> str:
        """The pack's object key in the store."""
        return layout.pack_key(self.pack_id)


@dataclass(frozen=True)
class MissingChunks:
    """The answer to "what must a site fetch to hold version V?"."""

    version: str
    chunks: tuple[ChunkNeed, ...]
    ranges: tuple[PackRange, ...]
    total_bytes: int
    raw_bytes: int
    chunks_total: int
    chunks_held: int


def _as_digest(d: str | bytes) -> bytes:
    return bytes.fromhex(d) if isinstance(d, str) else bytes(d)


def missing_chunks(
    store: Store,
    version: str | Ref | VersionManifest,
    have: Iterable[str | bytes] = (),
    *,
    index: ChunkIndex | None = None,
    max_gap: int = 0,
    max_range: int = MAX_RANGE,
) -> MissingChunks:
    """Which chunks of `version` a site holding `have` lacks, and where to read them.

    `have` holds chunk names (hex strings or 32-byte digests). Ranges coalesce
    chunks of one pack that are at most `max_gap` bytes apart (0: only adjacent
    ones, so `total_bytes` is exactly the bytes needed), up to `max_range` each.
    Raises IntegrityError if the store itself lacks a chunk the version needs.
    """
    manifest = version if isinstance(version, VersionManifest) else store.resolve(version)
    idx = index if index is not None else store.index()
    held = {_as_digest(d) for d in have}
    wanted = store.recipe(manifest).all_chunks()
    needs: list[ChunkNeed] = []
    for d in wanted - held:
        loc = idx.get(d)
        if loc is None:
            raise IntegrityError(
                f"{manifest.ref} needs chunk {d.hex()}, which no pack of {store.url} holds"
            )
        e = loc.entry
        needs.append(ChunkNeed(d.hex(), loc.pack_id, e.offset, e.stored_size, e.raw_size, e.codec))
    needs.sort(key=lambda n: (n.pack_id, n.offset))
    ranges: list[PackRange] = []
    group: list[ChunkNeed] = []
    for n in needs:
        if group:
            last = group[-1]
            end = last.offset + last.stored_size
            if (
                n.pack_id == last.pack_id
                and n.offset - end <= max_gap
                and n.offset + n.stored_size - group[0].offset <= max_range
            ):
                group.append(n)
                continue
            ranges.append(_range(group))
        group = [n]
    if group:
        ranges.append(_range(group))
    return MissingChunks(
        version=manifest.ref,
        chunks=tuple(needs),
        ranges=tuple(ranges),
        total_bytes=sum(r.length for r in ranges),
        raw_bytes=sum(n.raw_size for n in needs),
        chunks_total=len(wanted),
        chunks_held=len(wanted) - len(needs),
    )


def _range(group: list[ChunkNeed]) -> PackRange:
    start = group[0].offset
    end = group[-1].offset + group[-1].stored_size
    return PackRange(group[0].pack_id, start, end - start, tuple(group))


def read_ranges(
    store: Store,
    ranges: Iterable[PackRange],
    *,
    describe: Callable[[str], str] = lambda _d: "",
    threads: int = 4,
    check_sealed: bool = True,
) -> Iterator[tuple[ChunkNeed, memoryview, bytes | memoryview]]:
    """Fetch ranges (a few at a time) and yield (chunk, stored bytes, raw bytes).

    Every chunk is decoded and checked against its name before it is yielded; a
    mismatch raises IntegrityError naming the chunk, the pack and its offset, plus
    `describe(digest)` (the files that use it). A sealed chunk is checked by its keyless
    checksum unless `check_sealed` is false (a pull that opens it with the key).
    """

    def fetch(r: PackRange) -> tuple[PackRange, bytes]:
        return r, store.backend.get_range(r.key, r.offset, r.length)

    pending = iter(ranges)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        # A bounded read-ahead: enough to hide latency, not the whole version in memory.
        window = deque(pool.submit(fetch, r) for r in islice(pending, threads))
        while window:
            r, data = window.popleft().result()
            nxt = next(pending, None)
            if nxt is not None:
                window.append(pool.submit(fetch, nxt))
            view = memoryview(data)
            for n in r.chunks:
                stored = view[n.offset - r.offset : n.offset - r.offset + n.stored_size]
                try:
                    if len(stored) != n.stored_size:
                        raise IntegrityError("pack is truncated")
                    raw = decode_chunk(stored, n.entry, check_sealed=check_sealed)
                except IntegrityError as exc:
                    where = describe(n.digest)
                    raise IntegrityError(
                        f"corrupted chunk {n.digest} in pack {r.key} at offset {n.offset}"
                        f"{' (' + where + ')' if where else ''}: {exc}"
                    ) from exc
                yield n, stored, raw


def store_pack(store: Store, res: PackResult) -> None:
    """Publish a staged pack: the data first, then its index (which makes it live)."""
    store.backend.put_file(layout.pack_key(res.pack_id), res.path)
    store.backend.put(layout.index_key(res.pack_id), encode_index(res.entries))


def copy_version(
    src: Store,
    dst: Store,
    version: str | Ref | VersionManifest,
    *,
    skip: Iterable[str | bytes] = (),
    progress: Callable[[int, int], None] | None = None,
    lease_wait: float = 300.0,
) -> MissingChunks:
    """Copy a version from `src` to `dst`, moving only chunks `dst` lacks.

    `skip` names chunks to leave out although `dst` lacks them (an incremental export
    whose receiver already holds a base version). Idempotent: copying a version that
    `dst` already has with the same content does nothing; different content under
    the same `name:version` raises VersionExistsError.
    """
    manifest = version if isinstance(version, VersionManifest) else src.resolve(version)
    if dst.has_version(manifest.name, manifest.version):
        if dst.manifest(manifest.name, manifest.version).recipe == manifest.recipe:
            return MissingChunks(
                manifest.ref, (), (), 0, 0, manifest.chunk_count, manifest.chunk_count
            )
        raise VersionExistsError(
            f"version {manifest.ref} already exists in {dst.url} with different content"
        )
    with leases.acquire(dst.backend, "push", f"copy {manifest.ref}", wait=lease_wait):
        have = dst.index().digests() | {_as_digest(d) for d in skip}
        plan = missing_chunks(src, manifest, have)
        builder = PackBuilder(dst.backend.staging_dir())
        done = 0
        try:
            for n, stored, _raw in read_ranges(src, plan.ranges):
                full = builder.add(bytes.fromhex(n.digest), stored, n.raw_size, n.codec)
                if full is not None:
                    store_pack(dst, full)
                done += n.stored_size
                if progress:
                    progress(done, plan.total_bytes)
            last = builder.finish()
            if last is not None:
                store_pack(dst, last)
        except BaseException:
            builder.abort()
            raise
        key = layout.recipe_key(manifest.recipe)
        data = src.backend.get(key)
        decode_recipe(data, manifest.recipe, key)
        dst.backend.put(key, data)
        if manifest.encryption is not None:  # the wrapped data keys travel with the version
            keys = layout.key_doc_key(manifest.name)
            dst.backend.put(keys, src.backend.get(keys))
        if not dst.backend.put_new(
            layout.version_key(manifest.name, manifest.version), manifest.to_json()
        ):
            raise VersionExistsError(f"version {manifest.ref} was created in {dst.url} meanwhile")
    return plan
