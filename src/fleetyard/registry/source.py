"""Reading a model folder to push: which files, and refusing unsafe ones.

What is pushed: every regular file under the folder, by relative POSIX path, with
its executable bit. Skipped: a top-level `.git/` (history is not the model) and a
top-level `model.sig` (the signature travels separately and is written back on
pull). A symlink to a file inside the folder is stored as that file's content; a
symlink that leads outside the folder, a dangling or directory symlink, and special
files are refused, so a push can never pick up `/etc/shadow` by accident.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from fleetyard.registry.errors import SourceFolderError

__all__ = ["SIGNATURE_FILE", "SourceFile", "SourceFolder", "scan_folder"]

SIGNATURE_FILE = "model.sig"


@dataclass(frozen=True)
class SourceFile:
    """One file to push: where it is read from and how it is recorded."""

    rel: str
    path: str
    size: int
    mode: int
    mtime_ns: int
    inode: int

    def changed(self) -> bool:
        """Whether the file differs (size, mtime, inode) from when it was scanned."""
        try:
            st = os.stat(self.path)
        except OSError:
            return True
        return (st.st_size, st.st_mtime_ns, st.st_ino) != (self.size, self.mtime_ns, self.inode)


@dataclass(frozen=True)
class SourceFolder:
    """A scanned model folder."""

    root: Path
    files: tuple[SourceFile, ...]
    signature: str | None
    has_symlinks: bool

    @property
    def size(self) -> int:
        """Total bytes of all files."""
        return sum(f.size for f in self.files)


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def scan_folder(folder: str | os.PathLike[str]) -> SourceFolder:
    """List the files of a model folder, refusing anything unsafe or unsupported."""
    root = Path(folder)
    if not root.exists() and not root.is_symlink():
        raise SourceFolderError(f"model folder {root} does not exist")
    if not root.is_dir():
        raise SourceFolderError(f"{root} is not a folder: expected a model folder")
    real_root = root.resolve()
    files: list[SourceFile] = []
    signature = None
    has_symlinks = False
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if here == root:
            dirnames[:] = [d for d in dirnames if d != ".git"]
        for d in list(dirnames):
            if (here / d).is_symlink():
                raise SourceFolderError(
                    f"{here / d} is a symlink to a folder: expected files and plain folders"
                )
        dirnames.sort()
        for name in sorted(filenames):
            full = here / name
            rel = full.relative_to(root).as_posix()
            try:
                rel.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise SourceFolderError(f"{full}: file name is not valid UTF-8") from exc
            if full.is_symlink():
                has_symlinks = True
                target = full.resolve()
                if not _inside(target, real_root):
                    raise SourceFolderError(
                        f"{full} is a symlink to {target}, outside the model folder "
                        f"{root}: copy the file in or remove the link"
                    )
                if not target.exists():
                    raise SourceFolderError(f"{full} is a dangling symlink (to {target})")
            try:
                st = os.stat(full)
            except OSError as exc:
                raise SourceFolderError(f"cannot read {full}: {exc.strerror}") from exc
            if not stat.S_ISREG(st.st_mode):
                raise SourceFolderError(f"{full} is not a regular file (special files unsupported)")
            if not os.access(full, os.R_OK):
                raise SourceFolderError(f"cannot read {full}: permission denied")
            if rel == SIGNATURE_FILE:
                signature = full.read_text(encoding="utf-8", errors="replace")
                continue
            mode = 0o755 if st.st_mode & 0o111 else 0o644
            path = str(full.resolve()) if full.is_symlink() else str(full)
            files.append(SourceFile(rel, path, st.st_size, mode, st.st_mtime_ns, st.st_ino))
    if not files:
        raise SourceFolderError(f"model folder {root} is empty: expected at least one file")
    files.sort(key=lambda f: f.rel)
    return SourceFolder(root, tuple(files), signature, has_symlinks)
