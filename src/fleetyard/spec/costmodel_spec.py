"""The inputs of `fleetyard tco` (issue 11): the `CostModel` resource's spec, with sourced defaults.

One CostModel per fleet, like the Objective; without one every default below applies.
Each figure says where it comes from: REFERENCE.md (the project's notes of public
figures, and the sources they name) or "(est.)" for an estimate to replace with your
own quotes. Money is USD. The formulas that use these inputs are in `energy/tco.py`
and docs/tco.md.

    apiVersion: fleetyard/v1
    kind: CostModel
    metadata: {name: default}
    spec:
      years: 4
      cost_of_capital: 0.08
      colo: {price_per_kw_month: 200}
      hyperscaler: {on_demand_per_gpu_hour: {H100-SXM: 6.90}}
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from fleetyard.spec.quantities import (
    MAX_PUE,
    CapexPerGpu,
    CapexPerKw,
    CostPerFte,
    EgressPrice,
    EnergyPrice,
    FtePerSite,
    GbPerMonth,
    GpuPrice,
    PerSiteMonth,
    PowerKw,
    PricePerKwMonth,
    Share,
    Utilization,
    Years,
)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


# All-in capex per GPU: the GPU's share of its server (chassis, CPUs, memory, NICs,
# storage, integration). REFERENCE.md: all-in H100 server ~$47-52k per GPU; purchase
# prices (est.) H100 ~$30k, H200 ~$32k, A100 ~$15k, MI300X ~$15k. The others scale the
# purchase price by the H100's all-in ratio (50/30) and are estimates; they match the
# amortized prices of examples/fleet (sites-*.yaml).
def _capex_per_gpu() -> dict[str, float]:
    return {
        "H100-SXM": 50_000.0,   # REFERENCE.md $47-52k all-in
        "H200": 52_000.0,       # H100's + the ~$2k GPU price difference (REFERENCE.md)
        "B200": 65_000.0,       # (est.) no B200 price in REFERENCE.md
        "H100-PCIE": 38_000.0,  # (est.) GPU ~$30k + ~$8k server share
        "A100-80GB": 24_000.0,  # (est.) $15k x ~1.6
        "MI300X": 30_000.0,     # (est.) $15k GPU in an 8-way OAM server
        "L40S": 12_000.0,       # (est.) ~$8k card in a PCIe server
        "L4": 4_500.0,          # (est.) ~$2.5k card in a 1U box
        "A10G": 5_500.0,        # (est.) ~$3.5k card
    }


# Hyperscaler on-demand $ per GPU-hour (REFERENCE.md GPU table). Where it gives only
# GPU-cloud prices (Lambda, RunPod) they stand in, marked (est.).
def _on_demand_per_gpu_hour() -> dict[str, float]:
    return {
        "H100-SXM": 6.90,   # ~$6.9 at a hyperscaler after the 2025 cuts (est.)
        "H200": 5.41,       # AWS capacity block p5e
        "B200": 6.99,       # (est.) Lambda $6.69-6.99
        "H100-PCIE": 3.29,  # (est.) Lambda
        "A100-80GB": 2.79,  # (est.) Lambda 8x
        "MI300X": 1.90,     # (est.) GPU clouds $1.7-1.9
        "L40S": 1.60,       # (est.)
        "L4": 0.80,         # ~$0.8 on a hyperscaler (est.)
        "A10G": 1.01,       # AWS g5.xlarge on-demand $1.006/h
    }


class HardwareSpec(_Frozen):
    """The GPU servers, bought by every owned option (small data centres, colocation, edge)."""

    capex_per_gpu: dict[str, CapexPerGpu] = Field(default_factory=_capex_per_gpu)
    capex_per_gpu_other: CapexPerGpu = 50_000.0  # a SKU not listed: priced as an H100 server (est.)
    maintenance_per_year: Share = 0.05  # support contracts and spares, share of hardware capex (est.)


class OwnedSpec(_Frozen):
    """Own small data centres: the facility is built (capex per kW of IT) and run by you."""

    facility_capex_per_kw: CapexPerKw = 11_000.0  # (est.) $10-12k per kW of IT for a small site
    facility_years: Years = 10  # (est.) power, cooling and fit-out are written off over 10-15 years
    facility_maintenance_per_year: Share = 0.03  # (est.) share of facility capex
    staff_fte_per_site: FtePerSite = 0.5  # (est.) remote hands and on-call for a few racks
    network_per_site_month: PerSiteMonth = 2_000.0  # (est.) flat-rate transit + cross-connects
    egress_per_gb: EgressPrice = 0.0  # flat-rate transit: no per-GB charge


class ColoSpec(_Frozen):
    """Colocation: the hardware is yours, space, power and cooling are rented per kW-month."""

    price_per_kw_month: PricePerKwMonth = 200.0  # REFERENCE.md ~$150-250 per kW-month (est.)
    power: Literal["included", "passed-through"] = "passed-through"  # (est.) energy billed as metered
    staff_fte_per_site: FtePerSite = 0.25  # (est.) the provider's remote hands do the rest
    network_per_site_month: PerSiteMonth = 1_500.0  # (est.) cross-connects + transit
    egress_per_gb: EgressPrice = 0.0


class EdgeSpec(_Frozen):
    """Edge nodes: a few servers in a closet, a factory floor or a metro exchange, many sites."""

    kw_per_site: PowerKw = 10.0  # (est.) half a rack of IT per edge site
    enclosure_capex_per_kw: CapexPerKw = 3_000.0  # (est.) rack, UPS, in-row cooling, written off over `years`
    # (est.) space, power feed and cooling in a host's building: small footprints pay more
    # per kW than a colocation suite (REFERENCE.md ~$150-250)
    rent_per_kw_month: PricePerKwMonth = 250.0
    staff_fte_per_site: FtePerSite = 0.2  # (est.) unattended, but every fault is a field visit
    network_per_site_month: PerSiteMonth = 1_000.0  # (est.) a business fibre line and a backup link
    egress_per_gb: EgressPrice = 0.0


class HyperscalerSpec(_Frozen):
    """Renting the same GPUs by the hour. Egress is charged per GB that leaves the cloud."""

    on_demand_per_gpu_hour: dict[str, GpuPrice] = Field(default_factory=_on_demand_per_gpu_hour)
    on_demand_other: GpuPrice = 6.90  # a SKU not listed: priced as an H100
    committed_discount: Share = 0.40  # (est.) 1-3 year commitments / savings plans, 30-50 % off
    committed_per_gpu_hour: dict[str, GpuPrice] = Field(default_factory=dict)  # overrides the discount
    egress_per_gb: EgressPrice = 0.09  # AWS internet egress, first 10 TB (REFERENCE.md)


class UtilizationSpec(_Frozen):
    """Planned share of hours the GPUs do useful work; the fleet's figure is the GPU-weighted
    mean of the plan's inference and job GPUs, unless `planned` gives it outright."""

    inference: Utilization = 0.5  # (est.) replicas are sized for peak demand; mean/peak ~0.5
    jobs: Utilization = 0.85  # (est.) batch, fine-tune, training: busy but for checkpoints and gaps
    planned: Utilization | None = None


class EnergySpec(_Frozen):
    """Energy of the owned options: by default each site's own price and PUE (IT-kW-weighted)."""

    price_per_kwh: EnergyPrice | None = None  # default: the sites' `energy.price_per_kwh`
    pue: float | None = Field(default=None, ge=1.0, le=MAX_PUE)  # default: the sites' `power.pue`
    idle_power_share: Share = 0.3  # (est.) share of full power a server draws while idle


class CostModelSpec(_Frozen):
    years: Years = 4  # amortization of the hardware (and of edge enclosures)
    cost_of_capital: Share = 0.08  # (est.) rate per year in the annuity; 0 = straight line
    cost_per_fte_year: CostPerFte = 150_000.0  # (est.) an engineer with overheads
    hardware: HardwareSpec = Field(default_factory=HardwareSpec)
    owned: OwnedSpec = Field(default_factory=OwnedSpec)
    colo: ColoSpec = Field(default_factory=ColoSpec)
    edge: EdgeSpec = Field(default_factory=EdgeSpec)
    hyperscaler: HyperscalerSpec = Field(default_factory=HyperscalerSpec)
    utilization: UtilizationSpec = Field(default_factory=UtilizationSpec)
    energy: EnergySpec = Field(default_factory=EnergySpec)
    # GB per month the planned work sends out, at the planned utilization; default: the
    # planned workloads' `data` gb_per_hour x 730 h x utilization.
    egress_gb_per_month: GbPerMonth | None = None

    def capex_per_gpu(self, sku: str) -> float:
        return self.hardware.capex_per_gpu.get(sku, self.hardware.capex_per_gpu_other)

    def on_demand(self, sku: str) -> float:
        return self.hyperscaler.on_demand_per_gpu_hour.get(sku, self.hyperscaler.on_demand_other)

    def committed(self, sku: str) -> float:
        h = self.hyperscaler
        if sku in h.committed_per_gpu_hour:
            return h.committed_per_gpu_hour[sku]
        return self.on_demand(sku) * (1.0 - h.committed_discount)
