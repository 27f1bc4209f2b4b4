"""Hardware attestation light on the wire (issue 14, item 5; docs/attestation.md).

An agent sends what GPUs it found in `SiteReport.inventory` (absent: an older agent, or
no way to look); the server keeps it with the report, compares it with the Site's
`spec.gpus` and shows the result in `SiteStatus.inventory` (`GET /api/v1/status`,
`fleetyard get sites`, `fleetyard describe site`). The agent's own comparison (against
the declared GPUs in its desired state, `DesiredState.declared_gpus`) travels as
`Inventory.drift`, for the site's logs; the server's view is computed afresh against the
Site as it is stored now, and the server maps product names to SKUs itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from fleetyard.services.storable import NUL_FREE
from fleetyard.services.wire_base import Count, Name, Text, _In, _Wire

__all__ = ["MAX_INVENTORY_GPUS", "FoundGpuOut", "GpuCountDrift", "Inventory", "InventorySource", "InventoryStatus"]

MAX_INVENTORY_GPUS = 1024
InventorySource = Literal["nvidia-smi", "rocm-smi", "file"]
Short = Annotated[str, StringConstraints(pattern=NUL_FREE, max_length=255)]


class FoundGpuOut(_In):
    """One GPU a probe listed."""

    name: Short  # the product name as the tool prints it, e.g. "NVIDIA H100 80GB HBM3"
    uuid: Short
    memory_mib: float | None = Field(default=None, ge=0, le=1e9)
    sku: Name | None = None  # the agent's reading of `name` (the server reads it again)


class Inventory(_In):
    """What the agent found (`error`: the probe failed, so nothing is known - never zero GPUs)."""

    source: InventorySource
    probed_at: datetime
    gpus: list[FoundGpuOut] = Field(default_factory=list, max_length=MAX_INVENTORY_GPUS)
    error: Text | None = None
    drift: list[Short] = Field(default_factory=list, max_length=64)  # the agent's comparison, in words


class GpuCountDrift(_Wire):
    sku: str  # a SKU, or the product name of a GPU no SKU matches
    declared: int
    found: int


class InventoryStatus(_Wire):
    """A site's last reported inventory against its declared GPUs (`SiteStatus.inventory`)."""

    source: InventorySource
    probed_at: datetime
    error: str | None = None
    gpus: list[FoundGpuOut] = Field(default_factory=list)
    declared: dict[str, Count] = Field(default_factory=dict)  # GPUs per SKU in the Site's spec.gpus
    found: dict[str, Count] = Field(default_factory=dict)  # per SKU (unrecognized: per product name)
    drift: list[GpuCountDrift] = Field(default_factory=list)  # empty: as declared (or unknown, on error)
    summary: str = ""  # e.g. "L4: declared 4, found 2"; "as declared"; "probe failed: ..."
