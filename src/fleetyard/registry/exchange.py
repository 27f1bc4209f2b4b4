"""Export and import of versions through a folder, for air-gapped sites.

An export folder is itself a registry store (same layout), holding only the
versions exported and their chunks, plus `fleetyard-export.json` describing it.
Carry it on a disk, then import it at the site; both sides verify every chunk.
With `base`, chunks of a version the site already holds are left out, so a
fine-tune ships as its delta.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass

from fleetyard.registry.errors import InvalidInputError, NotFoundError
from fleetyard.registry.manifest import VersionManifest
from fleetyard.registry.store import Store, utc_now
from fleetyard.registry.transfer import copy_version

__all__ = ["EXPORT_FILE", "ExchangeResult", "export_versions", "import_versions"]

EXPORT_FILE = "fleetyard-export.json"


@dataclass(frozen=True)
class ExchangeResult:
    """Versions moved and the stored bytes copied for them."""

    versions: tuple[str, ...]
    bytes_copied: int
    chunks_copied: int


def export_versions(
    store: Store,
    refs: list[str],
    dest: str | os.PathLike[str],
    *,
    base: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ExchangeResult:
    """Copy versions (and their signatures) into the export folder `dest`."""
    if str(dest).startswith("s3://"):
        raise InvalidInputError(f"export destination {dest}: expected a local folder")
    manifests = [store.resolve(r) for r in refs]
    skip: set[bytes] = set()
    if base is not None:
        skip = store.recipe(store.resolve(base)).all_chunks()
    out = Store.open(dest, create=True)
    copied = chunks = 0
    for m in manifests:
        plan = copy_version(store, out, m, skip=skip, progress=progress)
        copied += plan.total_bytes
        chunks += len(plan.chunks)
    doc = {
        "created": utc_now(),
        "source": store.url,
        "base": store.resolve(base).ref if base else None,
        "versions": sorted({m.ref for m in out.versions()}),
    }
    out.backend.put(EXPORT_FILE, json.dumps(doc, indent=1).encode())
    return ExchangeResult(tuple(m.ref for m in manifests), copied, chunks)


def import_versions(
    store: Store,
    src: str | os.PathLike[str],
    refs: list[str] | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> ExchangeResult:
    """Copy versions from an export folder into `store` (all of them by default)."""
    try:
        exported = Store.open(src)
    except NotFoundError as exc:
        raise NotFoundError(f"{src} is not an export folder: {exc}") from exc
    manifests: list[VersionManifest] = (
        [exported.resolve(r) for r in refs] if refs else exported.versions(strict=True)
    )
    if not manifests:
        raise InvalidInputError(f"export folder {src} holds no versions")
    held = store.index().digests()
    available = held | exported.index().digests()
    for m in manifests:
        lacking = exported.recipe(m).all_chunks() - available
        if lacking:
            raise InvalidInputError(
                f"cannot import {m.ref}: {len(lacking)} chunk(s) are neither in export {src} "
                f"nor in {store.url}; import or push its base version first"
            )
    copied = chunks = 0
    for m in manifests:
        plan = copy_version(exported, store, m, progress=progress)
        copied += plan.total_bytes
        chunks += len(plan.chunks)
    return ExchangeResult(tuple(m.ref for m in manifests), copied, chunks)
