"""Two schedules that need no solver: the run-now baseline and the greedy warm start.

Run now (what a queue does without looking at the grid): in priority order, then input
order, each job starts at its `earliest` on the cheapest option with capacity left and
runs continuously (an interruptible job too, so it pays no checkpoint overhead). When no
option has room at `earliest` it waits for the first slot where one does, as a queue
would; a job that can then no longer finish by its deadline is left unscheduled.

Greedy: in the same order, each job takes its cheapest candidate pattern (under the
chosen objective) that still fits; when none does, the cheapest pattern that fits
what is left. Its patterns join the MILP's candidates, so the MILP starts from it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fleetyard.energy.jobs import Job, Prices
from fleetyard.energy.patterns import Candidate, best_patterns
from fleetyard.energy.slots import Usage

__all__ = ["NO_ROOM_IN_WINDOW", "greedy", "job_order", "run_now"]

NO_ROOM_IN_WINDOW = "no option has capacity left in its window (the always-on plan and higher-priority jobs use it)"


def job_order(jobs: Sequence[Job]) -> list[int]:
    """Priority first (higher first), then input order."""
    return sorted(range(len(jobs)), key=lambda i: (-jobs[i].priority, jobs[i].order))


def _value(job: Job, obj: np.ndarray, option: int, slots: np.ndarray) -> float:
    return float(obj[option, slots - job.lo].sum())


def run_now(jobs: Sequence[Job], prices: Prices, usage: Usage, objective: str
            ) -> tuple[dict[int, Candidate], dict[int, str]]:
    """The run-now baseline: chosen pattern per job index, and reasons for those left out."""
    chosen: dict[int, Candidate] = {}
    left: dict[int, str] = {}
    for i in job_order(jobs):
        job = jobs[i]
        cost = job.cost(prices)
        ok = usage.ok_slots(job.pools, np.full(len(job.pools), job.gpus), job.kw)[:, job.lo:job.hi]
        L = job.need
        nb = np.concatenate([np.zeros((len(job.pools), 1)), np.cumsum(~ok, axis=1)], axis=1)
        fits = (nb[:, L:] - nb[:, :-L]) == 0  # [option, start]
        starts = np.flatnonzero(fits.any(axis=0))
        if not len(starts):
            left[i] = NO_ROOM_IN_WINDOW
            continue
        s = int(starts[0])
        cs = np.concatenate([np.zeros((len(job.pools), 1)), np.cumsum(cost, axis=1)], axis=1)
        run_cost = np.where(fits[:, s], cs[:, s + L] - cs[:, s], np.inf)
        o = int(np.argmin(run_cost))
        slots = np.arange(job.lo + s, job.lo + s + L, dtype=np.int64)
        usage.take(int(job.pools[o]), job.gpus, float(job.kw[o]), slots)
        chosen[i] = Candidate(i, o, slots, _value(job, job.objective(prices, objective), o, slots))
    return chosen, left


def greedy(jobs: Sequence[Job], prices: Prices, usage: Usage, objective: str,
           candidates: list[list[Candidate]]) -> tuple[dict[int, Candidate], dict[int, str]]:
    """The greedy schedule; appends any pattern it finds outside a job's candidates to them."""
    chosen: dict[int, Candidate] = {}
    left: dict[int, str] = {}
    for i in job_order(jobs):
        job = jobs[i]
        pick = None
        for cand in candidates[i]:
            if usage.fits(int(job.pools[cand.option]), job.gpus, float(job.kw[cand.option]), cand.slots):
                pick = cand
                break
        if pick is None:
            ok = usage.ok_slots(job.pools, np.full(len(job.pools), job.gpus), job.kw)[:, job.lo:job.hi]
            found = best_patterns(i, job, job.objective(prices, objective), 1, mask=ok).candidates
            if not found:
                left[i] = NO_ROOM_IN_WINDOW
                continue
            pick = found[0]
            candidates[i].append(pick)
        usage.take(int(job.pools[pick.option]), job.gpus, float(job.kw[pick.option]), pick.slots)
        chosen[i] = pick
    return chosen, left
