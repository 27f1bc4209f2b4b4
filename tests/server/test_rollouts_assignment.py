"""Which version, keep and prefetch each site gets from a workload's latest rollout
(services/rollout_state.py), without a server: gated and ungated workloads, pins."""

from __future__ import annotations

from datetime import UTC, datetime

from fleetyard.rollout import Candidate, Policy, choose_waves, start
from fleetyard.services.db import RolloutRow
from fleetyard.services.rollout_state import Stored, assignment, spec_version
from fleetyard.spec import Workload
from fleetyard.spec.rollout import Wave

T0 = datetime(2026, 12, 2, tzinfo=UTC)


def _workload(rollout: bool) -> Workload:
    spec: dict[str, object] = {"type": "batch", "model": "m@prod", "command": ["run"], "env": {"A": "1"}}
    if rollout:
        spec["rollout"] = {"strategy": "canary", "waves": [{"sites": 1}]}
    return Workload.model_validate({"apiVersion": "fleetyard/v1", "kind": "Workload", "metadata": {"name": "w"},
                                    "spec": spec})


def _stored(w: Workload, from_: str, to: str, spec_ref: str, *, gated: bool = True) -> Stored:
    choices = choose_waves([Wave(sites=1)], [Candidate("a-1", 0), Candidate("b-1", 5)])
    r, _ = start("w", spec_version(w, from_), spec_version(w, to), choices, Policy(bake_s=5, gated=gated), T0)
    row = RolloutRow(id=1, workload="w", state=r.state, document=r.to_document(), created_by="c", created_at=T0,
                     updated_at=T0)
    return Stored(row, r, spec_version(w, spec_ref))


def test_gated_sites_follow_their_wave_keep_the_old_and_fetch_the_new_ahead() -> None:
    w = _workload(rollout=True)
    s = _stored(w, "m:1", "m:2", "m:2")
    canary, later = assignment(w, "a-1", "m:2", s), assignment(w, "b-1", "m:2", s)
    assert (canary.version.model, canary.keep, canary.prefetch) == ("m:2", ["m:1"], [])
    assert (later.version.model, later.keep, later.prefetch) == ("m:1", [], ["m:2"])
    assert canary.version.command == ("run",) and dict(canary.version.env) == {"A": "1"}
    # a newer spec version the controller has not picked up yet changes nothing until it does
    assert assignment(w, "b-1", "m:3", s).version.model == "m:1"
    # a site the plan added mid-rollout keeps the old version
    assert assignment(w, "new-1", "m:2", s).version.model == "m:1"


def test_ungated_workloads_get_the_spec_version_at_once_unless_pinned() -> None:
    w = _workload(rollout=False)
    done = _stored(w, "m:1", "m:2", "m:2", gated=False)
    assert done.rollout.state == "succeeded"  # ungated: done when it starts
    assert assignment(w, "b-1", "m:2", done) == assignment(w, "b-1", "m:2", None)
    assert assignment(w, "b-1", "m:3", done).version.model == "m:3"  # as before rollouts: at once
    pinned = _stored(w, "m:2", "m:1", "m:2", gated=False)  # an undo: the spec asks for m:2, the pin says m:1
    assert assignment(w, "b-1", "m:2", pinned).version.model == "m:1"
    assert assignment(w, "b-1", "m:2", pinned).keep == []
    assert assignment(w, "b-1", "m:4", pinned).version.model == "m:4"  # a new spec version lifts the pin


def test_first_version_and_unresolved_references() -> None:
    w = _workload(rollout=True)
    got = assignment(w, "a-1", None, None)
    assert got.version.model == "m@prod" and got.keep == [] and got.prefetch == []
