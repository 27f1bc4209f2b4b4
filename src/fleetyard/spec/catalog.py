"""The built-in GPU catalog: memory, board power and intra-server link of the SKUs fleetyard knows.

Figures are from the vendors' data sheets (NVIDIA H100/H200/B200/A100/L40S/L4/A10G
product briefs, AMD Instinct MI300X data sheet), as gathered in the project's
REFERENCE.md. A site may declare any other SKU by giving `memory_gb` and `tdp_w`
itself (and `interconnect` when it is not PCIe).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

# Kinds of GPU-to-GPU link inside one server (`Link.kind`, `GpuPool.interconnect`).
NVLINK = "nvlink"
INFINITY_FABRIC = "infinity-fabric"
PCIE = "pcie"
LINK_KINDS = (NVLINK, INFINITY_FABRIC, PCIE)


@dataclass(frozen=True)
class Link:
    """The GPU-to-GPU link inside one server: its kind, generation and per-GPU bandwidth."""

    kind: str  # nvlink | infinity-fabric | pcie
    generation: str  # as the data sheet names it: "NVLink 4", "PCIe Gen4"
    gb_per_s: float | None = None  # per GPU, GB/s, where REFERENCE.md gives it

    def describe(self) -> str:
        return f"{self.generation}, {self.gb_per_s:,.0f} GB/s" if self.gb_per_s else self.generation


PCIE_LINK = Link(PCIE, "PCIe")

# Server size when a pool does not give `gpus_per_server`: HGX/DGX and OAM baseboards
# (H100-SXM, H200, B200, A100 SXM, MI300X) hold 8 GPUs; REFERENCE.md's server figures
# are 8-GPU servers (H100 server ~10.2 kW, Lambda 8x); 8-slot PCIe servers are the
# common size for L40S, L4, A10G and H100-PCIE too (REFERENCE.md gives no other size).
DEFAULT_GPUS_PER_SERVER = 8


@dataclass(frozen=True)
class GpuModel:
    sku: str
    memory_gb: float
    tdp_w: float
    vendor: str
    interconnect: Link = PCIE_LINK
    gpus_per_server: int = DEFAULT_GPUS_PER_SERVER


CATALOG: dict[str, GpuModel] = {
    m.sku: m
    for m in (
        # H100 SXM5 80 GB HBM3, 700 W, NVLink 4 900 GB/s
        GpuModel("H100-SXM", 80, 700, "NVIDIA", Link(NVLINK, "NVLink 4", 900)),
        GpuModel("H100-PCIE", 80, 350, "NVIDIA", Link(PCIE, "PCIe Gen5")),  # 80 GB HBM2e, 350 W
        # H200 SXM 141 GB HBM3e, 700 W, NVLink 4 (the generation of the H100 SXM: 900 GB/s)
        GpuModel("H200", 141, 700, "NVIDIA", Link(NVLINK, "NVLink 4", 900)),
        GpuModel("B200", 180, 1000, "NVIDIA", Link(NVLINK, "NVLink 5", 1800)),  # 180 GB HBM3e, 1000 W, 1.8 TB/s
        GpuModel("A100-80GB", 80, 400, "NVIDIA", Link(NVLINK, "NVLink 3", 600)),  # A100 SXM 80 GB HBM2e, 400 W
        GpuModel("L40S", 48, 350, "NVIDIA", Link(PCIE, "PCIe Gen4")),  # 48 GB GDDR6, 350 W, no NVLink
        GpuModel("L4", 24, 72, "NVIDIA", Link(PCIE, "PCIe Gen4")),  # 24 GB GDDR6, 72 W
        GpuModel("A10G", 24, 150, "NVIDIA", Link(PCIE, "PCIe")),  # 24 GB GDDR6, 150 W (AWS G5)
        # Instinct MI300X 192 GB HBM3, 750 W, Infinity Fabric (no bandwidth in REFERENCE.md)
        GpuModel("MI300X", 192, 750, "AMD", Link(INFINITY_FABRIC, "Infinity Fabric")),
    )
}

# A replica's IT power when the workload does not say: GPU board power times this
# factor, for the CPUs, memory, NICs and fans of the server around the GPUs. An
# 8-GPU H100 SXM server draws ~10.2 kW against 8 x 700 W of GPU TDP: 10.2/5.6 = 1.8.
SERVER_POWER_FACTOR = 1.8


def lookup(sku: str) -> GpuModel | None:
    return CATALOG.get(sku)


def suggest(sku: str, known: list[str] | None = None) -> list[str]:
    """Close catalog names for a mistyped SKU (case-insensitive)."""
    names = known if known is not None else list(CATALOG)
    by_upper = {n.upper(): n for n in names}
    typed = sku.upper()
    # the family typed comes first, the closest (shortest) member of it before the others
    prefix = sorted((n for n in names if n.upper().startswith(typed)), key=len)
    close = [by_upper[h] for h in difflib.get_close_matches(typed, list(by_upper), n=3, cutoff=0.5)]
    return list(dict.fromkeys(prefix + close))[:3]
