"""The registry's objects over HTTP: keys, byte ranges, create-only writes, audit.

The server's registry is a folder (`--data DIR/registry`, a `LocalBackend`), so reads
stream straight from the files: an object is replaced by rename, and an open file
keeps the bytes it had, so a reader never sees a torn object. Writes go through the
backend (temporary file, fsync, rename or link), which makes them atomic and durable.

Rules on top of the backend:
* keys live under the registry layout's folders (`packs/`, `recipes/`, `versions/`,
  `aliases/`, `leases/`, `keys/`: wrapped data keys, never a key in clear), or are the
  format marker (read-only);
* a version manifest (`versions/...`) is written only with `If-None-Match: *` (428
  otherwise, 412 if it exists): versions are immutable through the API; deleting one
  needs an admin;
* a manifest, an alias, a recipe or a pack index is checked before it is stored
  (`registry.uploads`: the schema, paths inside the version folder, names, hashes): a
  bad one is refused with 422 and never reaches the readers;
* every write and delete but leases (short-lived push/gc coordination) is audited.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from fleetyard.registry import InvalidInputError, LocalBackend, Store, layout, uploads
from fleetyard.registry.provenance import read_provenance, token_of
from fleetyard.registry.store import read_manifest
from fleetyard.services import audit
from fleetyard.services.db import Database, TokenRow
from fleetyard.services.errors import (
    Forbidden,
    InvalidRequest,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    RangeNotSatisfiable,
)
from fleetyard.services.identity import Principal
from fleetyard.services.wire import ObjectOut

__all__ = ["ByteRange", "ObjectService", "parse_range"]

WRITABLE = (layout.PACKS, layout.RECIPES, layout.VERSIONS, layout.ALIASES, layout.LEASES, layout.KEYS)
_KEY = re.compile(r"^[A-Za-z0-9._@+-]+(/[A-Za-z0-9._@+-]+)*$")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
BLOCK = 1024 * 1024


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """One `bytes=a-b`, `bytes=a-` or `bytes=-n` range, clamped to the object; None means
    the whole object (no header, or one this server ignores, e.g. several ranges).
    Raises RangeNotSatisfiable when the range starts past the end."""
    if not header:
        return None
    m = _RANGE.match(header.strip().replace(" ", ""))
    if m is None:
        return None
    first, last = m.group(1), m.group(2)
    if not first and not last:
        return None
    if not first:  # the last n bytes
        n = int(last)
        if n == 0 or size == 0:
            raise RangeNotSatisfiable(f"range {header!r} selects no byte of a {size}-byte object", size)
        return ByteRange(max(0, size - n), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # invalid: ignored, the whole object is sent
    if start >= size:
        raise RangeNotSatisfiable(f"range {header!r} starts past the end of a {size}-byte object", size)
    return ByteRange(start, min(end, size - 1))


def kind_of_key(key: str) -> str:
    """The label for metrics: `packs`, `recipes`, `versions`, `aliases`, `leases` or `marker`."""
    return key.split("/", 1)[0] if "/" in key else "marker"


class ObjectService:
    """The registry folder of one server, as the object routes see it."""

    def __init__(self, store: Store, db: Database) -> None:
        if not isinstance(store.backend, LocalBackend):
            raise TypeError("the server serves a registry folder (LocalBackend)")
        self.store = store
        self.backend: LocalBackend = store.backend
        self.db = db

    # ---- keys ----------------------------------------------------------------------------

    @staticmethod
    def check_key(key: str, *, write: bool = False) -> str:
        if not _KEY.match(key) or ".." in key.split("/"):
            raise InvalidRequest(f"invalid object key {key!r}")
        if key == layout.MARKER:
            if write:
                raise Forbidden(f"{layout.MARKER} is managed by the server")
            return key
        if not key.startswith(WRITABLE):
            raise NotFound(f"no object {key!r}: keys live under {', '.join(WRITABLE)}")
        return key

    def _path(self, key: str) -> str:
        return str(self.backend.root / key)

    # ---- reads -------------------------------------------------------------------------

    def size(self, key: str) -> int:
        self.check_key(key)
        try:
            return os.stat(self._path(key)).st_size
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"no object {key!r}") from None

    def open(self, key: str, range_header: str | None) -> tuple[BinaryIO, int, ByteRange | None]:
        """An open file positioned for the answer, the object size and the range (None: all)."""
        self.check_key(key)
        try:
            f = open(self._path(key), "rb")  # closed by stream() or below
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFound(f"no object {key!r}") from None
        try:
            size = os.fstat(f.fileno()).st_size
            rng = parse_range(range_header, size)
        except BaseException:
            f.close()
            raise
        if rng is not None:
            f.seek(rng.start)
        return f, size, rng

    @staticmethod
    def stream(f: BinaryIO, length: int, on_bytes: Callable[[int], None]) -> Iterator[bytes]:
        """Yield `length` bytes of an open file in blocks, then close it."""
        try:
            left = length
            while left > 0:
                block = f.read(min(BLOCK, left))
                if not block:
                    break
                left -= len(block)
                on_bytes(len(block))
                yield block
        finally:
            f.close()

    def list(self, prefix: str) -> list[ObjectOut]:
        if prefix and (prefix.startswith("/") or ".." in prefix.split("/")):
            raise InvalidRequest(f"invalid prefix {prefix!r}")
        return [ObjectOut(key=o.key, size=o.size, mtime=o.mtime) for o in self.backend.list(prefix)
                if not o.key.startswith("tmp/")]

    # ---- writes ---------------------------------------------------------------------------

    def staging_file(self) -> tuple[int, str]:
        """A new temporary file next to the objects (same filesystem: rename is atomic)."""
        return tempfile.mkstemp(dir=self.backend.staging_dir(), prefix="upload-")

    def check_put(self, key: str, principal: Principal, create_only: bool) -> None:
        """Refuse a write before its body is read."""
        principal.require_writer()
        self.check_key(key, write=True)
        if key.startswith(layout.VERSIONS) and not create_only:
            raise PreconditionRequired(f"{key}: versions are immutable; create it with If-None-Match: *")
        try:
            uploads.check_key(key)
        except InvalidInputError as exc:
            raise InvalidRequest(str(exc)) from None

    def finish_put(self, key: str, staged: str, principal: Principal, create_only: bool) -> bool:
        """Publish a fully received upload; True if the object is new. Consumes `staged`."""
        try:
            try:
                uploads.check_upload(self.backend, key, staged)
                if key.startswith(layout.VERSIONS):
                    self._check_pusher(key, staged, principal)
            except InvalidInputError as exc:
                raise InvalidRequest(str(exc)) from None
            with open(staged, "rb+") as f:
                os.fsync(f.fileno())
                size = os.fstat(f.fileno()).st_size
            existed = self.backend.exists(key)
            if create_only:
                with open(staged, "rb") as f:
                    data = f.read()
                if not self.backend.put_new(key, data):
                    raise PreconditionFailed(f"{key} already exists")
            else:
                self.backend.put_file(key, staged)
        finally:
            try:
                os.unlink(staged)
            except FileNotFoundError:
                pass
        self._audit(principal, "registry.put", key, before={"existed": existed} if existed else None,
                    after={"size": size})
        return not existed

    def delete(self, key: str, principal: Principal) -> None:
        principal.require_writer()
        self.check_key(key, write=True)
        if key.startswith(layout.VERSIONS):
            principal.require_admin()
        if not self.backend.exists(key):
            return  # nothing changes, nothing to audit
        size = self.size(key)
        self.backend.delete(key)
        self._audit(principal, "registry.delete", key, before={"size": size})

    def _check_pusher(self, key: str, staged: str, principal: Principal) -> None:
        """A manifest whose provenance names one of this server's tokens as its pusher must be
        uploaded with that token: a writer cannot record another token as the pusher. Versions
        pushed elsewhere (a local user, another server's token) copy in as they are."""
        with open(staged, "rb") as f:
            prov = read_provenance(read_manifest(f.read(), key))
        claimed = token_of(prov.pushed_by) if prov is not None else None
        if prov is None or claimed is None or claimed == principal.token_id:
            return
        with self.db.session() as s:
            ours = s.get(TokenRow, claimed) is not None
        if ours:
            raise InvalidInputError(f"{key}: provenance says it was pushed by {prov.pushed_by!r}, but the "
                                    f"upload comes with token {principal.token_id}: a version's pusher is "
                                    "the token that pushes it")

    def _audit(self, principal: Principal, action: str, key: str, *, before: object | None = None,
               after: object | None = None) -> None:
        if key.startswith(layout.LEASES):
            return
        with self.db.session() as s:
            audit.record(s, principal, action, key, before=before, after=after)
            s.commit()

