"""The stored fleet, loaded once per change instead of once per request (issue 12).

Loading the stored fleet means dumping every stored document back to YAML and loading it
with the full validation - 2 s at 100 sites x 3,000 workloads - and the dashboard's pages
and the cost API need it on every request. The loaded fleet is kept per database, with a
fingerprint of what it was loaded from, read in the request's own session with one
aggregate query per table:

    (fleet revision, resource count, newest resource id and updated_at,
     trace count, newest trace updated_at)

Every apply bumps the revision and stamps what it changed; a restore rewrites the rows;
so a fingerprint that still matches means the same documents, on any server sharing the
database. (An apply that only moves a document to another file keeps its `updated_at`:
the cached fleet is the same fleet, only its error messages would name the old file.)
A fleet that does not load is never cached. The fleet is frozen; callers must not mutate it.
The same cache keeps the stored Workload and Site specs by name (services/desired.py),
which the status, the desired state and the rollouts read on every request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fleetyard.services.db import FleetStateRow, ResourceRow, TraceRow
from fleetyard.spec.fleet import Fleet

__all__ = ["cached", "cached_fleet", "fingerprint"]

T = TypeVar("T")
_lock = threading.Lock()
_cache: dict[tuple[str, str], tuple[tuple[Any, ...], object]] = {}  # (database URL, what) -> (fingerprint, value)


def fingerprint(session: Session) -> tuple[Any, ...]:
    revision = session.scalar(select(FleetStateRow.revision).where(FleetStateRow.id == 1))
    resources = session.execute(select(func.count(), func.max(ResourceRow.id), func.max(ResourceRow.updated_at))).one()
    traces = session.execute(select(func.count(), func.max(TraceRow.updated_at))).one()
    return (revision, *resources, *traces)


def cached(session: Session, what: str, load: Callable[[], T]) -> T:
    """What `load()` gives, from the cache while the stored documents are unchanged."""
    key = (str(session.get_bind().engine.url), what)
    mark = fingerprint(session)
    with _lock:
        hit = _cache.get(key)
    if hit is not None and hit[0] == mark:
        return cast(T, hit[1])
    value = load()
    with _lock:
        _cache[key] = (mark, value)
    return value


def cached_fleet(session: Session, load: Callable[[], Fleet]) -> Fleet:
    return cached(session, "fleet", load)
