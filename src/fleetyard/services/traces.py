"""Stored energy traces (issue 11): the CSV files the Sites reference, kept with the fleet.

`fleetyard apply` uploads the traces its Sites reference (`ApplyRequest.traces`, each
named `spec.loader.trace_path(file name, reference)`); the server keeps one `TraceRow`
per path, in the apply's transaction. A later apply that does not upload a trace finds
it stored: the stored Sites are loaded from files named `stored:<source>`
(services/resources.py), so the reader resolves a reference against the source without
that prefix - the same path the trace was uploaded under. A trace no Site references any
more is deleted with the change that dropped the reference.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from fleetyard.services.db import TraceRow
from fleetyard.services.resources import STORED_PREFIX
from fleetyard.spec.fleet import Fleet
from fleetyard.spec.loader import TraceReader, trace_path

__all__ = ["StoredTrace", "TraceWrites", "stored_traces", "trace_reader", "trace_writes", "write_traces"]


@dataclass(frozen=True)
class StoredTrace:
    content: str
    sha256: str


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def stored_traces(session: Session) -> dict[str, StoredTrace]:
    """Every stored trace by path."""
    return {r.path: StoredTrace(r.content, r.sha256) for r in session.scalars(select(TraceRow))}


def stored_trace_texts(session: Session) -> dict[str, str]:
    return {path: t.content for path, t in stored_traces(session).items()}


def trace_reader(uploaded: Mapping[str, str], stored: Mapping[str, str]) -> TraceReader:
    """The loader's trace reader: the request's traces first, then the stored ones."""
    def read(spec_file: str, ref: str) -> tuple[str, str | None]:
        where = trace_path(spec_file.removeprefix(STORED_PREFIX), ref)
        text = uploaded.get(where)
        return where, text if text is not None else stored.get(where)
    return read


@dataclass(frozen=True)
class TraceWrites:
    """What an apply does to the stored traces: upsert these texts, delete these paths."""

    upsert: Mapping[str, str]
    delete: frozenset[str]

    @property
    def changes_energy(self) -> bool:
        """True when a trace a Site uses is new or different: prices and carbon moved."""
        return bool(self.upsert)


def trace_writes(fleet: Fleet, uploaded: Mapping[str, str], stored: Mapping[str, StoredTrace]) -> TraceWrites:
    """The traces the loaded `fleet` uses, against what is stored."""
    used = {t.name for t in fleet.traces.values()}
    upsert = {p: uploaded[p] for p in sorted(used)
              if p in uploaded and (p not in stored or stored[p].sha256 != sha256(uploaded[p]))}
    return TraceWrites(upsert, frozenset(p for p in stored if p not in used))


def write_traces(session: Session, writes: TraceWrites, now: datetime) -> None:
    """Apply `writes` in the caller's transaction."""
    if writes.delete:
        session.execute(delete(TraceRow).where(TraceRow.path.in_(sorted(writes.delete))))
    for path, text in writes.upsert.items():
        row = session.get(TraceRow, path)
        if row is None:
            session.add(TraceRow(path=path, content=text, sha256=sha256(text), updated_at=now))
        else:
            row.content, row.sha256, row.updated_at = text, sha256(text), now
