"""The rollout state machine: pure, driven by `step(rollout, now, sites)` and by operators.

A rollout takes one workload from a version (`from_`) to another (`to`) in waves
(rollout/waves.py). States:

    rollout   progressing -> succeeded | rolled_back | aborted; progressing <-> paused
    wave      pending -> progressing -> baking -> succeeded
                                 \\-> failed | rolled_back

A wave `progressing` has switched its sites and waits for the gates (rollout/gates.py)
to pass at every one of them; then it is `baking` for `bake_s`, staying healthy all
along; then `succeeded`, and the next wave starts. A gate that fails halts the
rollout: with `auto_rollback` the wave is `rolled_back` and so is the rollout - every
site that switched returns to `from_` (a version that failed a gate is not left
running anywhere) - and without it the wave is `failed` and the rollout `paused` with
the reason, for an operator to `resume` (retry the wave), `promote` or `abort`.

Operators: `pause` freezes progress - no wave starts or finishes its bake - but the
gates are still judged, so a version that breaks while paused still fails and rolls
back; `resume` continues (and retries a failed wave); `promote` skips the remaining
bakes and gates and finishes every wave; `abort` returns every switched site to
`from_`. A rollout that is not `gated` (a workload without a rollout block: all at
once, as before rollouts existed) succeeds when it starts.

Which version a site runs: `site_version`. Everything is plain data with
`to_document`/`from_document`, so the services layer stores it as JSON and a
restarted server resumes where it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from fleetyard.rollout.gates import Observation, judge
from fleetyard.rollout.waves import WaveChoice
from fleetyard.spec.rollout import HealthSpec

__all__ = ["ACTIVE", "TERMINAL", "Event", "Policy", "Refused", "Rollout", "SiteView", "Version", "WaveRun",
           "abort", "pause", "promote", "resume", "site_version", "start", "step"]

RolloutState = Literal["progressing", "paused", "succeeded", "rolled_back", "aborted"]
WaveState = Literal["pending", "progressing", "baking", "succeeded", "failed", "rolled_back"]
ACTIVE = ("progressing", "paused")
TERMINAL = ("succeeded", "rolled_back", "aborted")
SWITCHED = ("progressing", "baking", "succeeded", "failed")  # wave states whose sites run `to`


class Refused(Exception):
    """An operator action that the rollout's state does not allow (the message says why)."""


@dataclass(frozen=True)
class Version:
    """What a site runs for a workload: the model reference and the replica command and env."""

    model: str
    command: tuple[str, ...] | None = None
    env: tuple[tuple[str, str], ...] = ()

    def to_document(self) -> dict[str, Any]:
        return {"model": self.model, "command": list(self.command) if self.command is not None else None,
                "env": dict(self.env)}

    @staticmethod
    def from_document(doc: Mapping[str, Any]) -> Version:
        cmd = doc.get("command")
        return Version(str(doc["model"]), tuple(cmd) if cmd is not None else None,
                       tuple(sorted((str(k), str(v)) for k, v in dict(doc.get("env") or {}).items())))

    def change_from(self, old: Version | None) -> str:
        """In words: what differs from `old`."""
        if old is None:
            return f"first version {self.model}"
        parts = [f"model {old.model} -> {self.model}"] if old.model != self.model else []
        if old.command != self.command:
            parts.append("command changed")
        if old.env != self.env:
            parts.append("env changed")
        return ", ".join(parts) or "no change"


@dataclass(frozen=True)
class Policy:
    """What the machine needs of the workload's rollout block."""

    bake_s: float = 0.0
    health: HealthSpec = field(default_factory=HealthSpec)
    validate_timeout_s: float | None = None
    auto_rollback: bool = True
    gated: bool = True  # False: no gates at all (all at once, as before rollouts)

    def to_document(self) -> dict[str, Any]:
        return {"bake_s": self.bake_s, "health": self.health.model_dump(mode="json"),
                "validate_timeout_s": self.validate_timeout_s, "auto_rollback": self.auto_rollback,
                "gated": self.gated}

    @staticmethod
    def from_document(doc: Mapping[str, Any]) -> Policy:
        return Policy(bake_s=float(doc.get("bake_s", 0.0)), health=HealthSpec.model_validate(doc.get("health", {})),
                      validate_timeout_s=doc.get("validate_timeout_s"), auto_rollback=bool(doc.get("auto_rollback")),
                      gated=bool(doc.get("gated", True)))


@dataclass
class WaveRun:
    index: int
    sites: list[str]
    why: str = ""
    state: WaveState = "pending"
    reason: str | None = None
    started_at: datetime | None = None
    baking_since: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True)
class SiteView:
    """One site of the workload now: replicas the plan puts there, the agent's last report."""

    desired: int
    observation: Observation | None = None


@dataclass(frozen=True)
class Event:
    kind: str  # rollout.started, rollout.wave_started, ...
    message: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Rollout:
    workload: str
    from_: Version | None
    to: Version
    policy: Policy
    waves: list[WaveRun]
    state: RolloutState
    created_at: datetime
    updated_at: datetime
    reason: str | None = None
    cause: str = "apply"  # apply (a new version) | undo (a version pinned by an operator)

    @property
    def label(self) -> str:
        return f"{self.workload} {self.from_.model if self.from_ else '-'} -> {self.to.model}"

    def current(self) -> WaveRun | None:
        """The first wave that has not succeeded."""
        return next((w for w in self.waves if w.state != "succeeded"), None)

    def to_document(self) -> dict[str, Any]:
        def t(x: datetime | None) -> str | None:
            return x.isoformat() if x is not None else None

        return {"workload": self.workload, "from": self.from_.to_document() if self.from_ else None,
                "to": self.to.to_document(), "policy": self.policy.to_document(), "state": self.state,
                "reason": self.reason, "cause": self.cause, "created_at": t(self.created_at),
                "updated_at": t(self.updated_at),
                "waves": [{"index": w.index, "sites": list(w.sites), "why": w.why, "state": w.state,
                           "reason": w.reason, "started_at": t(w.started_at), "baking_since": t(w.baking_since),
                           "finished_at": t(w.finished_at)} for w in self.waves]}

    @staticmethod
    def from_document(doc: Mapping[str, Any]) -> Rollout:
        def t(x: Any) -> datetime | None:
            return datetime.fromisoformat(x) if x else None

        waves = [WaveRun(index=int(w["index"]), sites=list(w["sites"]), why=w.get("why", ""), state=w["state"],
                         reason=w.get("reason"), started_at=t(w.get("started_at")),
                         baking_since=t(w.get("baking_since")), finished_at=t(w.get("finished_at")))
                 for w in doc["waves"]]
        created = t(doc["created_at"])
        updated = t(doc["updated_at"])
        assert created is not None and updated is not None
        return Rollout(workload=doc["workload"], from_=Version.from_document(doc["from"]) if doc.get("from") else None,
                       to=Version.from_document(doc["to"]), policy=Policy.from_document(doc["policy"]),
                       waves=waves, state=doc["state"], created_at=created, updated_at=updated,
                       reason=doc.get("reason"), cause=doc.get("cause", "apply"))


# ---- transitions ------------------------------------------------------------------------

def start(workload: str, from_: Version | None, to: Version, choices: list[WaveChoice], policy: Policy,
          now: datetime, *, cause: str = "apply") -> tuple[Rollout, list[Event]]:
    """A new rollout; its first wave switches now (or, ungated or first version, it is done)."""
    waves = [WaveRun(index=i, sites=list(c.sites), why=c.why) for i, c in enumerate(choices)]
    r = Rollout(workload, from_, to, policy, waves, "progressing", now, now, cause=cause)
    events = [Event("rollout.started", f"{workload}: rolling out {to.change_from(from_)} in {len(waves)} "
                                       f"wave{'s' if len(waves) != 1 else ''}", {"from": _ref(from_), "to": to.model})]
    if from_ is None or not policy.gated:
        for w in waves:
            w.state, w.started_at, w.finished_at = "succeeded", now, now
        r.state = "succeeded"
        r.reason = None
        what = "first version: nothing to roll out from" if from_ is None else "all at once, no health gates"
        events.append(Event("rollout.succeeded", f"{workload}: {to.model} everywhere ({what})", {"to": to.model}))
        return r, events
    events += _advance(r, now)
    return r, events


def _ref(v: Version | None) -> str | None:
    return v.model if v is not None else None


def _start_wave(r: Rollout, w: WaveRun, now: datetime) -> list[Event]:
    w.state, w.started_at, w.baking_since, w.reason = "progressing", now, None, None
    return [Event("rollout.wave_started", f"{r.workload}: wave {w.index} switches {', '.join(w.sites) or 'no site'} "
                                          f"to {r.to.model} ({w.why})", {"wave": w.index, "sites": list(w.sites)})]


def _advance(r: Rollout, now: datetime) -> list[Event]:
    """Start the next pending wave, or finish the rollout when none is left (not while paused)."""
    if r.state != "progressing":
        return []
    w = r.current()
    if w is None:
        r.state, r.reason, r.updated_at = "succeeded", None, now
        return [Event("rollout.succeeded", f"{r.workload}: {r.to.model} on every site after {len(r.waves)} "
                                           f"wave{'s' if len(r.waves) != 1 else ''}", {"to": r.to.model})]
    if w.state == "pending":
        return _start_wave(r, w, now)
    return []


def _fail(r: Rollout, w: WaveRun, reason: str, now: datetime) -> list[Event]:
    events = [Event("rollout.wave_failed", f"{r.workload}: wave {w.index} failed: {reason}",
                    {"wave": w.index, "reason": reason})]
    r.updated_at = now
    if r.policy.auto_rollback and r.from_ is not None:
        for other in r.waves:
            if other.state in SWITCHED and other is not w:
                other.state, other.reason, other.finished_at = "rolled_back", f"rolled back with wave {w.index}", now
        w.state, w.reason, w.finished_at = "rolled_back", reason, now
        r.state, r.reason = "rolled_back", reason
        events.append(Event("rollout.rolled_back", f"{r.workload}: back to {r.from_.model} on every site that "
                                                   f"switched: {reason}", {"to": r.from_.model, "reason": reason}))
    else:
        w.state, w.reason, w.finished_at = "failed", reason, now
        r.state, r.reason = "paused", f"halted: {reason}"
        events.append(Event("rollout.paused", f"{r.workload}: halted on wave {w.index} (no auto_rollback): {reason}",
                            {"wave": w.index, "reason": reason}))
    return events


def step(r: Rollout, now: datetime, sites: Mapping[str, SiteView]) -> list[Event]:
    """Judge the current wave against the sites' reports and move on where the gates allow.

    `sites`: every site the plan gives the workload now (a wave's site missing from it
    has no replicas left to judge)."""
    if r.state not in ACTIVE:
        return []
    events = _advance(r, now)
    w = r.current()
    if w is None or w.state not in ("progressing", "baking") or w.started_at is None:
        return events
    elapsed = (now - w.started_at).total_seconds()
    baking = w.state == "baking"
    waiting: list[str] = []
    for site in w.sites:
        view = sites.get(site, SiteView(desired=0))
        v = judge(site, r.policy.health, view.desired, view.observation, r.to.model, elapsed, baking=baking,
                  validate_timeout_s=r.policy.validate_timeout_s)
        if v.status == "failed":
            assert v.reason is not None
            return events + _fail(r, w, v.reason, now)
        if v.status == "waiting":
            waiting.append(v.reason or site)
    if waiting:
        if w.reason != waiting[0]:
            w.reason, r.updated_at = waiting[0], now
        return events
    if w.state == "progressing":
        w.state, w.baking_since, w.reason, r.updated_at = "baking", now, None, now
    assert w.baking_since is not None
    if r.state == "paused" or (now - w.baking_since).total_seconds() < r.policy.bake_s:
        return events
    w.state, w.finished_at, w.reason, r.updated_at = "succeeded", now, None, now
    events.append(Event("rollout.wave_baked", f"{r.workload}: wave {w.index} ({', '.join(w.sites) or 'no site'}) "
                                              f"healthy on {r.to.model} for {r.policy.bake_s:g} s",
                        {"wave": w.index}))
    return events + _advance(r, now)


def site_version(r: Rollout, site: str) -> Literal["from", "to"]:
    """Which of the two versions `site` runs now (a site in no wave yet keeps `from`)."""
    if r.from_ is None or r.state == "succeeded":
        return "to"
    if r.state in ("rolled_back", "aborted"):
        return "from"
    for w in r.waves:
        if site in w.sites:
            return "to" if w.state in SWITCHED else "from"
    return "from"


# ---- operators --------------------------------------------------------------------------

def _refuse(r: Rollout, verb: str) -> Refused:
    return Refused(f"cannot {verb} the rollout of {r.label}: it is {r.state}"
                   + (f" ({r.reason})" if r.reason else ""))


def pause(r: Rollout, now: datetime, who: str) -> list[Event]:
    if r.state != "progressing":
        raise _refuse(r, "pause")
    r.state, r.reason, r.updated_at = "paused", f"paused by {who}", now
    return [Event("rollout.paused", f"{r.workload}: paused by {who}", {"by": who})]


def resume(r: Rollout, now: datetime, who: str) -> list[Event]:
    if r.state != "paused":
        raise _refuse(r, "resume")
    r.state, r.reason, r.updated_at = "progressing", None, now
    events = [Event("rollout.resumed", f"{r.workload}: resumed by {who}", {"by": who})]
    w = r.current()
    if w is not None and w.state == "failed":  # halted by a gate: try the wave again
        events += _start_wave(r, w, now)
    return events + _advance(r, now)


def promote(r: Rollout, now: datetime, who: str) -> list[Event]:
    if r.state not in ACTIVE:
        raise _refuse(r, "promote")
    for w in r.waves:
        if w.state != "succeeded":
            w.state, w.finished_at = "succeeded", now
            w.reason = f"promoted by {who}"
            w.started_at = w.started_at or now
    r.state, r.reason, r.updated_at = "succeeded", f"promoted by {who}: remaining bakes and gates skipped", now
    return [Event("rollout.succeeded", f"{r.workload}: {r.to.model} promoted to every site by {who}",
                  {"to": r.to.model, "by": who})]


def abort(r: Rollout, now: datetime, who: str, why: str | None = None) -> list[Event]:
    if r.state not in ACTIVE:
        raise _refuse(r, "abort")
    reason = why or f"aborted by {who}"
    for w in r.waves:
        if w.state in SWITCHED:
            w.state, w.reason, w.finished_at = "rolled_back", reason, now
    r.state, r.reason, r.updated_at = "aborted", reason, now
    back = r.from_.model if r.from_ else r.to.model
    return [Event("rollout.aborted", f"{r.workload}: {reason}; every switched site returns to {back}",
                  {"by": who, "to": back})]
