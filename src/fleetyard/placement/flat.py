"""All candidates of all workloads in flat arrays, for vectorized pricing.

Entry i is one (workload, pool) pair; `starts[w]:starts[w+1]` are workload w's
entries. Inference demand regions are segments too: `reg_idx[reg_starts[k]:
reg_starts[k+1]]` are the entries (pools) within the SLO of region segment k, which
belongs to workload `reg_w[k]`. With numpy's `reduceat` over these segments a price
change is evaluated for 20,000 workloads in milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fleetyard.placement.candidates import Candidates
from fleetyard.placement.context import FloatArray, IntArray

GANG, JOB, INFERENCE = 0, 1, 2


@dataclass(frozen=True)
class Flat:
    # per entry
    seg: IntArray  # workload index
    pool: IntArray
    site: IntArray
    cost: FloatArray  # $/h per replica
    gpus: FloatArray  # GPUs per replica
    power: FloatArray  # IT kW per replica
    # per workload
    starts: IntArray  # len W + 1
    kind: IntArray  # GANG | JOB | INFERENCE
    need: FloatArray  # replicas a job runs; replicas.min for inference
    value: FloatArray  # shortfall penalty per replica
    demand_total: FloatArray
    rpr: FloatArray
    max_replicas: FloatArray  # inference: replicas.max (inf when unbounded)
    disjoint: np.ndarray  # inference: the regions' SLO site sets do not overlap
    # per inference region segment
    reg_w: IntArray
    reg_demand: FloatArray
    reg_starts: IntArray  # len K + 1, into reg_idx
    reg_idx: IntArray  # entries within the SLO of the segment's region
    reg_seg: IntArray  # per reg_idx entry: its region segment

    @property
    def n_workloads(self) -> int:
        return len(self.kind)


def _cat_int(parts: Sequence[np.ndarray]) -> IntArray:
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


def _cat_float(parts: Sequence[np.ndarray]) -> FloatArray:
    return np.concatenate(parts).astype(np.float64) if parts else np.zeros(0, np.float64)


def build_flat(cands: Sequence[Candidates], unit: float) -> Flat:
    sizes = np.array([len(c.pools) for c in cands], dtype=np.int64)
    starts = np.zeros(len(cands) + 1, dtype=np.int64)
    np.cumsum(sizes, out=starts[1:])
    seg = np.repeat(np.arange(len(cands), dtype=np.int64), sizes)
    kind = np.array([GANG if c.single_pool else (JOB if c.w.spec.is_job else INFERENCE) for c in cands],
                    dtype=np.int64)
    reg_w: list[int] = []
    reg_demand: list[float] = []
    reg_parts: list[np.ndarray] = []
    disjoint = np.ones(len(cands), dtype=bool)
    for w, c in enumerate(cands):
        if kind[w] != INFERENCE or not c.regions or c.rps_per_replica <= 0:
            continue
        seen: set[int] = set()
        for k, sites_g in enumerate(c.region_sites):
            members = set(int(s) for s in sites_g)
            if seen & members:
                disjoint[w] = False
            seen |= members
            reg_w.append(w)
            reg_demand.append(float(c.demand[k]))
            reg_parts.append(starts[w] + np.flatnonzero(np.isin(c.sites, sites_g)))
    reg_sizes = np.array([len(p) for p in reg_parts], dtype=np.int64)
    reg_starts = np.zeros(len(reg_parts) + 1, dtype=np.int64)
    np.cumsum(reg_sizes, out=reg_starts[1:])
    return Flat(
        seg=seg,
        pool=_cat_int([c.pools for c in cands]),
        site=_cat_int([c.sites for c in cands]),
        cost=_cat_float([c.cost for c in cands]),
        gpus=np.repeat(np.array([float(c.gpus) for c in cands]), sizes),
        power=_cat_float([c.power for c in cands]),
        starts=starts,
        kind=kind,
        need=np.array([float(c.unit if c.single_pool else c.need) for c in cands]),
        value=np.array([unit * (1 + c.w.spec.priority) * c.gpus for c in cands]),
        demand_total=np.array([float(c.demand.sum()) if len(c.demand) else 0.0 for c in cands]),
        rpr=np.array([c.rps_per_replica for c in cands]),
        max_replicas=np.array([float(c.w.spec.replicas.max) if c.w.spec.replicas.max is not None else np.inf
                               for c in cands]),
        disjoint=disjoint,
        reg_w=np.array(reg_w, dtype=np.int64),
        reg_demand=np.array(reg_demand, dtype=np.float64),
        reg_starts=reg_starts,
        reg_idx=_cat_int(reg_parts),
        reg_seg=np.repeat(np.arange(len(reg_parts), dtype=np.int64), reg_sizes),
    )


def ceil_replicas(demand: FloatArray, rpr: FloatArray) -> FloatArray:
    """ceil(demand / rpr) elementwise, robust to float noise (see candidates.ceil_div)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = np.where(rpr > 0, np.ceil(demand / np.where(rpr > 0, rpr, 1.0) - 1e-9), 0.0)
    return np.maximum(out, 0.0)
