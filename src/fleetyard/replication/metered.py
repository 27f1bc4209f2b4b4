"""Backend wrappers for fetching from a source: throttled, counted, and cached.

A sync never edits the registry to add a rate limit or a byte counter: it wraps the
source's `Backend`. `MeteredBackend` calls the site's throttle before every read and
adds the bytes received to a `ByteLedger` under the source's name ("center" or a
peer site). `CachedBackend` keeps immutable objects (pack indexes, recipes - named by
random pack ids and content hashes) in a local folder, so the chunk index of a source
is read over the WAN once, not on every sync.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from fleetyard.registry.backends.base import Backend, ObjectInfo
from fleetyard.registry.errors import IntegrityError
from fleetyard.registry.manifest import decode_recipe
from fleetyard.registry.packs import decode_index

__all__ = ["ByteLedger", "CachedBackend", "MeteredBackend"]


class ByteLedger:
    """Bytes received per source, thread-safe; `on_bytes(source, n)` sees every read."""

    def __init__(self, on_bytes: Callable[[str, int], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._by_source: dict[str, int] = {}
        self._on_bytes = on_bytes

    def add(self, source: str, n: int) -> None:
        """Record `n` bytes received from `source`."""
        with self._lock:
            self._by_source[source] = self._by_source.get(source, 0) + n
        if self._on_bytes is not None:
            self._on_bytes(source, n)

    def snapshot(self) -> dict[str, int]:
        """Bytes per source so far."""
        with self._lock:
            return dict(self._by_source)

    @property
    def total(self) -> int:
        """Bytes from every source."""
        with self._lock:
            return sum(self._by_source.values())


class _Wrapper:
    """Forwards every `Backend` call to `inner`; subclasses change the reads."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner

    @property
    def url(self) -> str:
        return self.inner.url

    def get(self, key: str) -> bytes:
        return self.inner.get(key)

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        return self.inner.get_range(key, offset, length)

    def put(self, key: str, data: bytes) -> None:
        self.inner.put(key, data)

    def put_new(self, key: str, data: bytes) -> bool:
        return self.inner.put_new(key, data)

    def put_file(self, key: str, path: str) -> None:
        self.inner.put_file(key, path)

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        return self.inner.list(prefix)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def staging_dir(self) -> str:
        return self.inner.staging_dir()

    def store_exists(self) -> bool:
        return self.inner.store_exists()


class MeteredBackend(_Wrapper):
    """A read-mostly view of a source backend that honours a throttle and counts bytes."""

    def __init__(
        self,
        inner: Backend,
        source: str,
        ledger: ByteLedger,
        throttle: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(inner)
        self.source = source
        self.ledger = ledger
        self._throttle = throttle

    def _before(self, n: int) -> None:
        if self._throttle is not None:
            self._throttle(n)

    def get(self, key: str) -> bytes:
        # The size is unknown before the read: pay for it afterwards (objects read
        # whole are small - manifests, recipes, indexes).
        data = self.inner.get(key)
        self._before(len(data))
        self.ledger.add(self.source, len(data))
        return data

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        self._before(length)
        data = self.inner.get_range(key, offset, length)
        self.ledger.add(self.source, len(data))
        return data


def _immutable(key: str) -> bool:
    return key.endswith(".idx") or key.startswith("recipes/")


def _valid(key: str, data: bytes) -> bool:
    """Only objects that pass their own check are cached (a bad one is re-fetched)."""
    try:
        if key.endswith(".idx"):
            decode_index(data, key)
        else:
            decode_recipe(data, key.removeprefix("recipes/"), key)
    except IntegrityError:
        return False
    return True


class CachedBackend(_Wrapper):
    """Caches a source's immutable objects (pack indexes, recipes) in a local folder.

    Pack ids are random and never reused and recipes are named by their hash, so a
    cached copy can never be stale; the reader verifies them anyway (index checksum,
    recipe hash). Objects that are gone from the source are not listed any more, so
    their cached copies are simply never asked for.
    """

    def __init__(self, inner: Backend, cache_dir: str | os.PathLike[str]) -> None:
        super().__init__(inner)
        self.shared = Path(cache_dir)
        self.root = self.shared / hashlib.sha256(inner.url.encode()).hexdigest()[:16]

    def _cached(self, key: str) -> Path:
        # Recipes are named by their hash: one copy serves every source (a peer still
        # syncing a version lacks its recipe but can serve its chunks). Pack indexes are
        # kept per source, so one source can never plant an index for another's pack.
        if key.startswith("recipes/"):
            return self.shared / "recipes" / key.removeprefix("recipes/")
        return self.root / key.replace("/", "_")

    def get(self, key: str) -> bytes:
        if not _immutable(key):
            return self.inner.get(key)
        path = self._cached(key)
        try:
            return path.read_bytes()
        except OSError:
            pass
        data = self.inner.get(key)
        if not _valid(key, data):
            return data
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except OSError:
            pass  # a cache that cannot be written is only slower
        return data
