"""The storage backend interface every registry store is built on."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from fleetyard.registry.errors import StorageError

__all__ = ["Backend", "ObjectInfo", "ObjectNotFoundError"]


class ObjectNotFoundError(StorageError):
    """The requested object does not exist in the backend."""


@dataclass(frozen=True)
class ObjectInfo:
    """One listed object: its key, size in bytes and last-modified time (epoch s)."""

    key: str
    size: int
    mtime: float


class Backend(Protocol):
    """A flat key → bytes store with atomic whole-object writes.

    Keys use '/' separators (`packs/ab/ab12….pack`). Writes are all-or-nothing and
    durable when the call returns; a reader never sees a partial object.
    """

    @property
    def url(self) -> str:
        """Where the store lives, for messages (a path or `s3://bucket/prefix`)."""
        ...

    def get(self, key: str) -> bytes:
        """The whole object; ObjectNotFoundError if absent."""
        ...

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        """`length` bytes from `offset`; fewer only at the end of the object."""
        ...

    def put(self, key: str, data: bytes) -> None:
        """Create or replace an object atomically and durably."""
        ...

    def put_new(self, key: str, data: bytes) -> bool:
        """Create an object only if absent (atomically); False if it already exists."""
        ...

    def put_file(self, key: str, path: str) -> None:
        """Store a local staged file (from `staging_dir`) as an object; consumes it."""
        ...

    def delete(self, key: str) -> None:
        """Remove an object; a missing one is not an error."""
        ...

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object whose key starts with `prefix`, in no particular order."""
        ...

    def exists(self, key: str) -> bool:
        """Whether an object exists."""
        ...

    def staging_dir(self) -> str:
        """A local folder where new packs are built before `put_file`."""
        ...

    def store_exists(self) -> bool:
        """Whether the location itself exists (folder or bucket) and can be listed."""
        ...
