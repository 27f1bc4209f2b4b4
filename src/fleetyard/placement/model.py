"""The placement MILP: every workload at once, against GPUs, power and cooling.

Variables (per workload w, candidate pool p at site s, demand region g):

    x[w,p]   integer   replicas of w on p                       cost: $/h per replica
    y[w,p]   binary    one-site gang w runs all N replicas on p cost: N x $/h per replica
    r[w,g,s] >= 0      requests/s of region g served at site s (only s within the SLO)
    u[w,g]   >= 0      requests/s of region g left unserved
    n[w,g]   integer   replicas' worth of region g left unserved   penalty V(w) x GPUs
    m[w]     >= 0      replicas short of replicas.min (jobs: short of N)  penalty V(w) x GPUs
    v[w,s]   binary    w uses site s (only with spread)
    e[w]     >= 0      sites short of spread.min_sites         penalty V(w) x GPUs

Rows: GPUs per pool; IT power per site against min(IT capacity, cooling); demand
per (w,g): sum_s r + u = D; coupling per (w,s): rps_per_replica x replicas at s >=
sum_g r; per region the integer cut  sum_{p within SLO of g} x + n >= ceil(D/rps)
with u <= rps x n (it makes the LP relaxation see whole replicas, so the proven
bound is tight); min/max replicas; spread rows; one SKU for multi-site gangs.

Shortfall is priced far above any cost: V(w) = M x (1 + priority), M = 2 x the most
expensive GPU-hour among all candidates + 1, so serving a GPU of demand always beats
saving money, and a GPU of priority-100 work is worth 101 GPUs of priority-0 work.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from fleetyard.placement.burst import add_burst_caps
from fleetyard.placement.candidates import Candidates, ceil_div
from fleetyard.placement.context import Compiled, FloatArray, Ledger
from fleetyard.placement.milp import INF, LinearModel
from fleetyard.placement.movecost import MoveCosts
from fleetyard.placement.result import Placement

STICKY = 0.75  # disruption penalty per GPU moved or stopped, in shortfall penalty units
ROUTE_EPS = 1e-8  # $/h per rps per ms of RTT: prefer nearer sites among equal costs
UNSERVED_EPS = 0.01  # share of the penalty charged per rps (n carries the rest)


@dataclass
class _WorkloadCols:
    cand: Candidates
    pool_cols: list[tuple[int, int]] = field(default_factory=list)  # (col, pool); y cols if single_pool
    route_cols: list[tuple[int, int, int]] = field(default_factory=list)  # (col, region, site)
    unserved_cols: list[tuple[int, int]] = field(default_factory=list)  # (col, region)
    short_cols: list[int] = field(default_factory=list)  # n[w,g] columns
    missing_col: int = -1
    spread_col: int = -1
    n1_cols: list[int] = field(default_factory=list)  # N-1 slacks (hot standby, scenarios)
    cols: tuple[int, int] = (0, 0)  # [first, last) column of this workload (all its own columns)


@dataclass
class BuiltModel:
    lp: LinearModel
    workloads: list[_WorkloadCols]
    penalty_cols: list[int]  # all shortfall columns (u, n, m, e, and N-1 slacks)
    cost_mask: np.ndarray  # True for columns whose cost is real money
    ledger: Ledger
    pool_terms: dict[int, tuple[list[int], list[float]]]
    site_terms: dict[int, tuple[list[int], list[float]]]
    unit: float  # penalty per GPU for priority 0
    notes: list[str] = field(default_factory=list)
    pool_rows: dict[int, int] = field(default_factory=dict)  # pool -> its GPU capacity row
    site_rows: dict[int, int] = field(default_factory=dict)  # site -> its power/cooling row
    disruption_cols: list[int] = field(default_factory=list)  # sticky columns (a subset of penalty_cols)
    compiled: Compiled | None = None
    move_cost: np.ndarray | None = None  # per column, $/h-equivalent of starting replicas (re-plans)

    def service_weights(self) -> np.ndarray:
        """Per column, what a unit of it costs in service: priority-weighted GPUs short
        (`penalty / unit`); zero for money, routing tie-breaks and disruption."""
        weights = np.frombuffer(self.lp.cost, dtype=np.float64).copy()
        keep = np.zeros(len(weights), dtype=bool)
        keep[self.penalty_cols] = True
        keep[self.disruption_cols] = False
        weights[~keep] = 0.0
        return weights / self.unit


def penalty_unit(cands: Sequence[Candidates]) -> float:
    worst = 0.0
    for cand in cands:
        if len(cand.cost):
            worst = max(worst, float(cand.cost.max()) / max(1, cand.gpus))
    return 2.0 * worst + 1.0


def build_model(
    compiled: Compiled,
    ledger: Ledger,
    cands: Sequence[Candidates],
    floors: Mapping[str, Mapping[int, int]] | None = None,
    hot_standby: bool = False,
    sticky: Mapping[str, Mapping[int, int]] | None = None,
    unit: float | None = None,
    moves: MoveCosts | None = None,
) -> BuiltModel:
    """Build the MILP for `cands` against free capacity `ledger`.

    `floors` pin replicas that must stay (failover: the survivors of a failed site).
    `sticky` replicas may move or stop, at a disruption penalty of STICKY x the
    shortfall penalty unit per GPU: more than any cost saving, less than serving a GPU
    of work of any priority - so work moves only to make room for displaced work,
    and stops (is preempted) only for strictly higher-priority work.
    With `hot_standby`, each region's demand must stay served by the replicas left
    after losing any one site within its SLO (N-1 for inference; soft, with a slack
    priced at half the shortfall penalty).
    `moves` (re-plans) prices every replica started where the running plan has none
    (see `movecost.MoveCosts`); the price enters only the cost stage (`built.move_cost`)."""
    lp = LinearModel()
    move_cols: list[tuple[int, float]] = []
    floors = floors or {}
    sticky = sticky or {}
    unit = unit if unit is not None else penalty_unit(cands)
    pool_terms: dict[int, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
    site_terms: dict[int, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
    out: list[_WorkloadCols] = []
    penalty_cols: list[int] = []
    disruption: list[int] = []
    cost_cols: list[int] = []

    def use(col: int, pool: int, gpus: float, kw: float) -> None:
        cols, vals = pool_terms[pool]
        cols.append(col)
        vals.append(gpus)
        site = int(compiled.pool_site[pool])
        cols, vals = site_terms[site]
        cols.append(col)
        vals.append(kw)

    for cand in cands:
        if out:
            out[-1].cols = (out[-1].cols[0], lp.n_vars)
        wc = _WorkloadCols(cand, cols=(lp.n_vars, lp.n_vars))
        out.append(wc)
        spec = cand.w.spec
        value = unit * (1 + spec.priority) * cand.gpus  # penalty per replica short
        floor = floors.get(cand.name, {})
        if cand.single_pool:
            n = cand.unit
            row_cols: list[int] = []
            for j, p in enumerate(cand.pools):
                p = int(p)
                if ledger.gpus[p] < n * cand.gpus and floor.get(p, 0) == 0:
                    continue
                col = lp.add_var(1.0 if floor.get(p, 0) else 0.0, 1.0, n * float(cand.cost[j]), True)
                wc.pool_cols.append((col, p))
                cost_cols.append(col)
                use(col, p, n * cand.gpus, n * float(cand.power[j]))
                row_cols.append(col)
                if moves is not None and moves.tracks(cand.name) and moves.running(cand.name, p) < n:
                    move_cols.append((col, n * moves.price(cand, j)))
            wc.missing_col = lp.add_var(0.0, 1.0, value * n, False)
            penalty_cols.append(wc.missing_col)
            lp.add_row([*row_cols, wc.missing_col], [1.0] * (len(row_cols) + 1), 1.0, 1.0)
            _stick(lp, wc, sticky.get(cand.name, {}), STICKY * unit * cand.gpus * n, penalty_cols, disruption,
                   binary=True)
            continue

        cap = cand.max_replicas
        by_site: dict[int, list[int]] = defaultdict(list)
        for j, p in enumerate(cand.pools):
            p = int(p)
            lo = float(floor.get(p, 0))
            hi = float(ledger.gpus[p] // cand.gpus)
            if cap is not None:
                hi = min(hi, float(cap))
            hi = max(hi, lo)
            if hi <= 0:
                continue
            col = lp.add_var(lo, hi, float(cand.cost[j]), True)
            wc.pool_cols.append((col, p))
            cost_cols.append(col)
            use(col, p, cand.gpus, float(cand.power[j]))
            by_site[int(compiled.pool_site[p])].append(col)
            if moves is not None and moves.tracks(cand.name):
                now = moves.running(cand.name, p)
                if now <= 0:
                    move_cols.append((col, moves.price(cand, j)))
                elif hi > now:  # started beyond what runs here: d >= x - now
                    d = lp.add_var(0.0, hi - now, 0.0, False)
                    lp.add_row([d, col], [1.0, -1.0], -float(now), INF)
                    move_cols.append((d, moves.price(cand, j)))
        xs = [col for col, _ in wc.pool_cols]
        _stick(lp, wc, sticky.get(cand.name, {}), STICKY * unit * cand.gpus, penalty_cols, disruption, binary=False)

        # replicas.min (jobs: exactly N) with a shortfall column
        need = cand.need
        if need > 0:
            wc.missing_col = lp.add_var(0.0, float(need), value, False)
            penalty_cols.append(wc.missing_col)
            hi_total = float(need) if spec.is_job else INF
            lp.add_row([*xs, wc.missing_col], [1.0] * (len(xs) + 1), float(need), hi_total)
        if not spec.is_job and spec.replicas.max is not None and xs:
            lp.add_row(xs, [1.0] * len(xs), -INF, float(spec.replicas.max))

        # demand routing (inference)
        if len(cand.regions) and cand.rps_per_replica > 0:
            rpr = cand.rps_per_replica
            routed_at: dict[int, list[int]] = defaultdict(list)
            for k, g in enumerate(cand.regions):
                demand = float(cand.demand[k])
                if demand <= 0:
                    continue
                sites_g = [int(s) for s in cand.region_sites[k] if int(s) in by_site]
                row_cols = []
                for s in sites_g:
                    col = lp.add_var(0.0, demand, ROUTE_EPS * float(compiled.rtt[s, g]), False)
                    wc.route_cols.append((col, g, s))
                    routed_at[s].append(col)
                    row_cols.append(col)
                u = lp.add_var(0.0, demand, UNSERVED_EPS * value / rpr, False)
                short = lp.add_var(0.0, float(ceil_div(demand, rpr)), value, True)
                wc.unserved_cols.append((u, g))
                wc.short_cols.append(short)
                penalty_cols.extend([u, short])
                lp.add_row([*row_cols, u], [1.0] * (len(row_cols) + 1), demand, demand)
                lp.add_row([u, short], [1.0, -rpr], -INF, 0.0)
                need_g = float(ceil_div(demand, rpr))
                cut = [c for s in sites_g for c in by_site[s]]
                lp.add_row([*cut, short], [1.0] * (len(cut) + 1), need_g, INF)
                if hot_standby:
                    for lost in sites_g:  # one slack per scenario: each deficit is paid for
                        slack = lp.add_var(0.0, need_g, 0.5 * value, False)
                        penalty_cols.append(slack)
                        wc.n1_cols.append(slack)
                        rest = [c for s in sites_g if s != lost for c in by_site[s]]
                        lp.add_row([*rest, short, slack], [1.0] * (len(rest) + 2), need_g, INF)
            for s, rcols in routed_at.items():
                xcols = by_site[s]
                lp.add_row([*xcols, *rcols], [rpr] * len(xcols) + [-1.0] * len(rcols), 0.0, INF)

        # spread and one-SKU gangs
        max_sites = spec.max_sites
        if (spec.min_sites > 1 or max_sites is not None) and by_site:
            vcols = []
            for cols in by_site.values():
                v = lp.add_var(0.0, 1.0, 0.0, True)
                vcols.append(v)
                for col in cols:  # x <= ub * v
                    lp.add_row([col, v], [1.0, -max(lp.ub[col], 1.0)], -INF, 0.0)
                if spec.min_sites > 1:  # v <= sum x at s
                    lp.add_row([v, *cols], [1.0] + [-1.0] * len(cols), -INF, 0.0)
            if max_sites is not None:
                lp.add_row(vcols, [1.0] * len(vcols), -INF, float(max_sites))
            if spec.min_sites > 1:
                wc.spread_col = lp.add_var(0.0, float(spec.min_sites), value, False)
                penalty_cols.append(wc.spread_col)
                # spread binds only once a replica runs (z = 1): a workload that is not
                # placed at all is short of replicas, not of sites
                min_sites = float(spec.min_sites)
                z = lp.add_var(0.0, 1.0, 0.0, True)
                for col in xs:
                    lp.add_row([col, z], [1.0, -max(lp.ub[col], 1.0)], -INF, 0.0)
                lp.add_row([*vcols, wc.spread_col, z], [1.0] * (len(vcols) + 1) + [-min_sites], 0.0, INF)
        if spec.is_gang and not cand.single_pool and wc.pool_cols:
            by_sku: dict[str, list[int]] = defaultdict(list)
            for col, p in wc.pool_cols:
                by_sku[compiled.pool_sku[p]].append(col)
            if len(by_sku) > 1:
                qcols = []
                for cols in by_sku.values():
                    q = lp.add_var(0.0, 1.0, 0.0, True)
                    qcols.append(q)
                    for col in cols:
                        lp.add_row([col, q], [1.0, -max(lp.ub[col], 1.0)], -INF, 0.0)
                lp.add_row(qcols, [1.0] * len(qcols), -INF, 1.0)

    if out:  # close the last workload's column range
        out[-1].cols = (out[-1].cols[0], lp.n_vars)
    pool_rows: dict[int, int] = {}
    site_rows: dict[int, int] = {}
    for p, (cols, vals) in pool_terms.items():
        pool_rows[p] = lp.add_row(cols, vals, -INF, float(ledger.gpus[p]))
    for s, (cols, vals) in site_terms.items():
        site_rows[s] = lp.add_row(cols, vals, -INF, float(min(ledger.it_kw[s], ledger.cooling_kw[s])))
    mask = np.zeros(lp.n_vars, dtype=bool)
    mask[cost_cols] = True
    move_cost = (np.bincount(np.array([c for c, _ in move_cols], dtype=np.int64), [v for _, v in move_cols],
                             lp.n_vars).astype(np.float64) if moves is not None else None)
    built = BuiltModel(lp, out, penalty_cols, mask, ledger, dict(pool_terms), dict(site_terms), unit,
                       pool_rows=pool_rows, site_rows=site_rows, disruption_cols=disruption,
                       compiled=compiled, move_cost=move_cost)
    add_burst_caps(built, compiled)  # burst spend caps (placement/burst.py): rows only
    return built


def add_failure_scenario(built: BuiltModel, compiled: Compiled, lost: int) -> int:
    """Cold standby for the loss of site `lost`: what it hosts must be able to restart elsewhere.

    Adds recourse columns z (replicas restarted on other pools in this scenario) and
    a copy of every touched capacity row that counts base usage plus z, so the plan
    keeps that much capacity free (shared by all scenarios, which is what makes cold
    standby cheaper than running spares). Inference replicas may restart only at
    sites within the SLO of a region the lost site could serve. Soft: a slack priced
    at half the shortfall penalty. Returns the number of workloads covered.
    """
    lp = built.lp
    extra_pool: dict[int, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
    extra_site: dict[int, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
    covered = 0
    for wc in built.workloads:
        cand = wc.cand
        here = [(col, p) for col, p in wc.pool_cols if int(compiled.pool_site[p]) == lost]
        if not here:
            continue
        covered += 1
        value = built.unit * (1 + cand.w.spec.priority) * cand.gpus
        size = cand.unit if cand.single_pool else 1
        reach: set[int] | None = None
        if len(cand.regions):
            reach = set()
            for sites_g in cand.region_sites:
                if lost in set(int(x) for x in sites_g):
                    reach.update(int(x) for x in sites_g)
        zs: list[int] = []
        for j, p in enumerate(cand.pools):
            p = int(p)
            site = int(compiled.pool_site[p])
            if site == lost or (reach is not None and site not in reach):
                continue
            hi = 1.0 if cand.single_pool else float(built.lp.ub[here[0][0]]) * len(here)
            z = lp.add_var(0.0, hi, 0.0, True)
            zs.append(z)
            cols, vals = extra_pool[p]
            cols.append(z)
            vals.append(float(size * cand.gpus))
            cols, vals = extra_site[site]
            cols.append(z)
            vals.append(size * float(cand.power[j]))
        slack_hi = 1.0 if cand.single_pool else sum(float(lp.ub[col]) for col, _ in here)
        slack = lp.add_var(0.0, slack_hi, 0.5 * value * size, False)
        built.penalty_cols.append(slack)
        wc.n1_cols.append(slack)
        lp.add_row([*zs, slack, *(col for col, _ in here)],
                   [1.0] * (len(zs) + 1) + [-1.0] * len(here), 0.0, INF)
    for p, (cols, vals) in extra_pool.items():
        base_cols, base_vals = built.pool_terms.get(p, ([], []))
        lp.add_row([*base_cols, *cols], [*base_vals, *vals], -INF, float(built.ledger.gpus[p]))
    for s, (cols, vals) in extra_site.items():
        base_cols, base_vals = built.site_terms.get(s, ([], []))
        cap = float(min(built.ledger.it_kw[s], built.ledger.cooling_kw[s]))
        lp.add_row([*base_cols, *cols], [*base_vals, *vals], -INF, cap)
    mask = np.zeros(lp.n_vars, dtype=bool)
    mask[: len(built.cost_mask)] = built.cost_mask
    built.cost_mask = mask
    return covered


def _stick(lp: LinearModel, wc: _WorkloadCols, current: Mapping[int, int], penalty: float,
           penalty_cols: list[int], disruption: list[int], *, binary: bool) -> None:
    """Disruption columns d >= current - x for replicas that may move (see `build_model`)."""
    for col, p in wc.pool_cols:
        now = current.get(p, 0)
        if now <= 0:
            continue
        keep = 1.0 if binary else float(now)
        d = lp.add_var(0.0, keep, penalty, False)
        penalty_cols.append(d)
        disruption.append(d)
        lp.add_row([d, col], [1.0, 1.0], keep, INF)


def model_cost(built: BuiltModel, x: FloatArray) -> float:
    cost = np.frombuffer(built.lp.cost, dtype=np.float64)
    return float(cost[built.cost_mask] @ x[built.cost_mask])


def extract(built: BuiltModel, x: FloatArray, placement: Placement) -> Placement:
    """Read a solution vector into `placement` (replicas, routes, shortfalls)."""
    for wc in built.workloads:
        cand, name = wc.cand, wc.cand.name
        if cand.single_pool:
            for col, p in wc.pool_cols:
                if x[col] > 0.5:
                    placement.add_replicas(name, p, cand.unit)
        else:
            for col, p in wc.pool_cols:
                placement.add_replicas(name, p, int(np.rint(x[col])))
        for col, g, s in wc.route_cols:
            if x[col] > 1e-6:
                placement.add_route(name, g, s, float(x[col]))
        for col, g in wc.unserved_cols:
            if x[col] > 1e-6:
                placement.unserved.setdefault(name, {})[g] = float(x[col])
        placed = placement.total_replicas(name)
        need = cand.need
        if need > placed:
            placement.missing[name] = need - placed
        if wc.spread_col >= 0 and x[wc.spread_col] > 0.5:
            placement.spread_short[name] = int(np.rint(x[wc.spread_col]))
    return placement
