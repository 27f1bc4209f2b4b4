"""Secrets on the server (issue 14, item 2; docs/secrets.md): sealed at rest, shown by digest,
delivered only to the agents of the sites that run a workload using them.

* `seal_document`: what `apply` stores for a Secret - its document with every value
  sealed (services/secret_box.py); the database, its backups, the audit log and events
  never hold a value in clear.
* `redacted`: a stored or applied Secret as the API, the audit log and `get secrets` show
  it: keys and digests, `spec.data` values replaced by `(hidden)`.
* `secret_changes`: an apply's diff of a Secret, `(changed)` for each value that differs.
* `fill_values`: the desired state of a site's agent gets the values of the references
  its workloads make (every other caller gets the references and digests only); a value
  that does not open is a problem of that state, naming the Secret and key, and its
  workload is listed without it (the agent keeps what it runs: agent/loop.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleetyard.services.db import ResourceRow
from fleetyard.services.secret_box import SecretBox, SecretUnreadable, is_sealed
from fleetyard.services.wire import DesiredWorkload, FieldChange, ResourceDiff, SecretKeyOut

__all__ = [
    "HIDDEN",
    "fill_values",
    "plain_data",
    "redacted",
    "rotate_key",
    "seal_document",
    "secret_changes",
    "secret_keys",
    "stored_key_ids",
]

HIDDEN = "(hidden)"
CHANGED = "(changed)"
SET = "(set)"


def _data(document: Mapping[str, Any]) -> dict[str, str]:
    spec = document.get("spec")
    data = spec.get("data") if isinstance(spec, Mapping) else None
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, Mapping) else {}


def seal_document(box: SecretBox, name: str, document: Mapping[str, Any]) -> dict[str, Any]:
    """The document to store: every value of `spec.data` sealed (values already sealed kept)."""
    data = {k: v if is_sealed(v) else box.seal(name, k, v) for k, v in _data(document).items()}
    return {**document, "spec": {**dict(document.get("spec") or {}), "data": data}}


def plain_data(box: SecretBox, name: str, document: Mapping[str, Any]) -> dict[str, str]:
    """The values in clear (SecretUnreadable for one that does not open)."""
    return {k: box.open(name, k, v) if is_sealed(v) else v for k, v in _data(document).items()}


def _digest(box: SecretBox | None, name: str, key: str, value: str) -> str:
    if box is None:
        return "(no secrets key)"
    try:
        plain = box.open(name, key, value) if is_sealed(value) else value
    except SecretUnreadable:
        return "(unreadable)"
    return box.digest(name, key, plain)


def secret_keys(box: SecretBox | None, name: str, document: Mapping[str, Any]) -> list[SecretKeyOut]:
    """Each key with the digest of its value ("(unreadable)" when it does not open)."""
    return [SecretKeyOut(key=k, digest=_digest(box, name, k, v)) for k, v in sorted(_data(document).items())]


def redacted(box: SecretBox | None, name: str, document: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The document as anyone may see it: values hidden, a digest per key under `digests`."""
    if document is None:
        return None
    spec = dict(document.get("spec") or {})
    spec["data"] = dict.fromkeys(sorted(_data(document)), HIDDEN)
    out = {**document, "spec": spec}
    out["digests"] = {k.key: k.digest for k in secret_keys(box, name, document)}
    return out


def secret_changes(box: SecretBox | None, name: str, old: Mapping[str, Any] | None,
                   new: Mapping[str, Any] | None) -> tuple[bool, ResourceDiff | None]:
    """Whether a Secret changes between the stored and the applied document, and its diff
    without any value: `spec.data.KEY` (set) / (changed) / removed."""
    if old is None and new is None:
        return False, None
    if old is None:
        return True, ResourceDiff(kind="Secret", name=name, action="created")
    if new is None:
        return True, ResourceDiff(kind="Secret", name=name, action="deleted")
    try:
        before = plain_data(box, name, old) if box is not None else None
    except SecretUnreadable:
        before = None  # a damaged stored value: the apply replaces it
    after = _data(new)
    fields = []
    old_keys = _data(old)
    for key in list(after) + [k for k in old_keys if k not in after]:
        path = f"spec.data.{key}"
        if key not in old_keys:
            fields.append(FieldChange(path=path, before=None, after=SET))
        elif key not in after:
            fields.append(FieldChange(path=path, before=SET, after=None))
        elif before is None or before.get(key) != after[key]:
            fields.append(FieldChange(path=path, before=SET, after=CHANGED))
    if {k: v for k, v in new.items() if k != "spec"} != {k: v for k, v in old.items() if k != "spec"}:
        fields.append(FieldChange(path="metadata", before=None, after=CHANGED))
    if not fields:
        return False, None
    return True, ResourceDiff(kind="Secret", name=name, action="updated", fields=fields)


def _stored(session: Session, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    wanted = sorted(set(names))
    if not wanted:
        return {}
    rows = session.scalars(select(ResourceRow).where(ResourceRow.kind == "Secret", ResourceRow.name.in_(wanted)))
    return {r.name: dict(r.document) for r in rows}


def fill_values(session: Session, box: SecretBox | None, workloads: list[DesiredWorkload], *,
                reveal: bool) -> list[str]:
    """Give each workload's `secret_env` its digests and (`reveal`: the site's own agent) its
    values, in place; the problems found (a value that does not open, a Secret gone)."""
    docs = _stored(session, (ref.secret for w in workloads for ref in w.secret_env.values()))
    problems: list[str] = []
    for w in workloads:
        for var, ref in w.secret_env.items():
            doc = docs.get(ref.secret)
            stored = _data(doc).get(ref.key) if doc is not None else None
            if stored is None or box is None:
                why = "the server has no secrets key" if box is None else "is not stored"
                problems.append(f"Secret {ref.secret} key {ref.key} (for {w.name} {var}) {why}")
                continue
            try:
                value = box.open(ref.secret, ref.key, stored) if is_sealed(stored) else stored
            except SecretUnreadable as exc:
                problems.append(f"{exc} (for {w.name} {var}); {w.name} is not changed at this site until it opens")
                continue
            w.secret_env[var] = ref.model_copy(update={"digest": box.digest(ref.secret, ref.key, value),
                                                       "value": value if reveal else None})
    return problems


def stored_key_ids(session: Session) -> set[str]:
    """The ids of the keys that sealed the stored Secret values (`fyenc:v1:<id>:...`)."""
    out: set[str] = set()
    for doc in session.scalars(select(ResourceRow.document).where(ResourceRow.kind == "Secret")):
        for value in _data(doc).values():
            parts = value.split(":")
            if is_sealed(value) and len(parts) == 5:
                out.add(parts[2])
    return out


def rotate_key(session: Session, old: SecretBox, new: SecretBox) -> tuple[int, int]:
    """Reseal every stored Secret value under `new` (in the caller's transaction): (Secrets,
    values). SecretUnreadable, before anything is written, if a value does not open with
    `old`; values already sealed with `new` are kept, so a rotation cut short runs again."""
    rows = list(session.scalars(select(ResourceRow).where(ResourceRow.kind == "Secret").order_by(ResourceRow.name)))
    resealed: list[tuple[ResourceRow, dict[str, Any]]] = []
    values = 0
    for row in rows:
        data: dict[str, str] = {}
        for key, stored in _data(row.document).items():
            if is_sealed(stored) and stored.split(":")[2:3] == [new.key_id]:
                data[key] = stored
                continue
            data[key] = new.seal(row.name, key, old.open(row.name, key, stored) if is_sealed(stored) else stored)
            values += 1
        resealed.append((row, data))
    for row, data in resealed:
        row.document = {**row.document, "spec": {**dict(row.document.get("spec") or {}), "data": data}}
    return len(rows), values
