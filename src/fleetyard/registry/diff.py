"""`registry diff A B`: what changed between two versions, and what it costs a site.

Files are compared by content id (BLAKE3 over their chunk names), so no data is
read. The cost side answers the operator's question — "a site holding A, how many
bytes must it fetch to run B?" — with the same `missing_chunks` that replication
uses, so the figure is what a transfer would really move.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleetyard.registry.names import Ref
from fleetyard.registry.store import Store
from fleetyard.registry.transfer import missing_chunks

__all__ = ["FileChange", "VersionDiff", "diff_versions"]


@dataclass(frozen=True)
class FileChange:
    """One path's status between A and B ('added', 'removed', 'changed', 'same')."""

    path: str
    status: str
    size_a: int
    size_b: int


@dataclass(frozen=True)
class VersionDiff:
    """Files and bytes that differ between two versions."""

    a: str
    b: str
    files: tuple[FileChange, ...]
    bytes_changed: int
    new_chunk_bytes: int
    fetch_bytes: int
    fetch_chunks: int

    def count(self, status: str) -> int:
        """How many files have this status."""
        return sum(1 for f in self.files if f.status == status)


def diff_versions(store: Store, a: str | Ref, b: str | Ref) -> VersionDiff:
    """Compare version A with version B (B is the newer one, usually)."""
    ma, mb = store.resolve(a), store.resolve(b)
    fa = {f.path: f for f in ma.files}
    fb = {f.path: f for f in mb.files}
    changes = []
    for path in sorted(fa.keys() | fb.keys()):
        x, y = fa.get(path), fb.get(path)
        if x is None:
            assert y is not None
            changes.append(FileChange(path, "added", 0, y.size))
        elif y is None:
            changes.append(FileChange(path, "removed", x.size, 0))
        else:
            status = "same" if x.digest == y.digest else "changed"
            changes.append(FileChange(path, status, x.size, y.size))
    index = store.index()
    have = store.recipe(ma).all_chunks()
    plan = missing_chunks(store, mb, have, index=index)
    return VersionDiff(
        a=ma.ref,
        b=mb.ref,
        files=tuple(changes),
        bytes_changed=sum(c.size_b for c in changes if c.status in ("added", "changed")),
        new_chunk_bytes=plan.raw_bytes,
        fetch_bytes=plan.total_bytes,
        fetch_chunks=len(plan.chunks),
    )
