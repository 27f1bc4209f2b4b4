"""A job's best ways to run, ignoring the other jobs: candidates and a proven lower bound.

A *pattern* is one option (pool) and the slots the job runs in. For a job that may not
be interrupted it is `need` consecutive slots; for an interruptible one, any set of
slots in the window whose count covers the duration plus the checkpoint overhead of
each resume: with k runs (k - 1 resumes) it needs

    L_k = ceil(duration + overhead x (k - 1))   slots

A dynamic programme over the window's slots (state: runs started, slots used, running
or not) finds, per option, the cheapest pattern with up to `MAX_RUNS` runs exactly; a
pattern with more runs uses at least L_{MAX_RUNS+1} slots, so the sum of that many of
the option's cheapest slots bounds it from below. The minimum over options is the
job's own optimum (or a proven lower bound on it), and the sum over jobs is a lower
bound on any schedule of the slot model: capacity shared between jobs can only make
it dearer.

`mask` (the slots with capacity left) turns the same search into "the best pattern
that still fits", which the greedy and the baseline use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fleetyard.energy.jobs import Job

__all__ = ["MAX_RUNS", "Candidate", "JobBest", "best_patterns", "runs_of"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
INF = float("inf")

MAX_RUNS = 8
"""Runs (one start and up to seven resumes) the exact search considers per interruptible
job; more are bounded, not searched (see the module docstring)."""


@dataclass(frozen=True)
class Candidate:
    """Job `job` (index) on its option `option`, running in `slots` (absolute, sorted)."""

    job: int
    option: int
    slots: IntArray
    value: float

    @property
    def key(self) -> tuple[int, int, bytes]:
        return self.job, self.option, self.slots.tobytes()


@dataclass(frozen=True)
class JobBest:
    candidates: list[Candidate]  # cheapest first
    bound: float  # proven lower bound on the job's objective over all its patterns


def runs_of(slots: IntArray) -> int:
    """Runs in a sorted slot list: 1 + the number of gaps."""
    if not len(slots):
        return 0
    return 1 + int(np.count_nonzero(np.diff(slots) > 1))


def _slots_for(job: Job, runs: int) -> int:
    return math.ceil(job.duration + job.overhead * (runs - 1) - 1e-9)


def best_patterns(index: int, job: Job, obj: FloatArray, k: int, mask: BoolArray | None = None) -> JobBest:
    """Up to `k` cheapest patterns of `job` under `obj` ([option, window slot]) and the bound.
    Where `mask` is False a slot cannot be used (no capacity left)."""
    if mask is not None:
        obj = np.where(mask, obj, INF)
    if job.interruptible:
        return _interruptible(index, job, obj, k)
    return _continuous(index, job, obj, k)


def _continuous(index: int, job: Job, obj: FloatArray, k: int) -> JobBest:
    L = job.need
    bad = ~np.isfinite(obj)
    finite = np.where(bad, 0.0, obj)
    zeros = np.zeros((obj.shape[0], 1))
    cs = np.concatenate([zeros, np.cumsum(finite, axis=1)], axis=1)
    sums = cs[:, L:] - cs[:, :-L]
    if bad.any():
        nb = np.concatenate([zeros, np.cumsum(bad, axis=1)], axis=1)
        sums = np.where(nb[:, L:] - nb[:, :-L] > 0, INF, sums)
    flat = sums.ravel()
    k = min(k, flat.size)
    top = np.argpartition(flat, k - 1)[:k] if k < flat.size else np.arange(flat.size)
    top = top[np.lexsort((top, flat[top]))]
    out = []
    for f in top.tolist():
        if not math.isfinite(flat[f]):
            break
        o, s = divmod(int(f), sums.shape[1])
        out.append(Candidate(index, o, np.arange(job.lo + s, job.lo + s + L, dtype=np.int64), float(flat[f])))
    return JobBest(out, float(flat.min()) if flat.size else INF)


def _cheapest(obj: FloatArray, n: int) -> FloatArray:
    """Per option, the sum of its n cheapest slots (inf when it has fewer than n usable)."""
    if n > obj.shape[1]:
        return np.full(obj.shape[0], INF)
    part = np.partition(obj, n - 1, axis=1)[:, :n]
    out: FloatArray = part.sum(axis=1)
    return out


def _interruptible(index: int, job: Job, obj: FloatArray, k: int) -> JobBest:
    width = obj.shape[1]
    if job.overhead <= 0:  # no overhead: the n cheapest slots, in any runs
        n = _slots_for(job, 1)
        vals = _cheapest(obj, n)
        order = np.argsort(vals, kind="stable")[:k]
        out = [Candidate(index, int(o), np.sort(np.argsort(obj[o], kind="stable")[:n]).astype(np.int64) + job.lo,
                         float(vals[o])) for o in order.tolist() if math.isfinite(vals[o])]
        return JobBest(out, float(vals.min()))
    runs = 1
    while runs < MAX_RUNS and _slots_for(job, runs + 1) + runs <= width:
        runs += 1
    tail = _cheapest(obj, _slots_for(job, runs + 1)) if _slots_for(job, runs + 1) + runs <= width else \
        np.full(obj.shape[0], INF)
    lower = np.minimum(_cheapest(obj, _slots_for(job, 1)), tail)  # cheap per-option bound
    order = np.argsort(lower, kind="stable")
    done: dict[int, tuple[float, IntArray]] = {}
    best = INF
    batch = max(k, 4)
    pos = 0
    while pos < len(order):
        todo = [int(o) for o in order[pos:pos + batch] if lower[o] < best or len(done) < k]
        if not todo:
            break
        for o, (v, slots) in zip(todo, _dp(obj[todo], job, runs), strict=True):
            done[o] = (v, slots)
            best = min(best, v)
        pos += batch
    bound = min([min(v, float(tail[o])) for o, (v, _) in done.items()]
                + [float(lower[o]) for o in range(obj.shape[0]) if o not in done])
    ranked = sorted(done.items(), key=lambda kv: (kv[1][0], kv[0]))[:k]
    out = [Candidate(index, o, slots + job.lo, v) for o, (v, slots) in ranked if math.isfinite(v)]
    return JobBest(out, bound)


def _dp(obj: FloatArray, job: Job, runs: int) -> list[tuple[float, IntArray]]:
    """Exact cheapest pattern with 1..runs runs for each option (row of `obj`)."""
    n_opt, width = obj.shape
    need = [_slots_for(job, r) for r in range(1, runs + 1)]
    U = max(need)
    on = np.full((n_opt, runs + 1, U + 1), INF)
    off = np.full((n_opt, runs + 1, U + 1), INF)
    off[:, 0, 0] = 0.0
    came_on = np.zeros((width, n_opt, runs, U), dtype=bool)  # running at t, was running at t-1
    came_off_on = np.zeros((width, n_opt, runs + 1, U + 1), dtype=bool)  # paused at t, was running
    for t in range(width):
        a, b = on[:, 1:, :-1], off[:, :-1, :-1]
        from_on = a <= b
        new_on = np.full_like(on, INF)
        new_on[:, 1:, 1:] = np.where(from_on, a, b) + obj[:, t, None, None]
        was_on = on <= off
        off = np.where(was_on, on, off)
        on = new_on
        came_on[t] = from_on
        came_off_on[t] = was_on
    out: list[tuple[float, IntArray]] = []
    for o in range(n_opt):
        best, state = INF, (0, 0, False)
        for r in range(1, runs + 1):
            u = need[r - 1]
            for running, arr in ((True, on), (False, off)):
                v = float(arr[o, r, u])
                if v < best - 1e-12:
                    best, state = v, (r, u, running)
        if not math.isfinite(best):
            out.append((INF, np.zeros(0, dtype=np.int64)))
            continue
        r, u, running = state
        slots = []
        for t in range(width - 1, -1, -1):
            if running:
                slots.append(t)
                running = bool(came_on[t, o, r - 1, u - 1])
                if not running:
                    r -= 1
                u -= 1
            else:
                running = bool(came_off_on[t, o, r, u])
        out.append((best, np.array(slots[::-1], dtype=np.int64)))
    return out
