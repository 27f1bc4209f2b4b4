"""Total cost of ownership (issue 11): what a year and a delivered GPU-hour cost under each option.

The same planned load - G GPUs (G_s of each SKU s), K kW of IT, S sites - is priced
five ways: own small data centres, colocation, edge nodes, and a hyperscaler on demand
or committed. The inputs are a `CostModelSpec` (spec/costmodel_spec.py, with sourced
defaults); the load comes from the plan (`energy.tco_load.planned_load`). Formulas
(H = 8,760 hours a year, u = utilization, the share of hours the GPUs do useful work):

    annuity factor  a(r, n) = r / (1 - (1 + r)^-n)      (r = 0: 1 / n)
    annualised capex        = capex x a(cost_of_capital, years)
    hardware capex          = sum_s G_s x capex_per_gpu(s)
    facility capex (owned)  = K x facility_capex_per_kw, annualised over facility_years
    enclosures (edge)       = K x enclosure_capex_per_kw, annualised over years
    energy / year           = K x PUE x H x price x (idle + (1 - idle) x u)
                              (e = PUE x price per IT kWh, the sites' IT-kW-weighted mean)
    maintenance / year      = hardware capex x hardware share + facility capex x facility share
    staff / year            = sites x FTE per site x cost per FTE
    network / year          = sites x network per site-month x 12
    colo rent / year        = K x price per kW-month x 12 (power included: no energy line)
    edge rent / year        = K x rent per kW-month x 12;  edge sites = max(S, ceil(K / kW per site))
    egress / year           = GB per used GPU-hour x G x H x u x egress price per GB
    hyperscaler / year      = sum_s G_s x H x u x price(s) + egress;  committed price =
                              on-demand x (1 - discount) unless given per SKU

Every option is a fixed cost F per year plus a variable cost v per used GPU-hour, so

    cost / year (u)              = F + v x G x H x u
    cost per delivered GPU-hour  = cost / year / (G x H x u)
    break-even vs hyperscaler p  : u* = F / (H x G x (p - v))

where p is the hyperscaler's cost per used GPU-hour (rent + egress; its F is 0: the
commitment is sized to the used hours). Below u* the hyperscaler is cheaper, above it
the option is. p <= v: the option never pays; u* > 1 (100 %): it does not pay even with
the GPUs busy every hour of the year.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from fleetyard.spec.costmodel_spec import CostModelSpec

HOURS_PER_YEAR = 8_760.0
MONTHS_PER_YEAR = 12
HOURS_PER_MONTH = HOURS_PER_YEAR / MONTHS_PER_YEAR  # 730

OptionName = Literal["owned", "colo", "edge", "on-demand", "committed"]
OPTIONS: tuple[OptionName, ...] = ("owned", "colo", "edge", "on-demand", "committed")
HYPERSCALER: tuple[OptionName, ...] = ("on-demand", "committed")
LABELS: Mapping[OptionName, str] = {
    "owned": "Owned small DCs", "colo": "Colocation", "edge": "Edge nodes",
    "on-demand": "Hyperscaler on-demand", "committed": "Hyperscaler committed",
}
Line = Literal["capex", "energy", "staff", "maintenance", "network", "egress", "rent"]
LINES: tuple[Line, ...] = ("capex", "energy", "staff", "maintenance", "network", "egress", "rent")


def annuity_factor(rate: float, years: int) -> float:
    """Share of a capex paid each year to repay it with interest `rate` over `years`."""
    if years < 1:
        raise ValueError(f"years must be >= 1, got {years}")
    if rate == 0:
        return 1.0 / years
    return rate / (1.0 - (1.0 + rate) ** -years)


def annualised(capex: float, rate: float, years: int) -> float:
    return capex * annuity_factor(rate, years)


def energy_per_year(it_kw: float, pue: float, price_per_kwh: float, utilization: float,
                    idle_power_share: float = 1.0) -> float:
    """K x PUE x H x price x (idle + (1 - idle) x u); idle 1.0 is full power all year."""
    load = idle_power_share + (1.0 - idle_power_share) * utilization
    return it_kw * pue * HOURS_PER_YEAR * price_per_kwh * load


@dataclass(frozen=True)
class Load:
    """The planned load that every option is asked to carry."""

    gpus: Mapping[str, int]  # GPUs used, by SKU
    it_kw: float  # IT power of the planned replicas
    sites: int  # sites the plan uses
    energy_per_it_kwh: float  # $ per IT kWh: PUE x price, the sites' IT-kW-weighted mean
    utilization: float  # planned share of hours the GPUs do useful work
    egress_gb_per_gpu_hour: float = 0.0  # GB sent out per used GPU-hour
    notes: tuple[str, ...] = ()  # how each figure was derived

    @property
    def total_gpus(self) -> int:
        return sum(self.gpus.values())

    @property
    def gpu_hours_per_year(self) -> float:
        """G x H: every GPU, every hour (the most that could be delivered)."""
        return self.total_gpus * HOURS_PER_YEAR

    @property
    def egress_gb_per_month(self) -> float:
        return self.egress_gb_per_gpu_hour * self.total_gpus * HOURS_PER_MONTH * self.utilization


@dataclass(frozen=True)
class Cost:
    """One line of an option's cost: fixed $ per year plus $ per used GPU-hour."""

    fixed: float = 0.0
    per_gpu_hour: float = 0.0

    def per_year(self, gpu_hours_per_year: float, utilization: float) -> float:
        return self.fixed + self.per_gpu_hour * gpu_hours_per_year * utilization


@dataclass(frozen=True)
class Option:
    """One way to carry the load: its lines of cost, its sites and its up-front capex."""

    name: OptionName
    sites: int
    capex: float  # up front: hardware + facility or enclosures
    lines: Mapping[Line, Cost] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return LABELS[self.name]

    @property
    def fixed(self) -> float:
        """F: $ per year whatever the utilization."""
        return sum(c.fixed for c in self.lines.values())

    @property
    def variable(self) -> float:
        """v: $ per used GPU-hour."""
        return sum(c.per_gpu_hour for c in self.lines.values())

    def line(self, name: Line, load: Load, utilization: float | None = None) -> float:
        u = load.utilization if utilization is None else utilization
        cost = self.lines.get(name)
        return cost.per_year(load.gpu_hours_per_year, u) if cost else 0.0

    def per_year(self, load: Load, utilization: float | None = None) -> float:
        u = load.utilization if utilization is None else utilization
        return self.fixed + self.variable * load.gpu_hours_per_year * u

    def per_delivered_gpu_hour(self, load: Load, utilization: float | None = None) -> float:
        u = load.utilization if utilization is None else utilization
        return self.per_year(load, u) / (load.gpu_hours_per_year * u)


@dataclass(frozen=True)
class BreakEven:
    """The utilization above which an option costs less per delivered GPU-hour than the hyperscaler.

    `utilization` None: never (the option's cost per used GPU-hour is not below the
    hyperscaler's price). A value above 1 is reported too: it never pays within a year."""

    against: OptionName
    utilization: float | None

    @property
    def pays(self) -> bool:
        return self.utilization is not None and self.utilization <= 1.0


def break_even(option: Option, hyperscaler: Option, load: Load) -> BreakEven:
    """u* = F / (H x G x (p - v)), p the hyperscaler's cost per used GPU-hour."""
    p = hyperscaler.variable
    margin = p - option.variable
    fixed = option.fixed - hyperscaler.fixed
    if margin <= 0:
        return BreakEven(hyperscaler.name, None)
    return BreakEven(hyperscaler.name, max(0.0, fixed / (load.gpu_hours_per_year * margin)))


def _hardware_capex(load: Load, model: CostModelSpec) -> float:
    return sum(n * model.capex_per_gpu(sku) for sku, n in load.gpus.items())


def _energy(load: Load, model: CostModelSpec) -> Cost:
    """Idle draw is fixed; the rest is drawn while the GPUs work, so it is paid per used GPU-hour."""
    full_year = load.it_kw * load.energy_per_it_kwh * HOURS_PER_YEAR
    idle = model.energy.idle_power_share
    per_gpu_hour = load.it_kw * load.energy_per_it_kwh * (1.0 - idle) / load.total_gpus
    return Cost(fixed=full_year * idle, per_gpu_hour=per_gpu_hour)


def _site_costs(sites: int, fte: float, network_month: float, model: CostModelSpec) -> dict[Line, Cost]:
    return {"staff": Cost(fixed=sites * fte * model.cost_per_fte_year),
            "network": Cost(fixed=sites * network_month * MONTHS_PER_YEAR)}


def _egress(load: Load, price_per_gb: float) -> Cost:
    return Cost(per_gpu_hour=load.egress_gb_per_gpu_hour * price_per_gb)


def owned(load: Load, model: CostModelSpec) -> Option:
    o, hw = model.owned, model.hardware
    hardware = _hardware_capex(load, model)
    facility = load.it_kw * o.facility_capex_per_kw
    r = model.cost_of_capital
    lines: dict[Line, Cost] = {
        "capex": Cost(fixed=annualised(hardware, r, model.years) + annualised(facility, r, o.facility_years)),
        "energy": _energy(load, model),
        "maintenance": Cost(fixed=hardware * hw.maintenance_per_year + facility * o.facility_maintenance_per_year),
        **_site_costs(load.sites, o.staff_fte_per_site, o.network_per_site_month, model),
        "egress": _egress(load, o.egress_per_gb),
    }
    return Option("owned", load.sites, hardware + facility, lines)


def colo(load: Load, model: CostModelSpec) -> Option:
    c = model.colo
    hardware = _hardware_capex(load, model)
    lines: dict[Line, Cost] = {
        "capex": Cost(fixed=annualised(hardware, model.cost_of_capital, model.years)),
        "energy": _energy(load, model) if c.power == "passed-through" else Cost(),
        "maintenance": Cost(fixed=hardware * model.hardware.maintenance_per_year),
        **_site_costs(load.sites, c.staff_fte_per_site, c.network_per_site_month, model),
        "egress": _egress(load, c.egress_per_gb),
        "rent": Cost(fixed=load.it_kw * c.price_per_kw_month * MONTHS_PER_YEAR),
    }
    return Option("colo", load.sites, hardware, lines)


def edge_sites(load: Load, model: CostModelSpec) -> int:
    return max(load.sites, math.ceil(load.it_kw / model.edge.kw_per_site - 1e-9))


def edge(load: Load, model: CostModelSpec) -> Option:
    e = model.edge
    sites = edge_sites(load, model)
    hardware = _hardware_capex(load, model)
    enclosures = load.it_kw * e.enclosure_capex_per_kw
    lines: dict[Line, Cost] = {
        "capex": Cost(fixed=annualised(hardware + enclosures, model.cost_of_capital, model.years)),
        "energy": _energy(load, model),
        "maintenance": Cost(fixed=(hardware + enclosures) * model.hardware.maintenance_per_year),
        **_site_costs(sites, e.staff_fte_per_site, e.network_per_site_month, model),
        "egress": _egress(load, e.egress_per_gb),
        "rent": Cost(fixed=load.it_kw * e.rent_per_kw_month * MONTHS_PER_YEAR),
    }
    return Option("edge", sites, hardware + enclosures, lines)


def hyperscaler(load: Load, model: CostModelSpec, committed: bool = False) -> Option:
    price = model.committed if committed else model.on_demand
    rent = sum(n * price(sku) for sku, n in load.gpus.items()) / load.total_gpus
    lines: dict[Line, Cost] = {
        "rent": Cost(per_gpu_hour=rent),
        "egress": _egress(load, model.hyperscaler.egress_per_gb),
    }
    return Option("committed" if committed else "on-demand", 0, 0.0, lines)


@dataclass(frozen=True)
class Comparison:
    """Every option for one load, with each owned option's break-even against the hyperscaler."""

    load: Load
    model: CostModelSpec
    options: tuple[Option, ...]
    break_even: Mapping[OptionName, tuple[BreakEven, BreakEven]]  # vs on-demand, vs committed

    def option(self, name: OptionName) -> Option:
        return next(o for o in self.options if o.name == name)


def compare(load: Load, model: CostModelSpec) -> Comparison:
    """Price the load under every option (owned, colo, edge, on-demand, committed)."""
    if load.total_gpus <= 0:
        raise ValueError("the load has no GPUs: nothing to price")
    on_demand, committed = hyperscaler(load, model), hyperscaler(load, model, committed=True)
    options = (owned(load, model), colo(load, model), edge(load, model), on_demand, committed)
    breaks = {o.name: (break_even(o, on_demand, load), break_even(o, committed, load))
              for o in options if o.name not in HYPERSCALER}
    return Comparison(load, model, options, breaks)


def _r(v: float, digits: int = 2) -> float:
    return round(v, digits) + 0.0  # + 0.0: never -0.0


def report(c: Comparison) -> dict[str, object]:
    """The comparison as `fleetyard tco --format json` prints it (money rounded to cents)."""
    load = c.load
    options: list[dict[str, object]] = []
    for o in c.options:
        be = c.break_even.get(o.name)
        options.append({
            "option": o.name, "label": o.label, "sites": o.sites, "capex": _r(o.capex),
            "capex_per_year": _r(o.line("capex", load)),
            "opex_per_year": {name: _r(o.line(name, load)) for name in LINES if name != "capex"},
            "total_per_year": _r(o.per_year(load)),
            "fixed_per_year": _r(o.fixed), "variable_per_gpu_hour": _r(o.variable, 4),
            "per_delivered_gpu_hour": _r(o.per_delivered_gpu_hour(load), 4),
            "break_even": None if be is None else {
                "on_demand": None if be[0].utilization is None else _r(be[0].utilization, 4),
                "committed": None if be[1].utilization is None else _r(be[1].utilization, 4)},
        })
    return {
        "load": {"gpus": dict(load.gpus), "gpus_total": load.total_gpus, "it_kw": _r(load.it_kw, 3),
                 "sites": load.sites, "energy_per_it_kwh": _r(load.energy_per_it_kwh, 4),
                 "utilization": _r(load.utilization, 4), "egress_gb_per_month": _r(load.egress_gb_per_month, 1),
                 "notes": list(load.notes)},
        "inputs": {"years": c.model.years, "facility_years": c.model.owned.facility_years,
                   "cost_of_capital": c.model.cost_of_capital, "hours_per_year": HOURS_PER_YEAR},
        "options": options,
    }
