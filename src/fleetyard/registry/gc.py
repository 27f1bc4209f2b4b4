"""Garbage collection: drop chunks no version references, repack mostly-dead packs.

Gc holds a gc lease, so no push or import runs while it works (see `leases` for
why exclusion rather than pinning). Liveness is by chunk name: a chunk is live if
any version's recipe lists it, wherever it is stored. If a recipe or an index
cannot be read, gc refuses to run rather than guess what is live.

A pack with no live chunk is deleted (index first, then data). A pack whose live
chunks fill less than `repack_threshold` of it is repacked: its live chunks are
read (and verified), written to new packs, those are published, and only then is
the old pack deleted. A crash at any point leaves every live chunk reachable; at
worst some chunks exist twice until the next gc.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from fleetyard.registry import layout, leases
from fleetyard.registry.backends import LocalBackend
from fleetyard.registry.errors import IntegrityError
from fleetyard.registry.packs import PackBuilder, PackEntry, decode_index
from fleetyard.registry.store import Store
from fleetyard.registry.transfer import ChunkNeed, PackRange, read_ranges, store_pack

__all__ = ["GcResult", "gc"]

STALE_STAGING_SECONDS = 3600.0


@dataclass(frozen=True)
class GcResult:
    """What a gc removed (or, with dry_run, would remove)."""

    packs_deleted: int
    packs_repacked: int
    packs_written: int
    chunks_removed: int
    bytes_freed: int
    orphans_removed: int
    live_bytes: int
    dry_run: bool
    seconds: float


def _load_packs(store: Store) -> tuple[dict[str, list[PackEntry]], dict[str, int], list[str]]:
    """Indexes by pack id, pack sizes, and keys of orphan objects (pack xor index)."""
    packs: dict[str, int] = {}
    idx_keys: dict[str, str] = {}
    for obj in store.backend.list(layout.PACKS):
        pid = layout.pack_id_of(obj.key)
        if obj.key.endswith(".pack"):
            packs[pid] = obj.size
        elif obj.key.endswith(".idx"):
            idx_keys[pid] = obj.key
    orphans = [layout.pack_key(p) for p in packs if p not in idx_keys]
    orphans += [k for p, k in idx_keys.items() if p not in packs]
    indexes = {}
    for pid, key in idx_keys.items():
        if pid in packs:
            indexes[pid] = decode_index(store.backend.get(key), key)
    return indexes, {p: s for p, s in packs.items() if p in indexes}, orphans


def gc(
    store: Store,
    *,
    dry_run: bool = False,
    repack_threshold: float = 0.5,
    wait: float = 60.0,
    lease_ttl: float = leases.DEFAULT_TTL,
) -> GcResult:
    """Remove unreferenced chunks and orphaned objects; safe against concurrent pushes."""
    started = time.perf_counter()
    with leases.acquire(store.backend, "gc", "gc", wait=wait, ttl=lease_ttl):
        manifests = store.versions(strict=True)  # never collect for a view with holes in it
        live: set[bytes] = set()
        for m in manifests:
            live |= store.recipe(m).all_chunks()
        live_recipes = {m.recipe for m in manifests}
        indexes, sizes, orphans = _load_packs(store)

        # Give each live chunk one home: prefer the packs that are most alive.
        def live_fraction(pid: str) -> float:
            entries = indexes[pid]
            total = sum(e.stored_size for e in entries) or 1
            return sum(e.stored_size for e in entries if e.digest in live) / total

        home: dict[bytes, str] = {}
        for pid in sorted(indexes, key=live_fraction, reverse=True):
            for e in indexes[pid]:
                if e.digest in live:
                    home.setdefault(e.digest, pid)
        missing = live - home.keys()
        if missing:
            raise IntegrityError(
                f"{len(missing)} chunk(s) referenced by versions are in no pack of {store.url} "
                f"(e.g. {next(iter(missing)).hex()}): run `registry verify`; gc refused"
            )
        delete, repack = [], []
        chunks_removed = freed = live_bytes = 0
        for pid, entries in indexes.items():
            keep = [e for e in entries if home.get(e.digest) == pid]
            kept = sum(e.stored_size for e in keep)
            live_bytes += kept
            total = sum(e.stored_size for e in entries)
            if not keep:
                delete.append(pid)
            elif kept < repack_threshold * total:
                repack.append((pid, keep))
            else:
                continue
            chunks_removed += len(entries) - len(keep)
            freed += sizes[pid] - kept
        dead_recipes = [
            o.key
            for o in store.backend.list(layout.RECIPES)
            if o.key[len(layout.RECIPES) :] not in live_recipes
        ]
        _, dead_leases = leases.live_leases(store.backend)
        orphans += dead_recipes + dead_leases
        written = 0
        if not dry_run:
            written = _repack(store, repack)
            for pid in delete + [p for p, _ in repack]:
                store.backend.delete(layout.index_key(pid))
                store.backend.delete(layout.pack_key(pid))
            for key in orphans:
                store.backend.delete(key)
            orphans += _clean_staging(store)
    return GcResult(
        packs_deleted=len(delete),
        packs_repacked=len(repack),
        packs_written=written,
        chunks_removed=chunks_removed,
        bytes_freed=freed,
        orphans_removed=len(orphans),
        live_bytes=live_bytes,
        dry_run=dry_run,
        seconds=time.perf_counter() - started,
    )


def _repack(store: Store, repack: list[tuple[str, list[PackEntry]]]) -> int:
    """Copy the live chunks of the given packs into new packs; returns packs written."""
    ranges = [
        PackRange(
            pid,
            e.offset,
            e.stored_size,
            (ChunkNeed(e.digest.hex(), pid, e.offset, e.stored_size, e.raw_size, e.codec),),
        )
        for pid, keep in repack
        for e in keep
    ]
    builder = PackBuilder(store.backend.staging_dir())
    written = 0
    try:
        for n, stored, _raw in read_ranges(store, ranges):
            full = builder.add(bytes.fromhex(n.digest), stored, n.raw_size, n.codec)
            if full is not None:
                store_pack(store, full)
                written += 1
        last = builder.finish()
        if last is not None:
            store_pack(store, last)
            written += 1
    except BaseException:
        builder.abort()
        raise
    return written


def _clean_staging(store: Store) -> list[str]:
    """Remove leftovers of killed pushes from a local store's staging folder."""
    if not isinstance(store.backend, LocalBackend):
        return []
    tmp = store.backend.root / "tmp"
    removed = []
    if tmp.is_dir():
        cutoff = time.time() - STALE_STAGING_SECONDS
        for entry in os.scandir(tmp):
            try:
                # Packs in staging belong to pushes, and none runs while gc holds its
                # lease; other temporary objects may belong to an alias being set now.
                stale = entry.name.endswith(".pack") or entry.stat().st_mtime < cutoff
                if entry.is_file() and stale:
                    os.unlink(entry.path)
                    removed.append(entry.path)
            except FileNotFoundError:
                continue
    return removed
