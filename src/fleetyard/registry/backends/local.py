"""A registry store in a local folder.

Every write goes to `tmp/` inside the store first, is fsynced, then renamed into
place and the directory fsynced: a crash leaves either the old state or the new
one, never a torn object. Create-only writes use `link(2)`, which fails if the
target exists, so two pushes of the same version cannot both win.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from fleetyard.registry.backends.base import ObjectInfo, ObjectNotFoundError
from fleetyard.registry.errors import StorageError

__all__ = ["LocalBackend"]


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBackend:
    """Objects as files under a root folder; keys map to relative paths."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().absolute()

    @property
    def url(self) -> str:
        return str(self.root)

    def _path(self, key: str) -> Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise StorageError(f"invalid object key {key!r}")
        return self.root / key

    def _fail(self, exc: OSError, action: str, key: str) -> StorageError:
        if exc.errno == errno.ENOSPC:
            return StorageError(f"no space left on device while {action} {key} in {self.root}")
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return StorageError(f"permission denied while {action} {key} in {self.root}")
        return StorageError(f"{action} {key} in {self.root} failed: {exc.strerror or exc}")

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise ObjectNotFoundError(f"{key} not found in {self.root}") from exc
        except OSError as exc:
            raise self._fail(exc, "reading", key) from exc

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        try:
            with open(self._path(key), "rb", buffering=0) as f:
                return os.pread(f.fileno(), length, offset)
        except FileNotFoundError as exc:
            raise ObjectNotFoundError(f"{key} not found in {self.root}") from exc
        except OSError as exc:
            raise self._fail(exc, "reading", key) from exc

    def _write_tmp(self, data: bytes) -> str:
        tmp_dir = self.staging_dir()
        fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix="obj-")
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        os.close(fd)
        return tmp

    def put(self, key: str, data: bytes) -> None:
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._write_tmp(data)
            os.replace(tmp, target)
            _fsync_dir(str(target.parent))
        except OSError as exc:
            raise self._fail(exc, "writing", key) from exc

    def put_new(self, key: str, data: bytes) -> bool:
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._write_tmp(data)
            try:
                os.link(tmp, target)
            except FileExistsError:
                return False
            finally:
                os.unlink(tmp)
            _fsync_dir(str(target.parent))
            return True
        except OSError as exc:
            raise self._fail(exc, "writing", key) from exc

    def put_file(self, key: str, path: str) -> None:
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
            _fsync_dir(str(target.parent))
        except OSError as exc:
            raise self._fail(exc, "writing", key) from exc

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise self._fail(exc, "deleting", key) from exc

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        base = self._path(prefix.rsplit("/", 1)[0]) if "/" in prefix else self.root
        if not base.is_dir():
            return
        root = str(self.root)
        for dirpath, dirnames, filenames in os.walk(base):
            if dirpath == root:
                dirnames[:] = [d for d in dirnames if d != "tmp"]
            for name in filenames:
                full = os.path.join(dirpath, name)
                key = os.path.relpath(full, root).replace(os.sep, "/")
                if not key.startswith(prefix):
                    continue
                try:
                    st = os.stat(full)
                except FileNotFoundError:
                    continue
                yield ObjectInfo(key, st.st_size, st.st_mtime)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def staging_dir(self) -> str:
        tmp = self.root / "tmp"
        try:
            tmp.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._fail(exc, "creating", "tmp/") from exc
        return str(tmp)

    def store_exists(self) -> bool:
        return self.root.is_dir()
