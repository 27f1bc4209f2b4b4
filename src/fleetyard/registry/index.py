"""The chunk index: which pack holds each chunk, built from the pack indexes.

Pushes use it to skip chunks that already exist (dedup across versions and
models); pulls, transfers and gc use it to find where chunks live. Only packs with
an index count: a pack whose index is missing was never finished.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from fleetyard.registry import layout
from fleetyard.registry.backends.base import Backend, ObjectNotFoundError
from fleetyard.registry.packs import PackEntry, decode_index

__all__ = ["ChunkIndex", "ChunkLocation"]


@dataclass(frozen=True, slots=True)
class ChunkLocation:
    """Where one chunk is stored: its pack and its record in that pack."""

    pack_id: str
    entry: PackEntry

    @property
    def digest(self) -> str:
        """The chunk's BLAKE3 name (hex)."""
        return self.entry.digest.hex()


class ChunkIndex:
    """Chunk name → location, over every complete pack of a store."""

    def __init__(self) -> None:
        self._where: dict[bytes, ChunkLocation] = {}
        self.packs: dict[str, list[PackEntry]] = {}

    @classmethod
    def load(cls, backend: Backend, *, skip_corrupt: bool = False) -> ChunkIndex:
        """Read every pack index (in parallel, for remote stores).

        A corrupted index raises IntegrityError naming it, unless `skip_corrupt` (used
        by `verify`, which reports it instead).
        """
        index = cls()
        keys = [o.key for o in backend.list(layout.PACKS) if o.key.endswith(".idx")]

        def fetch(key: str) -> tuple[str, bytes | None]:
            try:
                return key, backend.get(key)
            except ObjectNotFoundError:
                return key, None

        with ThreadPoolExecutor(max_workers=8) as pool:
            for key, data in pool.map(fetch, sorted(keys)):
                if data is None:
                    continue
                pack_id = layout.pack_id_of(key)
                try:
                    entries = decode_index(data, key)
                except Exception:
                    if skip_corrupt:
                        continue
                    raise
                index.add(pack_id, entries)
        return index

    def add(self, pack_id: str, entries: list[PackEntry] | tuple[PackEntry, ...]) -> None:
        """Record a pack's chunks; a chunk already known keeps its first location."""
        self.packs[pack_id] = list(entries)
        for e in entries:
            if e.digest not in self._where:
                self._where[e.digest] = ChunkLocation(pack_id, e)

    def get(self, digest: bytes) -> ChunkLocation | None:
        """The location of a chunk, or None if the store lacks it."""
        return self._where.get(digest)

    def __contains__(self, digest: object) -> bool:
        return digest in self._where

    def __len__(self) -> int:
        return len(self._where)

    def digests(self) -> set[bytes]:
        """Every chunk name the store holds."""
        return set(self._where)
