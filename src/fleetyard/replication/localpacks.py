"""Writing fetched chunks into the site's local store in small, frequently closed packs.

A chunk is durable once the pack holding it is published (pack data first, then its
index, as every registry write does). Packs here are small (4 MB) and also closed
after a few seconds, so a SIGKILL at any moment loses at most the chunks of the one
pack being written - a few seconds of transfer - and the leftover staging file is
garbage that `registry gc` removes. The chunk's stored encoding is kept as fetched.
"""

from __future__ import annotations

from collections.abc import Callable

from fleetyard.registry import layout
from fleetyard.registry.packs import PackBuilder, PackResult, encode_index
from fleetyard.registry.store import Store

__all__ = ["LOCAL_PACK_SIZE", "LocalPackWriter"]

LOCAL_PACK_SIZE = 4 * 1024 * 1024


class LocalPackWriter:
    """Appends verified chunks to packs of a local store, publishing each when full or old."""

    def __init__(
        self,
        store: Store,
        *,
        pack_size: int = LOCAL_PACK_SIZE,
        max_age: float = 5.0,
        monotonic: Callable[[], float],
    ) -> None:
        self.store = store
        self.max_age = max_age
        self._monotonic = monotonic
        self._builder = PackBuilder(store.backend.staging_dir(), pack_size)
        self._opened: float | None = None
        self.packs = 0
        self.chunks = 0
        self.bytes = 0

    def add(self, digest: bytes, stored: bytes | memoryview, raw_size: int, codec: int) -> None:
        """Append one verified chunk; publishes the pack when it is full or old enough."""
        if self._opened is None:
            self._opened = self._monotonic()
        full = self._builder.add(digest, stored, raw_size, codec)
        self.chunks += 1
        self.bytes += len(stored)
        if full is not None:
            self._publish(full)
        elif self._monotonic() - self._opened >= self.max_age:
            self.flush()

    def flush(self) -> None:
        """Publish the pack being written, if any (it becomes durable)."""
        res = self._builder.finish()
        if res is not None:
            self._publish(res)

    def abort(self) -> None:
        """Drop the pack being written (its chunks will be fetched again)."""
        self._builder.abort()
        self._opened = None

    def _publish(self, res: PackResult) -> None:
        self.store.backend.put_file(layout.pack_key(res.pack_id), res.path)
        self.store.backend.put(layout.index_key(res.pack_id), encode_index(res.entries))
        self.packs += 1
        self._opened = None
