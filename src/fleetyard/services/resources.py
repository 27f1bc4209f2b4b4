"""Stored resources: reading them, and turning them back into YAML for the spec loader.

The server validates exactly as `fleetyard validate` does: the stored fleet is
written out as YAML (one file per original source, named `stored:<source>`) and
loaded together with the uploaded files by `load_fleet_sources`, so every message
is the loader's own, naming the uploaded file and line.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from fleetyard.services.db import ResourceRow
from fleetyard.services.errors import NotFound
from fleetyard.services.secret_box import SecretBox
from fleetyard.services.secrets import redacted, secret_keys
from fleetyard.services.wire import ResourceOut
from fleetyard.spec.fleet import Fleet
from fleetyard.spec.yamlsource import parse_documents

__all__ = [
    "KIND_OF_PATH",
    "PATH_OF_KIND",
    "Key",
    "declared_keys",
    "fleet_documents",
    "get_resource",
    "kind_of",
    "list_resources",
    "stored_sources",
]

Key = tuple[str, str]  # (kind, name)
KIND_OF_PATH = {"regions": "Region", "sites": "Site", "workloads": "Workload", "policies": "Policy",
                "objectives": "Objective", "flags": "Flag", "secrets": "Secret"}
PATH_OF_KIND = {v: k for k, v in KIND_OF_PATH.items()}
STORED_PREFIX = "stored:"


def kind_of(path_kind: str) -> str:
    """`sites` (or `site`, `Site`) → `Site`; NotFound for anything else."""
    low = path_kind.lower()
    if low in KIND_OF_PATH:
        return KIND_OF_PATH[low]
    for kind in KIND_OF_PATH.values():
        if low == kind.lower():
            return kind
    raise NotFound(f"unknown resource kind {path_kind!r}: expected one of {', '.join(KIND_OF_PATH)}")


def _out(row: ResourceRow, box: SecretBox | None) -> ResourceOut:
    if row.kind == "Secret":  # keys and digests, never a value (services/secrets.py)
        return ResourceOut(kind=row.kind, name=row.name, document=redacted(box, row.name, row.document) or {},
                           source=row.source, updated_at=row.updated_at,
                           secret_keys=secret_keys(box, row.name, row.document))
    return ResourceOut(kind=row.kind, name=row.name, document=row.document, source=row.source,
                       updated_at=row.updated_at)


def list_resources(session: Session, path_kind: str, box: SecretBox | None = None) -> list[ResourceOut]:
    kind = kind_of(path_kind)
    rows = session.scalars(select(ResourceRow).where(ResourceRow.kind == kind).order_by(ResourceRow.id))
    return [_out(r, box) for r in rows]


def get_resource(session: Session, path_kind: str, name: str, box: SecretBox | None = None) -> ResourceOut:
    kind = kind_of(path_kind)
    row = session.scalar(select(ResourceRow).where(ResourceRow.kind == kind, ResourceRow.name == name))
    if row is None:
        raise NotFound(f"no {kind} named {name!r}")
    return _out(row, box)


def declared_keys(files: Iterable[tuple[str, str]]) -> set[Key]:
    """The (kind, name) of every document in uploaded YAML, even invalid ones."""
    keys: set[Key] = set()
    for name, text in files:
        docs, _problems = parse_documents(text, name)
        for doc in docs:
            data = doc.data if isinstance(doc.data, dict) else {}
            meta = data.get("metadata")
            kind, rname = data.get("kind"), meta.get("name") if isinstance(meta, dict) else None
            if isinstance(kind, str) and isinstance(rname, str):
                keys.add((kind, rname))
    return keys


def stored_sources(rows: Sequence[ResourceRow], skip: AbstractSet[Key] = frozenset()) -> list[tuple[str, str]]:
    """The stored resources as YAML files for the loader, leaving out `skip`."""
    by_source: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if (row.kind, row.name) in skip:
            continue
        by_source.setdefault(row.source, []).append(row.document)
    return [(STORED_PREFIX + source, yaml.safe_dump_all(docs, sort_keys=False))
            for source, docs in by_source.items()]


def fleet_documents(fleet: Fleet) -> dict[Key, tuple[dict[str, Any], str]]:
    """Every resource of a loaded fleet: its document as written and the file it came from."""
    out: dict[Key, tuple[dict[str, Any], str]] = {}
    for key, origin in fleet.origins.items():
        data = origin.document.data
        source = origin.file.removeprefix(STORED_PREFIX)
        out[key] = (dict(data) if isinstance(data, dict) else {}, source)
    return out
