"""Issue 11's server test: a deferred job is held back until its slot, then started by an agent.

A real server and a real agent as processes on loopback (`LocalFleet`), SQLite and
PostgreSQL, slots of 2 s. The job may start 20 s after the apply and runs 10 s. The
test asserts from both sides that nothing runs it before its slot (the site's desired state
lacks it, the agent reports no replica, the job's program has not started), then that the
agent starts it inside its slot, stops it when its slots are over, and that the server
booked its usage and prices it (`GET /api/v1/usage`, `GET /api/v1/cost`). Every wait is a
bounded poll; nothing depends on how fast the machine is beyond those bounds.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fleetyard.agent.localfleet import FleetError, LocalFleet, write_model
from fleetyard.spec.trace import format_time, parse_time
from tests.server.conftest import BACKENDS, Postgres, postgres

__all__ = ["postgres"]

SLOT_S = 2
RUN_S = 10  # seconds the job runs: five slots
# The job: records when it started (and, on SIGTERM, when it stopped) in OUT/<pid>.json.
JOB = r'''
import json, os, signal, sys, time
out = os.path.join(os.environ["OUT"], f"{os.getpid()}.json")
life = {"start": time.time()}
def write():
    with open(out + ".tmp", "w") as f:
        json.dump(life, f)
    os.replace(out + ".tmp", out)
def stop(*_):
    life["stop"] = time.time()
    write()
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
write()
while True:
    time.sleep(0.2)
'''
FLEET = """apiVersion: fleetyard/v1
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
metadata: {{name: edge-1}}
spec:
  type: edge
  country: DE
  location: {{lat: 50.1, lon: 8.7}}
  gpus: [{{sku: L4, count: 2, price_per_gpu_hour: 0.5}}]
  power: {{it_capacity_kw: 2}}
  energy: {{price_per_kwh: 0.2, carbon_g_per_kwh: 300}}
---
apiVersion: fleetyard/v1
kind: Workload
metadata: {{name: reindex, labels: {{team: search}}}}
spec:
  type: batch
  model: job-llm:1
  replica: {{gpus: 1}}
  replicas: {{min: 1, max: 1}}
  command: [{python}, "-c", {job}]
  env: {{OUT: {out}}}
  schedule: {{earliest: {earliest}, deadline: {deadline}, duration_h: {hours}}}
"""


def _lives(out: Path) -> list[dict[str, float]]:
    return [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]


def _until(what: str, timeout: float, check: object) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise FleetError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


@pytest.mark.timeout(400)
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_deferred_job_is_held_back_until_its_slot_then_started_by_the_agent(
        backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    db = None
    if backend == "postgres":
        pg: Postgres = request.getfixturevalue("postgres")
        db = pg.new_database()
    out = tmp_path / "job"
    out.mkdir()
    with LocalFleet(tmp_path / "fleet", heartbeat=0.5) as fleet:
        fleet.start_server(db=db, env={"FLEETYARD_SCHEDULE_SLOT_S": str(SLOT_S), "FLEETYARD_FAILOVER": "false",
                                       "FLEETYARD_TICK_INTERVAL": "0.5"})
        fleet.push(write_model(tmp_path / "model", tensors=2, rows=16), "job-llm", "1")
        # The window is set after the slow steps (server start, push), so a busy machine
        # leaves the same 20 s between the apply and the slot; the job runs 10 s.
        earliest = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=20)
        spec = tmp_path / "spec"
        spec.mkdir()
        (spec / "fleet.yaml").write_text(FLEET.format(
            python=json.dumps(sys.executable), job=json.dumps(JOB), out=json.dumps(str(out)),
            earliest=format_time(earliest), deadline=format_time(earliest + timedelta(seconds=24)),
            hours=RUN_S / 3600), encoding="utf-8")
        fleet.apply(spec)
        try:
            [job] = fleet.client.schedule().jobs
            slot_start = parse_time(job.slots[0].start)
            slot_end = parse_time(job.slots[-1].end)
            assert isinstance(slot_start, datetime) and isinstance(slot_end, datetime)
            assert (job.workload, job.site, job.gpu_sku, job.replicas) == ("reindex", "edge-1", "L4", 1)
            assert earliest <= slot_start and slot_end - slot_start == timedelta(seconds=RUN_S), job.slots
            fleet.start_agent("edge-1", relay=False)

            # Before the slot: not desired, not reported running, not started - checked until the slot begins.
            held = 0
            while True:
                # Every observation of a round is made before `asked_by`; a round that ends
                # after the slot began is not judged (on a busy machine the calls are slow).
                desired = fleet.client.desired("edge-1")
                st = fleet.status()
                lives = _lives(out)
                asked_by = datetime.now(UTC)
                if asked_by >= slot_start:
                    break
                assert [w.name for w in desired.workloads] == [], desired.workloads
                assert all(w.replicas.running == 0 for s in st.sites for w in s.workloads if w.name == "reindex")
                assert {d.workload: d.state for d in st.deferred} == {"reindex": "waiting"}
                assert lives == [], "the job started before its slot"
                held += 1
                time.sleep(0.3)
            assert held >= 3, "the slot began before the agent could be watched holding the job back"
            # its model was synced ahead of the slot
            assert any(m.ref == "job-llm:1" for m in desired.models)

            # In the slot: the agent starts it, never before the slot's start; after: it stops it.
            _until("the agent to start the job", 60, lambda: _lives(out))
            [life] = _lives(out)
            assert life["start"] >= slot_start.timestamp(), (life, job.slots)
            fleet.wait_for(lambda st: any(w.name == "reindex" and w.replicas.running == 1
                                          for s in st.sites for w in s.workloads)
                           or "stop" in _lives(out)[0], "the job reported running", 60)
            _until("the agent to stop the job after its slots", 90, lambda: "stop" in _lives(out)[0])
            stopped = _lives(out)[0]["stop"]
            assert stopped >= slot_end.timestamp(), (stopped, job.slots)
            # "done" follows the clock, the site's workloads its agent's next report: both must come
            fleet.wait_for(lambda st: {d.workload: d.state for d in st.deferred} == {"reindex": "done"}
                            and all(w.name != "reindex" for s in st.sites for w in s.workloads),
                            "the job done in status and gone from its site's report", 30)

            # What ran was booked (about its 10 s, a heartbeat or two either side) and is priced.
            rows = [u for u in fleet.client.usage() if u.workload == "reindex"]
            booked = sum(u.replica_seconds for u in rows)
            assert {(u.site, u.gpu_sku) for u in rows} == {("edge-1", "L4")} and 2.0 <= booked <= 20.0, rows
            cost = fleet.client.cost(by="team", period="2h")
            [row] = cost.rows
            assert (cost.source, row.key) == ("recorded", "search")
            assert row.gpu_hours == pytest.approx(booked / 3600) and row.gpu_rent == pytest.approx(0.5 * booked / 3600)
        except (FleetError, AssertionError) as exc:
            logs = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(fleet.logs.iterdir()))
            raise AssertionError(f"{exc}\n{logs}") from None
