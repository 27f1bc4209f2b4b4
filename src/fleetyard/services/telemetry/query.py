"""Reading the history: one series over a range (charts), and each site's newest sample (/metrics).

`history` answers one series - for one site or all, one label (workload or source) or
all - as lines of points. Without a `resolution` it takes the finest one whose
retention reaches back to `start` and whose points per line stay under
`POINTS_TARGET` (a chart's width); else the coarsest that covers the range if its
points stay under `MAX_POINTS`. Raw points are counted at `RAW_STEP` (the default
heartbeat). Hour buckets exist once their hour has closed (rollup.py), so the newest
hour of an hourly chart is missing until then.

Bad requests raise `InvalidQuery` (a `ValueError` and a 422 `ServiceError`) with the
reason: an unknown series, `end <= start`, a range that no retention covers, too many
points.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from fleetyard.services.errors import InvalidRequest
from fleetyard.services.telemetry.retention import RESOLUTIONS, Retention
from fleetyard.services.telemetry.store import LAYOUTS, RAW, ROWS, unpack, utc
from fleetyard.services.wire_telemetry import SERIES, split_key

__all__ = ["MAX_POINTS", "POINTS_TARGET", "RAW_STEP", "SLACK", "InvalidQuery", "Latest", "Line", "SeriesResult",
           "history", "latest", "pick_resolution"]

RAW_STEP = 5.0  # seconds between raw samples, for counting points
POINTS_TARGET = 2000  # per line, when the resolution is chosen
MAX_POINTS = 20_000  # per line, ever (a week of minutes is 10,080)
SLACK = timedelta(minutes=5)  # "the last 7 days", computed a moment before the query, still fits 7 days


class InvalidQuery(InvalidRequest, ValueError):
    """A history query that cannot be answered (422, the message says why)."""


class Line(BaseModel):
    site: str
    label: str  # the workload or source; "" for a site-wide series
    estimated: bool  # some point is an estimate from the plan (no nvidia-smi)
    points: list[tuple[str, float]]  # [ISO 8601 UTC time, value], oldest first


class SeriesResult(BaseModel):
    series: str
    unit: str
    label: Literal["", "workload", "source"]
    kind: Literal["gauge", "counter"]
    resolution: int  # seconds per point; 0: raw samples
    start: datetime
    end: datetime
    lines: list[Line]


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _span(d: timedelta) -> str:
    """`6 h`, `7 d`, `90 min`: a retention as a reader writes it."""
    s = d.total_seconds()
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
        if s >= size and s % size == 0:
            return f"{s / size:g} {unit}"
    return f"{s:g} s"


def _points(resolution: int, span: float) -> float:
    return span / (resolution or RAW_STEP)


def pick_resolution(start: datetime, end: datetime, resolution: int | None, retention: Retention,
                    now: datetime) -> int:
    """The resolution to answer with, or `InvalidQuery` saying why none fits."""
    if end <= start:
        raise InvalidQuery(f"end {_iso(end)} must be after start {_iso(start)}")
    span = (end - start).total_seconds()
    covers = [r for r in RESOLUTIONS if start >= now - retention.of(r) - SLACK]
    if resolution is not None:
        if resolution not in RESOLUTIONS:
            raise InvalidQuery(f"resolution {resolution}: expected one of 0 (raw), 60, 3600")
        if resolution not in covers:
            raise InvalidQuery(f"resolution {resolution} is kept for {_span(retention.of(resolution))}: start "
                               f"{_iso(start)} is older; use a coarser resolution or a later start")
        if _points(resolution, span) > MAX_POINTS:
            raise InvalidQuery(f"{_points(resolution, span):.0f} points per line at resolution {resolution} "
                               f"(at most {MAX_POINTS}): use a coarser resolution or a shorter range")
        return resolution
    if not covers:
        raise InvalidQuery(f"start {_iso(start)} is older than the longest retention ({_span(retention.hour)})")
    for r in covers:
        if _points(r, span) <= POINTS_TARGET:
            return r
    if _points(covers[-1], span) <= MAX_POINTS:
        return covers[-1]
    raise InvalidQuery(f"{_points(covers[-1], span):.0f} points per line even hourly (at most {MAX_POINTS}): "
                       "use a shorter range")


def _value(v: float) -> float:
    return float(f"{v:.7g}")  # float32 precision, without its binary tail (61.0, not 61.000002)


def history(session: Session, series: str, *, site: str | None = None, label: str | None = None,
            start: datetime, end: datetime, resolution: int | None = None,
            retention: Retention | None = None, now: datetime | None = None) -> SeriesResult:
    """`series` from `start` (inclusive) to `end` (exclusive), one line per site and label.

    `retention` is the server's (default: the settings' defaults); `now` is for tests."""
    info = SERIES.get(series)
    if info is None:
        raise InvalidQuery(f"unknown series {series!r}; known: {', '.join(sorted(SERIES))}")
    if label is not None and info.label == "":
        raise InvalidQuery(f"series {series!r} is one value per site; it has no {label!r} label")
    start, end = utc(start), utc(end)
    r = pick_resolution(start, end, resolution, retention or Retention(), utc(now or datetime.now(UTC)))
    query = (select(ROWS.c.site, ROWS.c.t, ROWS.c.layout_id, ROWS.c["values"])
             .where(ROWS.c.resolution == r, ROWS.c.t >= start, ROWS.c.t < end).order_by(ROWS.c.site, ROWS.c.t))
    conn = session.connection()
    if site is not None:
        query = query.where(ROWS.c.site == site)
    else:  # every site, named: the primary key (site, resolution, t) then serves the range per site
        query = query.where(ROWS.c.site.in_(conn.execute(select(LAYOUTS.c.site).distinct()).scalars().all()))
    rows = conn.execute(query).all()
    columns: dict[int, list[tuple[str, int, bool]]] = {}  # layout -> (label, index, estimated)
    ids = {row[2] for row in rows}
    if ids:
        for lid, keys, estimated in conn.execute(
                select(LAYOUTS.c.id, LAYOUTS.c["keys"], LAYOUTS.c.estimated).where(LAYOUTS.c.id.in_(ids))):
            guessed = set(estimated)
            columns[lid] = [(split_key(k)[1], i, k in guessed) for i, k in enumerate(keys)
                            if split_key(k)[0] == series and (label is None or split_key(k)[1] == label)]
    points: dict[tuple[str, str], list[tuple[str, float]]] = {}
    marked: set[tuple[str, str]] = set()
    for row_site, t, layout_id, blob in rows:
        wanted = columns.get(layout_id)
        if not wanted:
            continue
        values = unpack(blob)
        when = _iso(t)  # UtcDateTime: aware UTC already
        for lab, i, estimated in wanted:
            v = float(values[i])
            if v != v:  # NaN: absent in this row
                continue
            points.setdefault((row_site, lab), []).append((when, _value(v)))
            if estimated:
                marked.add((row_site, lab))
    lines = [Line(site=k[0], label=k[1], estimated=k in marked, points=points[k]) for k in sorted(points)]
    return SeriesResult(series=series, unit=info.unit, label=info.label, kind=info.kind, resolution=r,
                        start=start, end=end, lines=lines)


@dataclass(frozen=True)
class Latest:
    site: str
    t: datetime
    values: dict[str, float]  # series key -> value
    estimated: frozenset[str]


def latest(session: Session, *, since: datetime | None = None) -> dict[str, Latest]:
    """Each site's newest raw sample (at or after `since`, if given), by site name."""
    inner = ROWS.alias("newest")
    sites = select(LAYOUTS.c.site).distinct().subquery()
    newest_t = (select(func.max(inner.c.t)).where(inner.c.site == sites.c.site, inner.c.resolution == RAW)
                .scalar_subquery())  # per site, from the primary key's end: no scan of the history
    newest = select(sites.c.site, newest_t.label("t"))
    sub = newest.subquery()
    conn = session.connection()
    found = conn.execute(
        select(ROWS.c.site, ROWS.c.t, ROWS.c["values"], LAYOUTS.c["keys"], LAYOUTS.c.estimated)
        .join(sub, and_(ROWS.c.site == sub.c.site, ROWS.c.t == sub.c.t))
        .join(LAYOUTS, LAYOUTS.c.id == ROWS.c.layout_id)
        .where(ROWS.c.resolution == RAW, *([ROWS.c.t >= since] if since is not None else []))
        .order_by(ROWS.c.site)).all()
    out = {}
    for site, t, blob, keys, estimated in found:
        values = unpack(blob)
        out[site] = Latest(site, utc(t), {k: _value(float(values[i])) for i, k in enumerate(keys)
                                          if values[i] == values[i]}, frozenset(estimated))
    return out
