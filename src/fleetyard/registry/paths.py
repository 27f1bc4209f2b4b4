"""The one rule for the file paths of a version: relative, inside the version's folder.

A manifest names its files by relative POSIX path, and `pull` creates them under the
destination folder. A path that is absolute, climbs out with `..`, holds a NUL or an
empty part, or names the signature file would write outside the folder (or over what
pull writes itself). The same function decides for every reader - the manifest schema
(so `registry verify`, listings and the server refuse such a manifest) and `pull`, at
the moment it creates the files - so verify can never say "ok" to what pull refuses.
"""

from __future__ import annotations

from collections.abc import Iterable

from fleetyard.registry.source import SIGNATURE_FILE

__all__ = ["MAX_PART_BYTES", "MAX_PATH_BYTES", "path_problem", "paths_problem"]

MAX_PATH_BYTES = 4096  # Linux PATH_MAX
MAX_PART_BYTES = 255  # NAME_MAX of Linux, macOS and Windows file systems


def path_problem(path: str) -> str | None:
    """Why `path` is not a safe relative file path inside a version, or None if it is."""
    if not path:
        return "is empty"
    if "\0" in path:
        return "contains a NUL character"
    try:
        size = len(path.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    if size > MAX_PATH_BYTES:
        return f"is {size:,} bytes long, more than {MAX_PATH_BYTES:,}"
    if path.startswith("/"):
        return "is absolute: escapes the version folder"
    parts = path.split("/")
    if ".." in parts:
        return "climbs out with '..': escapes the version folder"
    if any(part in ("", ".") for part in parts):
        return "has an empty or '.' part: expected a normalized relative path"
    if any(len(part.encode("utf-8")) > MAX_PART_BYTES for part in parts):
        return f"has a part longer than {MAX_PART_BYTES} bytes"
    if path == SIGNATURE_FILE:
        return f"is {SIGNATURE_FILE}, which pull writes from the signature"
    return None


def paths_problem(paths: Iterable[str]) -> str | None:
    """Why these files cannot all be created in one folder (the first unsafe path, a path
    given twice, a file that is also a folder of another), or None."""
    seen: set[str] = set()
    folders: set[str] = set()
    for path in paths:
        why = path_problem(path)
        if why is not None:
            return f"file path {path!r} {why}"
        if path in seen:
            return f"file path {path!r} is listed twice"
        seen.add(path)
        parts = path.split("/")
        folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
    clash = sorted(seen & folders)
    if clash:
        return f"file path {clash[0]!r} is also the folder of another file"
    return None
