"""The planned load that `energy.tco` prices: GPUs by SKU, IT kW, sites, energy, utilization, egress.

Taken from a plan of the fleet's always-on work (`Planner(fleet).plan()`, any strategy)
and the fleet's CostModel:

- GPUs by SKU, IT kW: the plan's sites (`gpus_used`, `it_kw`); sites: those with GPUs in use.
- energy per IT kWh: PUE x price of the plan's non-hyperscaler sites, weighted by their
  IT kW (a hyperscaler's price is 0 because its rent includes power); CostModel
  `energy.price_per_kwh` / `energy.pue` replace the sites' figures when given.
- utilization: `--utilization`, else CostModel `utilization.planned`, else the
  GPU-weighted mean of `utilization.inference` over the plan's inference GPUs and
  `utilization.jobs` over its batch, fine-tune and training GPUs.
- egress per used GPU-hour: CostModel `egress_gb_per_month` / (G x 730 h x u), else the
  planned workloads' `data` gb_per_hour summed, per GPU.
"""

from __future__ import annotations

from fleetyard.energy.tco import HOURS_PER_MONTH, Load
from fleetyard.spec.costmodel_spec import CostModelSpec
from fleetyard.spec.fleet import Fleet
from fleetyard.spec.models import DEFAULT_PUE
from fleetyard.spec.plan import Plan


class TcoInputError(ValueError):
    """The plan and the CostModel do not give a load to price (no GPUs, no energy price)."""


def _energy_per_it_kwh(fleet: Fleet, plan: Plan, model: CostModelSpec) -> tuple[float, str]:
    override_price, override_pue = model.energy.price_per_kwh, model.energy.pue
    weights = {s.site: s.it_kw for s in plan.sites
               if s.it_kw > 0 and s.site in fleet.sites and fleet.sites[s.site].spec.type != "hyperscaler"}
    how = "IT-kW-weighted over the plan's own sites"
    if not weights:  # all of the load is rented: take the fleet's own sites by capacity
        weights = {n: s.spec.power.it_capacity_kw for n, s in fleet.sites.items() if s.spec.type != "hyperscaler"}
        how = "capacity-weighted over the fleet's own sites"
    if not weights:
        if override_price is None:
            raise TcoInputError("the fleet has no site of its own to take an energy price from: "
                                "give the CostModel's spec.energy.price_per_kwh")
        pue = override_pue if override_pue is not None else DEFAULT_PUE
        return override_price * pue, "CostModel energy.price_per_kwh x PUE"
    total = sum(weights.values())
    e = 0.0
    for name, kw in weights.items():
        spec = fleet.sites[name].spec
        price = override_price if override_price is not None else spec.energy.price_per_kwh
        pue = override_pue if override_pue is not None else spec.power.pue
        e += kw * price * pue
    return e / total, how


def planned_load(fleet: Fleet, plan: Plan, utilization: float | None = None) -> Load:
    """The load of `plan` on `fleet`, priced with `fleet.cost_model`; `utilization` overrides it."""
    model = fleet.cost_model.spec
    gpus: dict[str, int] = {}
    for s in plan.sites:
        for sku, n in s.gpus_used.items():
            if n > 0:
                gpus[sku] = gpus.get(sku, 0) + n
    total = sum(gpus.values())
    if total == 0:
        raise TcoInputError("the plan places no GPUs: there is no load to price")
    sites = sum(1 for s in plan.sites if sum(s.gpus_used.values()) > 0)
    it_kw = sum(s.it_kw for s in plan.sites)
    energy, energy_how = _energy_per_it_kwh(fleet, plan, model)
    notes = [f"energy ${energy:.4f} per IT kWh (PUE x price, {energy_how})"]

    by_kind = {"inference": 0, "jobs": 0}
    placed: set[str] = set()
    for a in plan.assignments:
        w = fleet.workloads.get(a.workload)
        if w is None or a.replicas <= 0:
            continue
        placed.add(w.name)
        by_kind["inference" if w.spec.type == "inference" else "jobs"] += a.replicas * w.spec.replica.gpus
    if utilization is not None:
        u, how = utilization, "given on the command line"
    elif model.utilization.planned is not None:
        u, how = model.utilization.planned, "the CostModel's utilization.planned"
    else:
        weighted = by_kind["inference"] + by_kind["jobs"]
        if weighted == 0:
            u = model.utilization.inference
        else:
            u = (by_kind["inference"] * model.utilization.inference
                 + by_kind["jobs"] * model.utilization.jobs) / weighted
        how = (f"GPU-weighted: {by_kind['inference']} inference GPUs at {model.utilization.inference:.0%}, "
               f"{by_kind['jobs']} job GPUs at {model.utilization.jobs:.0%}")
    notes.append(f"utilization {u:.1%} ({how})")

    if model.egress_gb_per_month is not None:
        egress = model.egress_gb_per_month / (total * HOURS_PER_MONTH * u)
        notes.append(f"egress {model.egress_gb_per_month:,.0f} GB/month (the CostModel's egress_gb_per_month)")
    else:
        gb_per_hour = sum(d.gb_per_hour for name in placed for d in fleet.workloads[name].spec.data)
        egress = gb_per_hour / total
        notes.append(f"egress {gb_per_hour * HOURS_PER_MONTH * u:,.0f} GB/month (the planned workloads' data, "
                     f"{gb_per_hour:g} GB/h, at {u:.0%} utilization)")
    return Load(gpus=dict(sorted(gpus.items())), it_kw=it_kw, sites=sites, energy_per_it_kwh=energy,
                utilization=u, egress_gb_per_gpu_hour=egress, notes=tuple(notes))
