"""Which versions of each workload were healthy at this site: `state/known_good.json`.

A version becomes known-good for a workload once every replica of it is ready (by the
probe, or up for a second without one). The agent uses it so that a restart - after
a SIGKILL in the middle of a switch - comes back on a version that was healthy, not
on a new one that was never validated or never got ready; and so that going back to
a known-good version (a rollback) switches every replica at once. The file is
replaced atomically (write, fsync, rename): a crash leaves the old list or the new.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["KnownGood"]

KEEP = 4  # versions remembered per workload, most recent first


class KnownGood:
    """Recent healthy versions per workload, most recent first."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._good: dict[str, list[str]] = {}
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            saved = {}
        if isinstance(saved, dict):
            self._good = {str(k): [str(r) for r in v][:KEEP] for k, v in saved.items() if isinstance(v, list)}

    def latest(self, workload: str) -> str | None:
        """The version that was healthy last, or None."""
        refs = self._good.get(workload)
        return refs[0] if refs else None

    def __contains__(self, item: tuple[str, str]) -> bool:
        workload, ref = item
        return ref in self._good.get(workload, [])

    def refs(self) -> set[str]:
        """Every remembered version (kept on disk: a rollback target)."""
        return {r for refs in self._good.values() for r in refs}

    def mark(self, workload: str, ref: str) -> None:
        """`ref` is healthy now (written at once if that is news)."""
        refs = self._good.get(workload, [])
        if refs and refs[0] == ref:
            return
        self._good[workload] = [ref, *[r for r in refs if r != ref]][:KEEP]
        self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self._good, f, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
