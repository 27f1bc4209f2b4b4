"""The built-in GPU catalog: memory and board power of the SKUs fleetyard knows.

Figures are from the vendors' data sheets (NVIDIA H100/H200/B200/A100/L40S/L4/A10G
product briefs, AMD Instinct MI300X data sheet). A site may declare any other SKU
by giving `memory_gb` and `tdp_w` itself.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class GpuModel:
    sku: str
    memory_gb: float
    tdp_w: float
    vendor: str


CATALOG: dict[str, GpuModel] = {
    m.sku: m
    for m in (
        GpuModel("H100-SXM", 80, 700, "NVIDIA"),  # H100 SXM5 80 GB HBM3, 700 W
        GpuModel("H100-PCIE", 80, 350, "NVIDIA"),  # H100 PCIe 80 GB HBM2e, 350 W
        GpuModel("H200", 141, 700, "NVIDIA"),  # H200 SXM 141 GB HBM3e, 700 W
        GpuModel("B200", 180, 1000, "NVIDIA"),  # B200 180 GB HBM3e, 1000 W
        GpuModel("A100-80GB", 80, 400, "NVIDIA"),  # A100 SXM 80 GB HBM2e, 400 W
        GpuModel("L40S", 48, 350, "NVIDIA"),  # L40S 48 GB GDDR6, 350 W
        GpuModel("L4", 24, 72, "NVIDIA"),  # L4 24 GB GDDR6, 72 W
        GpuModel("A10G", 24, 150, "NVIDIA"),  # A10G 24 GB GDDR6, 150 W (AWS G5)
        GpuModel("MI300X", 192, 750, "AMD"),  # Instinct MI300X 192 GB HBM3, 750 W
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
