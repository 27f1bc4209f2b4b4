"""Issue 11 on the server, with the real server process on SQLite and PostgreSQL: energy
traces travel with `apply` and are stored with the fleet; every plan revision gets a
schedule of the deferred work, served at `GET /api/v1/schedule` and shown in `status`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from fleetyard.services.client import ApiError, read_spec_files
from fleetyard.services.db import Database, ScheduleRow, TraceRow
from fleetyard.services.traces import sha256
from fleetyard.spec.trace import format_time
from tests.server.conftest import BACKENDS, ServerProcess

SITE = """apiVersion: fleetyard/v1
kind: Region
metadata: {{name: eu}}
spec: {{location: {{lat: 50.1, lon: 8.7}}}}
---
apiVersion: fleetyard/v1
kind: Objective
metadata: {{name: default}}
spec: {{carbon_price_per_tonne: 80, resilience: none}}
---
apiVersion: fleetyard/v1
kind: Site
metadata: {{name: fra-1}}
spec:
  type: small-dc
  country: DE
  location: {{lat: 50.1, lon: 8.7}}
  gpus: [{{sku: L4, count: 4}}]
  power: {{it_capacity_kw: 10}}
  energy: {{price_per_kwh: 0.2, carbon_g_per_kwh: 300{trace}}}
"""
WORKLOADS = """apiVersion: fleetyard/v1
kind: Workload
metadata: {{name: chat}}
spec:
  type: inference
  model: chat-llm:1
  replica: {{gpus: 1}}
  replicas: {{min: 1, max: 1}}
  demand: {{eu: 10}}
  rps_per_replica: 100
  latency_slo_ms: 50
{jobs}"""
JOB = """---
apiVersion: fleetyard/v1
kind: Workload
metadata: {{name: {name}}}
spec:
  type: batch
  model: job-llm:1
  replica: {{gpus: 1}}
  replicas: {{min: 1, max: 1}}
  schedule: {{earliest: {earliest}, deadline: {deadline}, duration_h: {hours}}}
"""


def trace_csv(start: datetime, hours: int, low_at: int | None = None) -> str:
    """Hourly carbon and price from `start`; cheap and clean only at hour `low_at`."""
    rows = ["time,carbon_g_per_kwh,price_per_kwh"]
    for h in range(hours):
        low = h == low_at
        rows.append(f"{format_time(start + timedelta(hours=h))},{50 if low else 400},{0.05 if low else 0.3}")
    return "\n".join(rows) + "\n"


def write_spec(folder: Path, *, trace: str | None, jobs: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "site.yaml").write_text(SITE.format(trace=", trace: traces/fra.csv" if trace is not None else ""))
    (folder / "workloads.yaml").write_text(WORKLOADS.format(jobs=jobs))
    if trace is not None:
        (folder / "traces").mkdir(exist_ok=True)
        (folder / "traces" / "fra.csv").write_text(trace)
    return folder


def job(name: str, earliest: datetime, deadline: datetime, hours: float) -> str:
    return JOB.format(name=name, earliest=format_time(earliest), deadline=format_time(deadline), hours=hours)


def database(server: ServerProcess) -> Database:
    return Database(server.db or f"sqlite:///{server.data / 'fleetyard.db'}")


def hour_floor(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_traces_travel_with_apply_are_stored_kept_and_a_bad_one_stores_nothing(
        backend: str, tmp_path: Path, server_factory: Callable[..., ServerProcess],
        new_database: Callable[[str], str | None]) -> None:
    server = server_factory(new_database(backend))
    start = hour_floor(datetime.now(UTC)) - timedelta(days=1)
    good = trace_csv(start, 24 * 5)
    spec = write_spec(tmp_path / "spec", trace=good)
    files, problems = read_spec_files([spec])
    assert problems == [] and [t.name for t in files.traces] == [f"{spec}/traces/fra.csv"]
    db = database(server)
    with server.client() as api:
        first = api.apply(files)
        with db.session() as s:
            rows = list(s.scalars(select(TraceRow)))
        assert [(r.path, r.content, r.sha256) for r in rows] == [(f"{spec}/traces/fra.csv", good, sha256(good))]

        # Only the workloads again: the stored Site finds its stored trace (named stored:...).
        only = read_spec_files([spec / "workloads.yaml"])[0]
        assert only.traces == []
        again = api.apply(only)
        assert again.revision == first.revision and all(c.action == "unchanged" for c in again.changes)
        with db.session() as s:
            assert [r.content for r in s.scalars(select(TraceRow))] == [good]

        # A gap and a negative value: 422 naming the trace, its lines and columns; nothing stored.
        lines = good.splitlines()
        lines[4] = lines[4].replace(",400,", ",-5,")
        del lines[7]
        (spec / "traces" / "fra.csv").write_text("\n".join(lines) + "\n")
        with pytest.raises(ApiError) as bad:
            api.apply(read_spec_files([spec])[0])
        assert bad.value.status == 422
        where = {(p.file, p.line, p.path) for p in bad.value.problems}
        assert (f"{spec}/traces/fra.csv", 5, "carbon_g_per_kwh") in where
        assert any(p.file == f"{spec}/traces/fra.csv" and p.line == 8 and "a gap" in p.message
                   for p in bad.value.problems), bad.value.problems
        assert api.plan().revision == first.revision
        with db.session() as s:
            assert [r.content for r in s.scalars(select(TraceRow))] == [good]

        # A new trace alone (no resource changed) is a change: prices moved, so a new revision.
        newer = trace_csv(start, 24 * 6)
        (spec / "traces" / "fra.csv").write_text(newer)
        moved = api.apply(read_spec_files([spec])[0])
        assert moved.revision == first.revision + 1
        with db.session() as s:
            assert [(r.content, r.sha256) for r in s.scalars(select(TraceRow))] == [(newer, sha256(newer))]

        # A trace missing on disk is the client's problem, in `fleetyard validate`'s words.
        (spec / "traces" / "fra.csv").unlink()
        missing = read_spec_files([spec])[1]
        assert len(missing) == 1 and missing[0].file == f"{spec}/site.yaml" and missing[0].line == 20
        assert missing[0].path == "spec.energy.trace" and "cannot read trace" in missing[0].message
    db.dispose()


def test_a_year_of_hourly_trace_fits_the_apply_limit(tmp_path: Path,
                                                     server_factory: Callable[..., ServerProcess]) -> None:
    server = server_factory()
    start = hour_floor(datetime.now(UTC)) - timedelta(days=200)
    year = "time,carbon_g_per_kwh,price_per_kwh,pue\n" + "".join(
        f"{format_time(start + timedelta(hours=h))},{300 + h % 97}.{h % 1000:03d},0.{17000 + h % 1000},1.2{h % 10}\n"
        for h in range(366 * 24))
    assert len(year) > 350_000
    spec = write_spec(tmp_path / "spec", trace=year)
    with server.client() as api:
        assert api.apply(read_spec_files([spec])[0]).revision == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_schedule_per_revision_served_and_in_status(
        backend: str, tmp_path: Path, server_factory: Callable[..., ServerProcess],
        new_database: Callable[[str], str | None]) -> None:
    server = server_factory(new_database(backend))
    now = datetime.now(UTC)
    hour = hour_floor(now)
    trace = trace_csv(hour - timedelta(days=1), 24 * 4, low_at=24 + 5)  # cheapest hour: 5 h from now's hour
    jobs = (job("nightly", hour + timedelta(hours=2), hour + timedelta(hours=12), 1)
            + job("too-late", now - timedelta(days=2), now - timedelta(days=1), 2))
    spec = write_spec(tmp_path / "spec", trace=trace, jobs=jobs)
    db = database(server)
    with server.client() as api:
        first = api.apply(read_spec_files([spec])[0])
        sched = api.schedule()
        assert sched.revision == first.revision == api.plan().revision
        assert sched.start == format_time(hour) and sched.objective == "cost"
        [placed] = sched.jobs
        assert (placed.workload, placed.site, placed.gpu_sku, placed.replicas) == ("nightly", "fra-1", "L4", 1)
        assert [(s.start, s.end) for s in placed.slots] == [
            (format_time(hour + timedelta(hours=5)), format_time(hour + timedelta(hours=6)))]
        [late] = sched.unscheduled
        assert late.workload == "too-late" and "has passed" in late.reasons[0]

        st = api.status()
        by = {d.workload: d for d in st.deferred}
        assert by["nightly"].state == "waiting" and by["nightly"].next_start == hour + timedelta(hours=5)
        assert by["too-late"].state == "unscheduled" and "has passed" in (by["too-late"].reason or "")
        # held back: not in the site's desired state before its slot, but its model is synced ahead
        desired = api.desired("fra-1")
        assert [w.name for w in desired.workloads] == ["chat"]

        # Another revision gets its own schedule; the old one stays stored with its revision.
        (spec / "workloads.yaml").write_text(WORKLOADS.format(jobs=jobs.replace("duration_h: 1", "duration_h: 2")))
        second = api.apply(read_spec_files([spec])[0])
        assert second.revision == first.revision + 1
        assert api.schedule().revision == second.revision
        assert [j.run_hours for j in api.schedule().jobs] == [2.0]
        with db.session() as s:
            assert [r.revision for r in s.scalars(select(ScheduleRow).order_by(ScheduleRow.revision))] == [
                first.revision, second.revision]

        # A trace that does not reach the deadline: 422 naming site, trace and the gap; nothing stored.
        short = trace_csv(hour - timedelta(days=1), 24 + 4)
        (spec / "traces" / "fra.csv").write_text(short)
        with pytest.raises(ApiError) as bad:
            api.apply(read_spec_files([spec])[0])
        assert bad.value.status == 422
        [p] = bad.value.problems
        assert (p.file, p.line, p.path) == (f"{spec}/site.yaml", 20, "spec.energy.trace")
        assert f"site fra-1: trace {spec}/traces/fra.csv does not cover {format_time(hour + timedelta(hours=4))}" \
            in p.message and "FLEETYARD_SCHEDULE_EXTEND=repeat-daily" in p.message
        assert api.schedule().revision == second.revision
        with db.session() as s:
            assert [r.content for r in s.scalars(select(TraceRow))] == [trace]
    db.dispose()


def test_repeat_daily_extends_a_short_trace(tmp_path: Path, server_factory: Callable[..., ServerProcess]) -> None:
    server = server_factory(FLEETYARD_SCHEDULE_EXTEND="repeat-daily", FLEETYARD_SCHEDULE_OBJECTIVE="carbon")
    now = datetime.now(UTC)
    hour = hour_floor(now)
    spec = write_spec(tmp_path / "spec", trace=trace_csv(hour - timedelta(days=3), 48),
                      jobs=job("nightly", hour + timedelta(hours=1), hour + timedelta(hours=30), 1))
    with server.client() as api:
        api.apply(read_spec_files([spec])[0])
        sched = api.schedule()
        assert sched.objective == "carbon" and [j.workload for j in sched.jobs] == ["nightly"]
