"""Which sites form each wave of a rollout: deterministic, and explained.

The candidates are the sites the plan gives the workload. Count (`sites: n`) and
percentage (`percent: p`) waves take the sites with the least traffic first - the
requests/s the plan routes to the workload there, so a bad version meets the fewest
users - ties broken by site name. A `percent` wave is cumulative: after it, up to
ceil(p% of all the candidates) have switched. A `selector` wave takes every remaining
site whose labels match all of the selector. Sites no wave named form one last wave,
so a rollout always ends with every site on the new version. Never random.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from fleetyard.spec.rollout import Wave

__all__ = ["Candidate", "WaveChoice", "choose_waves"]


@dataclass(frozen=True)
class Candidate:
    name: str
    rps: float = 0.0  # routed to this workload at this site
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WaveChoice:
    sites: list[str]
    why: str


def _traffic(c: Candidate) -> str:
    return f"{c.name} {c.rps:g} rps"


def choose_waves(waves: Sequence[Wave], candidates: Sequence[Candidate]) -> list[WaveChoice]:
    """The sites of each wave (in spec order, plus a last one for the sites none named)."""
    order = sorted(candidates, key=lambda c: (c.rps, c.name))
    left = list(order)
    total = len(order)
    out: list[WaveChoice] = []
    for wave in waves:
        if wave.selector is not None:
            sel = ", ".join(f"{k}={v}" for k, v in sorted(wave.selector.items()))
            picked = [c for c in left if all(c.labels.get(k) == v for k, v in wave.selector.items())]
            why = (f"the sites labelled {sel}" if picked else f"no site left is labelled {sel}")
        elif wave.sites is not None:
            picked = left[:wave.sites]
            why = f"{wave.sites} site{'s' if wave.sites != 1 else ''} with the least traffic first"
        else:
            assert wave.percent is not None
            target = min(total, math.ceil(wave.percent / 100 * total - 1e-9))
            done = total - len(left)
            picked = left[:max(0, target - done)]
            why = (f"up to {wave.percent:g}% of {total} sites ({target}), least traffic first"
                   if picked else f"{wave.percent:g}% of {total} sites ({target}) had switched already")
        if picked and wave.selector is None:
            why += ": " + ", ".join(_traffic(c) for c in picked)
        names = {c.name for c in picked}
        left = [c for c in left if c.name not in names]
        out.append(WaveChoice([c.name for c in picked], why))
    if left:
        out.append(WaveChoice([c.name for c in left], "the sites no wave named, last"))
    if not out:
        out.append(WaveChoice([], "the workload runs nowhere yet"))
    return out
