"""`registry lineage`: what a version came from, and what was derived from it.

A version links to its *parent* (the manifest's `parent`, also in its provenance) and
to its *base model* (provenance). Ancestors follow those links up, recursively;
descendants are the versions whose parent or base model is the version, recursively.
A base model from outside the registry (`NAME@sha256:…`) is a leaf: it is listed
with its digest and `in_registry` false. Every row carries the datasets recorded for
that version, so one walk answers "which data went into this model, at any depth".

The walk reads every manifest once (`Store.listing`); provenance that does not belong
to its version (`check_binding`) is reported as the row's `problem`, not trusted.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from fleetyard.registry.errors import RegistryError
from fleetyard.registry.manifest import VersionManifest
from fleetyard.registry.provenance import Dataset, Provenance, read_provenance
from fleetyard.registry.store import Store

__all__ = ["Lineage", "LineageNode", "lineage"]


@dataclass(frozen=True)
class LineageNode:
    """One version in a walk: how it relates to the next one towards the subject."""

    ref: str
    relation: str  # self | parent | base-model (ancestors) | child | derived (descendants)
    depth: int  # links from the subject
    via: str | None  # the version this one links to/from on the way from the subject
    in_registry: bool = True
    digest: str | None = None  # a base model from elsewhere: the digest it was given by
    datasets: tuple[Dataset, ...] = ()
    signed: bool = False
    has_provenance: bool = False
    problem: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {"ref": self.ref, "relation": self.relation, "depth": self.depth, "via": self.via,
                "in_registry": self.in_registry, "digest": self.digest, "signed": self.signed,
                "has_provenance": self.has_provenance, "problem": self.problem,
                "datasets": [{"name": d.name, "version": d.version, "digest": d.digest} for d in self.datasets]}


@dataclass(frozen=True)
class Lineage:
    """The subject, its ancestors (nearest first) and its descendants (nearest first)."""

    subject: LineageNode
    ancestors: tuple[LineageNode, ...] = ()
    descendants: tuple[LineageNode, ...] = ()
    provenance: dict[str, object] | None = field(default=None)

    def as_dict(self) -> dict[str, object]:
        return {"subject": self.subject.as_dict(), "provenance": self.provenance,
                "ancestors": [n.as_dict() for n in self.ancestors],
                "descendants": [n.as_dict() for n in self.descendants]}


def _links(m: VersionManifest, prov: Provenance | None) -> list[tuple[str, str]]:
    """(ref, relation) of what `m` came from."""
    out = [(m.parent, "parent")] if m.parent else []
    if prov is not None and prov.base_model is not None and prov.base_model.ref != m.parent:
        out.append((prov.base_model.ref, "base-model"))
    return out


def lineage(store: Store, ref: str) -> Lineage:
    """Walk `ref` both ways; see the module docstring."""
    subject = store.resolve(ref)
    versions = {m.ref: m for m in store.listing().versions}
    versions[subject.ref] = subject
    provs: dict[str, Provenance | None] = {}
    problems: dict[str, str] = {}
    for r, m in versions.items():
        try:
            provs[r] = read_provenance(m)
        except RegistryError as exc:
            provs[r], problems[r] = None, str(exc)
    children: dict[str, list[tuple[str, str]]] = {}
    for r in sorted(versions):
        for parent, rel in _links(versions[r], provs[r]):
            children.setdefault(parent, []).append((r, "child" if rel == "parent" else "derived"))

    def node(r: str, relation: str, depth: int, via: str | None) -> LineageNode:
        m, p = versions.get(r), provs.get(r)
        return LineageNode(r, relation, depth, via, m is not None, None,
                           p.datasets if p else (), bool(m and m.signed), p is not None, problems.get(r))

    up: list[LineageNode] = []
    seen = {subject.ref}
    todo: deque[tuple[str, int]] = deque([(subject.ref, 0)])
    while todo:
        r, depth = todo.popleft()
        current = versions.get(r)
        if current is None:
            continue
        p = provs.get(r)
        for target, rel in _links(current, p):
            if target in seen:
                continue
            seen.add(target)
            n = node(target, rel, depth + 1, r)
            if not n.in_registry and p is not None and p.base_model is not None:
                n = LineageNode(target, rel, depth + 1, r, False, p.base_model.digest)
            up.append(n)
            todo.append((target, depth + 1))

    down: list[LineageNode] = []
    seen = {subject.ref}
    todo = deque([(subject.ref, 0)])
    while todo:
        r, depth = todo.popleft()
        for child, rel in children.get(r, []):
            if child not in seen:
                seen.add(child)
                down.append(node(child, rel, depth + 1, r))
                todo.append((child, depth + 1))
    sp = provs.get(subject.ref)
    return Lineage(node(subject.ref, "self", 0, None), tuple(up), tuple(down), sp.as_dict() if sp else None)
