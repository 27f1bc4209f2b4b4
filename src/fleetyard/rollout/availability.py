"""Site availability: when a site's work moves out, and when it may move back.

A pure state machine driven by the time of a site's last heartbeat and a clock,
so the same decisions come out on any machine and in any test:

    available   --no heartbeat for `grace`------------------------->  unavailable
    unavailable --heartbeats again------------------------------------>  returning
    returning   --heartbeating without a miss for `hold_off`--------->  available
    returning   --a miss (no heartbeat for `miss_after`)-------------->  unavailable

For the fleet a site is *down* while it is unavailable or returning: its work was
moved out when it became unavailable and moves back only when it is available
again. A miss while returning starts the hold-off over, so a link that flaps every
20 s moves work out once and back once, after it stopped flapping for `hold_off`.

A miss is a gap of more than `miss_after` between heartbeats: seen either as the
silence now (no heartbeat for `miss_after`), or as two consecutive observed
heartbeats further apart than that (the site was silent between two looks).

A site that never reported is available: there is nothing to fail over from a site
whose agent was never started (and a fleet applied before its agents start must not
move all its work out).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

__all__ = ["Availability", "AvailabilityPolicy", "State", "Transition", "decide", "span"]

State = Literal["available", "unavailable", "returning"]
MAX_GRACE = 86_400.0
MAX_HOLD_OFF = 86_400.0


def span(seconds: float) -> str:
    """A duration in words: "1.4 s", "34 s", "5 min", "2 h 5 min"."""
    if 0 < seconds < 10 and round(seconds, 1) != round(seconds):
        return f"{seconds:.1f} s"
    s = max(0, round(seconds))
    if s < 120:
        return f"{s} s"
    minutes = round(s / 60)
    if minutes < 120:
        return f"{minutes} min"
    h, m = divmod(minutes, 60)
    return f"{h} h {m} min" if m else f"{h} h"


@dataclass(frozen=True)
class AvailabilityPolicy:
    """The settings: `grace` of silence makes a site unavailable; `hold_off` of
    heartbeats without a miss makes it available again; a miss is no heartbeat for
    `miss_after` (at most `grace`; typically a few heartbeat intervals)."""

    grace: float = 30.0
    hold_off: float = 300.0
    miss_after: float = 15.0

    def __post_init__(self) -> None:
        if not 0 < self.grace <= MAX_GRACE:
            raise ValueError(f"grace: expected 0 < seconds <= {MAX_GRACE:g}, got {self.grace!r}")
        if not 0 <= self.hold_off <= MAX_HOLD_OFF:
            raise ValueError(f"hold_off: expected 0 <= seconds <= {MAX_HOLD_OFF:g}, got {self.hold_off!r}")
        if not 0 < self.miss_after:
            raise ValueError(f"miss_after: expected seconds > 0, got {self.miss_after!r}")

    @property
    def miss(self) -> float:
        return min(self.miss_after, self.grace)


@dataclass(frozen=True)
class Availability:
    """One site's availability: its state, since when, why, and the last heartbeat seen."""

    state: State
    since: datetime
    reason: str | None = None
    last_heartbeat: datetime | None = None
    down_since: datetime | None = None  # when the work moved out (kept while returning)

    @property
    def down(self) -> bool:
        """Whether the fleet counts the site as down (its work elsewhere)."""
        return self.state != "available"

    def to_doc(self) -> dict[str, Any]:
        return {"state": self.state, "since": self.since.isoformat(), "reason": self.reason,
                "last_heartbeat": self.last_heartbeat.isoformat() if self.last_heartbeat else None,
                "down_since": self.down_since.isoformat() if self.down_since else None}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Availability:
        def at(key: str) -> datetime | None:
            value = doc.get(key)
            return datetime.fromisoformat(value) if isinstance(value, str) else None

        state = doc.get("state")
        since = at("since")
        if state not in ("available", "unavailable", "returning") or since is None:
            raise ValueError(f"not an availability document: {doc!r}")
        return cls(state=state, since=since, reason=doc.get("reason"), last_heartbeat=at("last_heartbeat"),
                   down_since=at("down_since"))


@dataclass(frozen=True)
class Transition:
    """A change of state; `moves` says whether the fleet's work moves because of it
    ("out" when the site goes down, "back" when it is available again, None otherwise)."""

    before: State
    after: State
    reason: str
    at: datetime

    @property
    def moves(self) -> Literal["out", "back"] | None:
        if self.before == "available" and self.after != "available":
            return "out"
        if self.before != "available" and self.after == "available":
            return "back"
        return None


def _clock(at: datetime) -> str:
    return at.strftime("%H:%M:%S")


def decide(current: Availability | None, last_heartbeat: datetime | None, now: datetime, policy: AvailabilityPolicy,
           *, watching_since: datetime | None = None) -> tuple[Availability, Transition | None]:
    """The site's availability at `now`, given the last heartbeat received (None: never).

    `watching_since`: when the observer started looking (a server that was itself down
    does not count the time it could not hear heartbeats as the sites' silence)."""
    if current is None:
        current = Availability("available", since=last_heartbeat or now, last_heartbeat=last_heartbeat)
    seen = current.last_heartbeat
    fresh = last_heartbeat is not None and (seen is None or last_heartbeat > seen)
    gap = fresh and seen is not None and last_heartbeat is not None and (
        (last_heartbeat - seen).total_seconds() > policy.miss)
    heard = last_heartbeat if watching_since is None or last_heartbeat is None else max(last_heartbeat, watching_since)
    silent = None if heard is None else (now - heard).total_seconds()
    latest = last_heartbeat if fresh else seen
    state = replace(current, last_heartbeat=latest)

    def to(after: State, since: datetime, reason: str | None, *,
           down_since: datetime | None) -> tuple[Availability, Transition | None]:
        new = Availability(after, since, reason, latest, down_since)
        return new, Transition(current.state, after, reason or "", now) if after != current.state else None

    if current.state == "available":
        if silent is not None and silent > policy.grace:
            why = f"no heartbeat for {span(silent)} (grace {span(policy.grace)})"
            return to("unavailable", now, why, down_since=now)
        return state, None
    if current.state == "unavailable":
        if fresh and silent is not None and silent <= policy.miss and last_heartbeat is not None:
            why = (f"heartbeating again since {_clock(last_heartbeat)}; work moves back after "
                   f"{span(policy.hold_off)} without a miss")
            return to("returning", last_heartbeat, why, down_since=current.down_since or current.since)
        return state, None
    # returning
    if gap or (silent is not None and silent > policy.miss):
        quiet = silent if silent is not None and silent > policy.miss else policy.miss
        why = (f"heartbeats stopped again while returning (no heartbeat for {span(quiet)}); "
               "the hold-off starts over when they resume")
        if gap and not (silent is not None and silent > policy.miss) and last_heartbeat is not None:
            # silent between two looks and heartbeating again now: straight back to returning, from now
            why = (f"heartbeating again since {_clock(last_heartbeat)} after a gap; work moves back after "
                   f"{span(policy.hold_off)} without a miss")
            new = Availability("returning", last_heartbeat, why, latest, current.down_since)
            return new, None
        return to("unavailable", now, why, down_since=current.down_since)
    if (now - current.since).total_seconds() >= policy.hold_off:
        down = current.down_since or current.since
        why = (f"heartbeating without a miss for {span((now - current.since).total_seconds())} "
               f"(hold-off {span(policy.hold_off)}); down for {span((now - down).total_seconds())}")
        return to("available", now, why, down_since=None)
    return state, None
