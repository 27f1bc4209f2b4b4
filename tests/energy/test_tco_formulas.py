"""Each TCO formula (energy/tco.py) against a hand computation, with the numbers written out.

The loads are small and made by hand (one 8-GPU H100 server, a mixed pool), so every
expected figure below is arithmetic a reader can redo; the defaults used are the
CostModel's (spec/costmodel_spec.py), restated where they enter a figure.
"""

from __future__ import annotations

import pytest

from fleetyard.energy.tco import (
    HOURS_PER_YEAR,
    BreakEven,
    Cost,
    Load,
    Option,
    annualised,
    annuity_factor,
    break_even,
    colo,
    compare,
    edge,
    edge_sites,
    energy_per_year,
    hyperscaler,
    owned,
)
from fleetyard.spec.costmodel_spec import ColoSpec, CostModelSpec, EnergySpec, HyperscalerSpec

DEFAULTS = CostModelSpec()
# one HGX H100 server: 8 GPUs, 10.2 kW IT, at a site paying 0.17 $/kWh with PUE 1.25
SERVER = Load(gpus={"H100-SXM": 8}, it_kw=10.2, sites=1, energy_per_it_kwh=1.25 * 0.17, utilization=0.5)
MIXED = Load(gpus={"H100-SXM": 8, "L4": 4}, it_kw=25.0, sites=3, energy_per_it_kwh=0.2, utilization=0.5,
             egress_gb_per_gpu_hour=0.5)


def test_annuity_factor_by_hand():
    # 0.08 / (1 - 1.08^-4) = 0.08 / (1 - 0.7350299) = 0.3019208
    assert annuity_factor(0.08, 4) == pytest.approx(0.3019208, abs=1e-7)
    assert annuity_factor(0.08, 10) == pytest.approx(0.1490295, abs=1e-7)
    assert annuity_factor(0.0, 4) == 0.25  # straight line
    assert annuity_factor(0.0, 1) == 1.0
    assert annualised(1_000_000, 0.05, 1) == pytest.approx(1_050_000)  # one year: capex plus a year's interest
    with pytest.raises(ValueError, match="years must be >= 1"):
        annuity_factor(0.08, 0)


def test_the_annuity_repays_the_capex_with_interest():
    capex, r, n = 400_000.0, 0.08, 4
    payment, balance = annualised(capex, r, n), capex
    for _ in range(n):
        balance = balance * (1 + r) - payment
    assert balance == pytest.approx(0.0, abs=1e-6)


def test_capex_per_gpu_and_per_kw_of_the_owned_option():
    o = owned(SERVER, DEFAULTS)
    hardware = 8 * 50_000.0  # 400,000: all-in H100 server, $50k per GPU
    facility = 10.2 * 11_000.0  # 112,200: $11k per kW of IT
    assert o.capex == pytest.approx(hardware + facility)
    # hardware over 4 years, facility over 10, both at 8 %
    assert o.line("capex", SERVER) == pytest.approx(400_000 * 0.3019208 + 112_200 * 0.1490295, rel=1e-6)
    assert o.line("capex", SERVER) == pytest.approx(137_489.43, abs=0.5)
    # maintenance: 5 % of hardware + 3 % of facility
    assert o.line("maintenance", SERVER) == pytest.approx(20_000 + 3_366)


def test_a_sku_without_a_price_takes_the_other_figure():
    load = Load(gpus={"XPU-9": 2}, it_kw=2.0, sites=1, energy_per_it_kwh=0.2, utilization=0.5)
    assert owned(load, DEFAULTS).capex == pytest.approx(2 * 50_000 + 2.0 * 11_000)
    assert hyperscaler(load, DEFAULTS).variable == pytest.approx(6.90)


def test_energy_is_it_kw_times_pue_times_hours_times_price():
    # 10 kW x 1.25 x 8,760 h x 0.17 $/kWh = 18,615 $ at full power all year
    assert energy_per_year(10, 1.25, 0.17, utilization=0.5) == pytest.approx(18_615.0)
    # idle 30 %: 0.3 + 0.7 x 0.5 = 0.65 of that
    assert energy_per_year(10, 1.25, 0.17, utilization=0.5, idle_power_share=0.3) == pytest.approx(12_099.75)
    # the owned option's energy line is the same formula (10.2 kW, idle 0.3 by default)
    expected = energy_per_year(10.2, 1.25, 0.17, 0.5, 0.3)
    assert expected == pytest.approx(10.2 * 1.25 * 8760 * 0.17 * 0.65)
    assert owned(SERVER, DEFAULTS).line("energy", SERVER) == pytest.approx(expected)
    full = DEFAULTS.model_copy(update={"energy": EnergySpec(idle_power_share=1.0)})
    assert owned(SERVER, full).line("energy", SERVER) == pytest.approx(10.2 * 1.25 * 8760 * 0.17)
    assert owned(SERVER, full).lines["energy"].per_gpu_hour == 0.0  # all of it fixed


def test_staff_and_network_per_site():
    o = owned(MIXED, DEFAULTS)
    assert o.line("staff", MIXED) == pytest.approx(3 * 0.5 * 150_000)  # sites x FTE x $/FTE
    assert o.line("network", MIXED) == pytest.approx(3 * 2_000 * 12)  # sites x $/month x 12
    c = colo(MIXED, DEFAULTS)
    assert c.line("staff", MIXED) == pytest.approx(3 * 0.25 * 150_000)
    assert c.line("network", MIXED) == pytest.approx(3 * 1_500 * 12)


def test_colo_rent_per_kw_month_and_its_power():
    c = colo(MIXED, DEFAULTS)
    assert c.line("rent", MIXED) == pytest.approx(25.0 * 200 * 12)  # 60,000
    assert c.capex == pytest.approx(8 * 50_000 + 4 * 4_500)  # hardware only, no facility
    assert c.line("energy", MIXED) == pytest.approx(energy_per_year(25.0, 1.0, 0.2, 0.5, 0.3))
    included = DEFAULTS.model_copy(update={"colo": ColoSpec(power="included")})
    assert colo(MIXED, included).line("energy", MIXED) == 0.0


def test_edge_sites_rent_and_enclosures():
    assert edge_sites(MIXED, DEFAULTS) == 3  # ceil(25 / 10) = 3, and the plan uses 3
    many = Load(gpus={"L4": 4}, it_kw=25.0, sites=1, energy_per_it_kwh=0.2, utilization=0.5)
    assert edge_sites(many, DEFAULTS) == 3
    exact = Load(gpus={"L4": 4}, it_kw=20.0, sites=1, energy_per_it_kwh=0.2, utilization=0.5)
    assert edge_sites(exact, DEFAULTS) == 2
    e = edge(MIXED, DEFAULTS)
    assert e.line("rent", MIXED) == pytest.approx(25.0 * 250 * 12)
    assert e.capex == pytest.approx(8 * 50_000 + 4 * 4_500 + 25.0 * 3_000)
    assert e.line("staff", MIXED) == pytest.approx(3 * 0.2 * 150_000)


def test_hyperscaler_on_demand_committed_and_egress():
    # (8 x 6.90 + 4 x 0.80) $/h x 8,760 h x 0.5 = 58.4 x 4,380 = 255,792
    od = hyperscaler(MIXED, DEFAULTS)
    assert od.line("rent", MIXED) == pytest.approx(255_792.0)
    assert od.line("rent", MIXED, utilization=1.0) == pytest.approx(58.4 * 8760)
    # committed: 40 % off on demand
    cm = hyperscaler(MIXED, DEFAULTS, committed=True)
    assert cm.line("rent", MIXED) == pytest.approx(255_792.0 * 0.6)
    # egress: 0.5 GB per used GPU-hour x 12 GPUs x 8,760 h x 0.5 = 26,280 GB x 0.09 $/GB
    assert od.line("egress", MIXED) == pytest.approx(26_280 * 0.09)
    assert MIXED.egress_gb_per_month == pytest.approx(26_280 / 12)
    assert owned(MIXED, DEFAULTS).line("egress", MIXED) == 0.0  # flat-rate transit
    quoted = DEFAULTS.model_copy(update={"hyperscaler": HyperscalerSpec(committed_per_gpu_hour={"H100-SXM": 3.0})})
    assert hyperscaler(MIXED, quoted, committed=True).line("rent", MIXED) == pytest.approx(
        (8 * 3.0 + 4 * 0.8 * 0.6) * 8760 * 0.5)
    assert od.fixed == 0.0 and od.sites == 0 and od.capex == 0.0


def test_cost_per_delivered_gpu_hour():
    o = owned(MIXED, DEFAULTS)
    total = sum(o.line(name, MIXED) for name in ("capex", "energy", "staff", "maintenance", "network", "egress"))
    assert o.per_year(MIXED) == pytest.approx(total)
    assert o.per_delivered_gpu_hour(MIXED) == pytest.approx(total / (12 * 8760 * 0.5))
    # the hyperscaler's cost per delivered GPU-hour is its price, whatever the utilization
    od = hyperscaler(MIXED, DEFAULTS)
    for u in (0.1, 0.5, 1.0):
        assert od.per_delivered_gpu_hour(MIXED, u) == pytest.approx(58.4 / 12 + 0.5 * 0.09)


def test_break_even_by_hand():
    load = Load(gpus={"H100-SXM": 10}, it_kw=10.0, sites=1, energy_per_it_kwh=0.2, utilization=0.5)
    option = Option("owned", 1, 0.0, {"capex": Cost(fixed=262_800.0), "energy": Cost(per_gpu_hour=1.0)})
    rent = Option("on-demand", 0, 0.0, {"rent": Cost(per_gpu_hour=6.0)})
    # u* = F / (8,760 x G x (p - v)) = 262,800 / (8,760 x 10 x 5) = 0.6
    be = break_even(option, rent, load)
    assert be == BreakEven("on-demand", pytest.approx(0.6)) and be.pays
    assert option.per_delivered_gpu_hour(load, 0.6) == pytest.approx(rent.per_delivered_gpu_hour(load, 0.6))
    assert option.per_delivered_gpu_hour(load, 0.7) < rent.per_delivered_gpu_hour(load, 0.7)
    assert option.per_delivered_gpu_hour(load, 0.5) > rent.per_delivered_gpu_hour(load, 0.5)
    # p <= v: never
    cheap = Option("committed", 0, 0.0, {"rent": Cost(per_gpu_hour=1.0)})
    assert break_even(option, cheap, load) == BreakEven("committed", None)
    assert not break_even(option, cheap, load).pays
    # above 100 %: it does not pay within a year of busy GPUs
    dear = Option("owned", 1, 0.0, {"capex": Cost(fixed=3 * 262_800.0), "energy": Cost(per_gpu_hour=1.0)})
    late = break_even(dear, rent, load)
    assert late.utilization == pytest.approx(1.8) and not late.pays
    # no fixed cost and a lower price per GPU-hour: always cheaper
    assert break_even(Option("colo", 1, 0.0, {"energy": Cost(per_gpu_hour=1.0)}), rent, load).utilization == 0.0


def test_compare_prices_every_option_and_breaks_even_against_both_prices():
    c = compare(MIXED, DEFAULTS)
    assert [o.name for o in c.options] == ["owned", "colo", "edge", "on-demand", "committed"]
    assert set(c.break_even) == {"owned", "colo", "edge"}
    for name, (vs_od, vs_cm) in c.break_even.items():
        o = c.option(name)
        assert vs_od.against == "on-demand" and vs_cm.against == "committed"
        assert vs_od.utilization is not None and vs_cm.utilization is not None
        assert vs_od.utilization < vs_cm.utilization  # the cheaper rent is harder to beat
        u = vs_od.utilization
        assert o.per_year(MIXED, u) == pytest.approx(c.option("on-demand").per_year(MIXED, u))
    assert HOURS_PER_YEAR == 8_760
    with pytest.raises(ValueError, match="no GPUs"):
        compare(Load(gpus={}, it_kw=0.0, sites=0, energy_per_it_kwh=0.2, utilization=0.5), DEFAULTS)
