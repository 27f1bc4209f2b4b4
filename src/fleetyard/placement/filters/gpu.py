"""GPU type and memory: the SKU allow-list and the minimum memory per GPU."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from fleetyard.placement.context import BoolArray
from fleetyard.placement.framework import Context, Reason
from fleetyard.spec.models import Workload

SKU_NOT_ALLOWED = "gpu.sku-not-allowed"
MEMORY_TOO_SMALL = "gpu.memory-too-small"


class GpuSku:
    name: ClassVar[str] = "gpu-sku"

    def check(self, ctx: Context, w: Workload, pool: int) -> list[Reason]:
        allowed = w.spec.replica.gpu_skus
        sku = ctx.compiled.pool_sku[pool]
        if allowed is not None and sku not in allowed:
            listed = ", ".join(allowed)
            return [Reason(SKU_NOT_ALLOWED, f"{sku} not in allowed SKUs ({listed})", f"no allowed SKU ({listed})")]
        return []

    def mask(self, ctx: Context, w: Workload) -> BoolArray:
        allowed = w.spec.replica.gpu_skus
        if allowed is None:
            return np.ones(ctx.compiled.n_pools, dtype=bool)
        key = ("gpu-sku", tuple(allowed))
        cached = ctx.memo.get(key)
        if cached is None:
            cached = np.isin(np.array(ctx.compiled.pool_sku), allowed)
            ctx.memo[key] = cached
        return cached


def _gb(value: float) -> str:
    return f"{value:g} GB"


class GpuMemory:
    name: ClassVar[str] = "gpu-memory"

    def check(self, ctx: Context, w: Workload, pool: int) -> list[Reason]:
        need = w.spec.replica.gpu_memory_gb
        have = float(ctx.compiled.pool_memory_gb[pool])
        if need is not None and have < need:
            sku = ctx.compiled.pool_sku[pool]
            return [Reason(MEMORY_TOO_SMALL, f"{sku} has {_gb(have)} < {_gb(need)} needed",
                           f"GPU memory < {_gb(need)}")]
        return []

    def mask(self, ctx: Context, w: Workload) -> BoolArray:
        need = w.spec.replica.gpu_memory_gb
        if need is None:
            return np.ones(ctx.compiled.n_pools, dtype=bool)
        out: BoolArray = ctx.compiled.pool_memory_gb >= need
        return out
