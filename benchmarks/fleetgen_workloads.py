"""Workload shapes and generators for the synthetic fleet generator (see fleetgen.py)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from fleetgen_data import SLO_WEIGHTS, SLOS, TEAMS, TIER, Doc, Metro, dist_km, weighted_choice

# ------------------------------------------------------------------------- workloads

# (share, GPUs per replica, memory GB, weighted allow-lists, rps per replica range, model)
INFERENCE_SHAPES: tuple[
    tuple[float, int, float, tuple[tuple[list[str] | None, float], ...], tuple[float, float], str],
    ...,
] = (
    (
        0.50,
        1,
        24,
        (
            (None, 0.4),
            (["L4", "A10G", "L40S"], 0.3),
            (["L4", "L40S"], 0.15),
            (["L40S", "A100-80GB", "H100-PCIE"], 0.15),
        ),
        (10, 40),
        "chat-8b",
    ),
    (
        0.30,
        1,
        48,
        (
            (None, 0.4),
            (["L40S", "H100-PCIE", "A100-80GB"], 0.3),
            (["H100-SXM", "H100-PCIE", "H200"], 0.3),
        ),
        (8, 25),
        "code-34b",
    ),
    (
        0.17,
        2,
        80,
        ((["H100-SXM", "H200"], 0.5), (["H100-SXM", "H200", "MI300X"], 0.25), (None, 0.25)),
        (5, 20),
        "assist-70b",
    ),
    (0.02, 8, 80, ((["H100-SXM", "H200", "B200"], 1.0),), (2, 8), "frontier-405b"),
    (0.01, 4, 141, ((["H200", "B200", "MI300X"], 1.0),), (2, 8), "frontier-405b"),
)
FT_SKUS: tuple[tuple[list[str] | None, float], ...] = (
    (["H100-SXM", "H200"], 0.6),
    (["H100-SXM", "H200", "B200"], 0.2),
    (["A100-80GB", "H100-SXM"], 0.1),
    (["MI300X"], 0.05),
    (None, 0.05),
)
TRAIN_SKUS: tuple[tuple[list[str] | None, float, float], ...] = (
    (["H100-SXM", "H200"], 80, 0.45),
    (["B200"], 180, 0.2),
    (["H200", "B200"], 141, 0.2),
    (["MI300X"], 192, 0.1),
    (["A100-80GB"], 80, 0.05),
)
BATCH_SHAPES: tuple[tuple[list[str] | None, float, float], ...] = (
    (["L4", "L40S", "A10G"], 16, 0.5),
    (None, 24, 0.25),
    (["A100-80GB", "L40S", "H100-PCIE"], 40, 0.25),
)


@dataclass
class Job:
    """A workload before its size is fixed by the GPU budget."""

    kind: str
    name: str
    home: Metro
    priority: int
    labels: dict[str, str]
    spec: Doc
    gpus: int  # per replica
    weight: float = 1.0  # relative size (inference, batch)
    floor: int = 1  # minimum replicas
    rpr: float = 0.0
    shares: tuple[tuple[str, float], ...] = ()
    fill: float = 1.0  # share of the last replica's capacity that demand uses


def allow_list(rng: random.Random, options: Sequence[tuple[list[str] | None, float]]) -> list[str] | None:
    skus = weighted_choice(rng, [o[0] for o in options], [o[1] for o in options])
    return list(skus) if skus is not None else None


def nearby_metros(home: Metro, metros: list[Metro]) -> list[Metro]:
    """Up to 3 nearest other metros of the same continent within 2,500 km."""
    near = sorted(
        (m for m in metros if m.continent == home.continent and m is not home),
        key=lambda m: dist_km((home.lat, home.lon), (m.lat, m.lon)),
    )
    return [m for m in near[:3] if dist_km((home.lat, home.lon), (m.lat, m.lon)) < 2500]


def demand_regions(rng: random.Random, home: Metro, near: list[Metro]) -> list[Metro]:
    k = weighted_choice(rng, (1, 2, 3), (0.5, 0.35, 0.15))
    extra = rng.sample(near, min(k - 1, len(near)))
    return [home, *extra]


def inference_job(rng: random.Random, i: int, home: Metro, near: list[Metro], region_of: dict[str, str]) -> Job:
    shape = weighted_choice(rng, INFERENCE_SHAPES, [s[0] for s in INFERENCE_SHAPES])
    _, gpus, memory, allow, (rlo, rhi), family = shape
    priority = weighted_choice(rng, (10, 100, 500, 1000), (0.1, 0.3, 0.35, 0.25))
    rpr = float(round(rng.uniform(rlo, rhi)))
    regions = demand_regions(rng, home, near)
    raw = [1.0] + [rng.uniform(0.2, 0.8) for _ in regions[1:]]
    shares = tuple((region_of[m.name], r / sum(raw)) for m, r in zip(regions, raw, strict=True))
    spread = rng.random() < 0.2
    floor = 2 if spread or priority == 1000 else 1
    replica: Doc = {"gpus": gpus, "gpu_memory_gb": memory}
    skus = allow_list(rng, allow)
    if skus:
        replica["gpu_skus"] = skus
    if gpus == 2 and skus == ["H100-SXM", "H200"] and rng.random() < 0.3:
        replica["power_kw"] = 2.55  # 2 x DGX H100 10.2 kW / 8
    spec: Doc = {
        "type": "inference",
        "model": f"{family}:{rng.randint(1, 9)}",
        "priority": priority,
        "replica": replica,
        "rps_per_replica": rpr,
        "latency_slo_ms": float(weighted_choice(rng, SLOS, SLO_WEIGHTS)),
    }
    if spread:
        spec["spread"] = {"min_sites": 2}
    labels = {"team": rng.choice(TEAMS), "tier": TIER[priority]}
    return Job(
        "inference",
        f"inf-{i:05d}",
        home,
        priority,
        labels,
        spec,
        gpus,
        weight=rng.lognormvariate(0.0, 1.0),
        floor=floor,
        rpr=rpr,
        shares=shares,
        fill=rng.uniform(0.75, 1.0),
    )


def gang_job(rng: random.Random, i: int, kind: str, home: Metro) -> Job:
    labels = {"team": rng.choice(TEAMS), "class": "training"}
    if kind == "fine-tune":
        n = weighted_choice(rng, (1, 2, 3, 4), (0.5, 0.25, 0.15, 0.1))
        priority = weighted_choice(rng, (10, 100, 500), (0.15, 0.5, 0.35))
        replica: Doc = {"gpus": 8, "gpu_memory_gb": 80.0}
        skus = allow_list(rng, FT_SKUS)
        model = f"ft-{rng.choice(('chat-8b', 'code-34b', 'assist-70b'))}:{rng.randint(1, 20)}"
        name = f"ft-{i:05d}"
    else:
        n = weighted_choice(rng, (2, 4, 8, 16), (0.5, 0.3, 0.15, 0.05))
        priority = weighted_choice(rng, (10, 100, 500), (0.2, 0.6, 0.2))
        option = weighted_choice(rng, TRAIN_SKUS, [o[2] for o in TRAIN_SKUS])
        skus = list(option[0]) if option[0] else None
        replica = {"gpus": 8, "gpu_memory_gb": float(option[1])}
        model = f"pretrain-{rng.choice(('lm-7b', 'lm-34b', 'vit-g', 'speech-2b'))}:{rng.randint(1, 5)}"
        name = f"train-{i:05d}"
    if skus:
        replica["gpu_skus"] = skus
    labels["tier"] = TIER[priority]
    spec: Doc = {
        "type": kind,
        "model": model,
        "priority": priority,
        "replica": replica,
        "replicas": {"min": n, "max": n},
    }
    return Job(kind, name, home, priority, labels, spec, 8, floor=n)


def batch_job(rng: random.Random, i: int, home: Metro) -> Job:
    skus, memory, _ = weighted_choice(rng, BATCH_SHAPES, [b[2] for b in BATCH_SHAPES])
    gpus = weighted_choice(rng, (1, 2, 4), (0.85, 0.1, 0.05))
    priority = weighted_choice(rng, (10, 100, 500), (0.5, 0.4, 0.1))
    replica: Doc = {"gpus": gpus, "gpu_memory_gb": float(memory)}
    if skus:
        replica["gpu_skus"] = list(skus)
    spec: Doc = {
        "type": "batch",
        "model": f"{rng.choice(('embed-m', 'whisper-large', 'vision-tagger', 'rerank-s'))}:{rng.randint(1, 9)}",
        "priority": priority,
        "replica": replica,
    }
    labels = {"team": rng.choice(TEAMS), "tier": TIER[priority]}
    return Job(
        "batch",
        f"batch-{i:05d}",
        home,
        priority,
        labels,
        spec,
        gpus,
        weight=rng.lognormvariate(0.0, 0.8),
    )


def size_replicas(jobs: list[Job], budget: float) -> list[int]:
    """Replicas per job so that sum(replicas x gpus) is close to `budget` (bisection on a scale).

    A job's share of the budget is proportional to its weight x GPUs per replica."""
    if not jobs:
        return []
    weight = np.array([j.weight for j in jobs])
    gpus = np.array([j.gpus for j in jobs], dtype=np.int64)
    floor = np.array([j.floor for j in jobs], dtype=np.int64)
    unit = budget * weight / float((weight * gpus).sum() or 1.0)

    def sizes(scale: float) -> np.ndarray:
        return np.maximum(floor, np.rint(scale * unit).astype(np.int64))

    def used(scale: float) -> float:
        return float((sizes(scale) * gpus).sum())

    if used(0.0) >= budget:
        return [int(n) for n in sizes(0.0)]
    lo, hi = 0.0, 1.0
    while used(hi) < budget and hi < 1e6:
        hi *= 2
    for _ in range(50):
        mid = (lo + hi) / 2
        if used(mid) < budget:
            lo = mid
        else:
            hi = mid
    best = lo if abs(used(lo) - budget) <= abs(used(hi) - budget) else hi
    return [int(n) for n in sizes(best)]
