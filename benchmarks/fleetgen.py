"""Seeded generator of realistic synthetic fleets for the placement benchmark.

    from fleetgen import generate
    fleet = generate(sites=200, workloads=3000, seed=0, tightness=0.75)

    python benchmarks/fleetgen.py --sites 20 --workloads 200 --seed 0 --write /tmp/fleet
    fleetyard plan /tmp/fleet

Same arguments, same fleet (every draw comes from one `random.Random(seed)`).

Structure (figures from ../shared/REFERENCE.md unless marked "est."):

- User regions: 8-40 metros (8 + sites // 30) across Europe (~45%), North America
  (~35%) and Asia-Pacific (~20%), real city coordinates moved by up to ~0.1 degree.
- Sites cluster around the metros of those regions (scatter ~0.35 deg lat, ~0.5 deg
  lon, i.e. tens of km), weighted by the metro's data-centre market size: ~60%
  small-dc, ~22% colo, ~18% edge, plus ~2% hyperscaler regions (at least one) at
  cloud hub metros: rent at on-demand prices, energy included in the rent, egress
  $0.09/GB.
- GPUs: small-dc 1-3 pools of real SKUs, 8-256 GPUs in 8-GPU servers (log-uniform);
  colo 8-128; edge 4-16 L4 or 4-8 L40S. The hyperscaler regions together hold a
  quota of 35-50% of the owned GPUs (H100-SXM ~50%, H200 in half the regions,
  A10G, L4): burst capacity, large per region but not the bulk of the fleet.
  Owned GPUs cost their amortized all-in price per hour
  over 4.5 years (39,420 h) or 0 when the capex is sunk; colo adds its
  $150-250/kW-month fee per GPU by power share.
- Power: it_capacity_kw = GPUs x TDP x 1.8 (server factor) x U(0.7, 1.1), so about a
  third of the owned sites cannot run all their GPUs at once; cooling is below the IT
  feed at ~25% of sites. PUE: small-dc 1.10-1.45, colo and edge 1.30-1.60,
  hyperscaler 1.08-1.20 (Uptime Institute 1.56-1.58 average; Google ~1.10).
- Energy and grid carbon by country (US: by state) with +-10% noise per site.
- Workloads: ~60% inference (demand in 1-3 nearby regions, SLO 20-150 ms, 1/2/8 GPUs
  per replica, ~20% with spread min_sites 2), ~15% fine-tune (gangs of 1-4 x 8 GPUs),
  ~5% training (gangs of 2-16 x 8 GPUs), ~20% batch; memory needs and SKU
  allow-lists; priorities 10/100/500/1000; ~half of the EU-homed workloads carry
  `residency: eu` (EU/EEA countries, no hyperscaler), ~30% of JP/SG/AU/KR-homed ones
  `residency: apac`; best-effort work may not rent (no hyperscaler); training
  classes never run at the edge; input `data` at a site for ~45% of jobs.
- `tightness` sets the GPUs the workloads need (replicas.min for jobs, replicas
  needed for their demand for inference) to that share of all GPUs in the fleet.
  Gangs are big and indivisible, so they get at most 45% of that budget: on dense
  instances (many workloads per site) the generator turns the excess gangs into
  inference and batch workloads (3:1), and `describe()` reports the actual mix.
"""

from __future__ import annotations

import argparse
import itertools
import math
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fleetgen_data import (
    APAC_RESIDENT,
    EU_EEA,
    GANG_SHARE_CAP,
    Doc,
    Metro,
    choose_metros,
    make_doc,
    n_regions,
    pick_cum,
    weighted_choice,
)
from fleetgen_sites import make_site
from fleetgen_workloads import Job, batch_job, gang_job, inference_job, nearby_metros, size_replicas

from fleetyard.spec.fleet import Fleet
from fleetyard.spec.models import Objective, Policy, Region, Site, Workload


def documents(sites: int, workloads: int, seed: int = 0, tightness: float = 0.75) -> list[Doc]:
    """The fleet as format-v1 documents (plain dicts), in a fixed order."""
    if sites < 1 or workloads < 0:
        raise ValueError("need at least one site and no negative workload count")
    rng = random.Random(seed)
    metros = choose_metros(rng, n_regions(sites))
    region_of = {m.name: f"{m.continent}-{m.name}" for m in metros}
    regions: dict[str, Doc] = {}
    for m in metros:
        loc = {
            "lat": round(m.lat + rng.uniform(-0.1, 0.1), 3),
            "lon": round(m.lon + rng.uniform(-0.1, 0.1), 3),
        }
        regions[region_of[m.name]] = make_doc("Region", region_of[m.name], {"location": loc})
    metro_cum = list(itertools.accumulate(m.weight for m in metros))

    # sites: owned sites around the metros, then hyperscaler regions at hub metros whose
    # GPU quota together is 35-50% of the owned GPUs (burst capacity, not the main fleet)
    hubs = [m for m in metros if m.hub] or sorted(metros, key=lambda m: -m.weight)[:1]
    n_cloud = min(max(1, round(sites * 0.02)), sites - 1) if sites > 1 else 0
    kinds: list[tuple[Metro, str]] = []
    for _ in range(sites - n_cloud):
        kinds.append(
            (
                pick_cum(rng, metro_cum, metros),
                weighted_choice(rng, ("small-dc", "colo", "edge"), (0.6, 0.22, 0.18)),
            )
        )
    kinds.extend((hubs[k % len(hubs)], "hyperscaler") for k in range(n_cloud))
    counters: dict[tuple[str, str], int] = {}
    code = {"small-dc": "dc", "colo": "colo", "edge": "edge", "hyperscaler": "cloud"}
    site_docs: list[Doc] = []
    by_metro: dict[str, list[str]] = {m.name: [] for m in metros}
    cloud_sites: list[str] = []
    owned = 0
    for metro, kind in kinds:
        key = (metro.code, kind)
        counters[key] = counters.get(key, 0) + 1
        name = f"{metro.code}-{code[kind]}-{counters[key]}"
        quota = round(owned * rng.uniform(0.35, 0.5) / n_cloud) if kind == "hyperscaler" else 0
        doc = make_site(rng, metro, kind, name, regions, region_of, quota)
        site_docs.append(doc)
        if kind == "hyperscaler":
            cloud_sites.append(name)
        else:
            by_metro[metro.name].append(name)
            owned += sum(p["count"] for p in doc["spec"]["gpus"])
    supply = sum(p["count"] for s in site_docs for p in s["spec"]["gpus"])
    budget = tightness * supply

    # workload mix; gangs capped at GANG_SHARE_CAP of the GPU budget (excess becomes batch)
    n_inf = round(0.60 * workloads)
    n_ft = round(0.15 * workloads)
    n_tr = round(0.05 * workloads)
    expected_gang = n_ft * 8 * 1.85 + n_tr * 8 * 4.2
    if expected_gang > GANG_SHARE_CAP * budget:
        f = GANG_SHARE_CAP * budget / expected_gang
        n_ft, n_tr = int(n_ft * f), int(n_tr * f)
        n_inf = round((workloads - n_ft - n_tr) * 0.75)  # keep inference:batch at 60:20
    n_batch = workloads - n_inf - n_ft - n_tr
    types = ["inference"] * n_inf + ["fine-tune"] * n_ft + ["training"] * n_tr + ["batch"] * n_batch
    rng.shuffle(types)

    neighbours = {m.name: nearby_metros(m, metros) for m in metros}
    jobs: list[Job] = []
    for i, kind in enumerate(types, start=1):
        home = pick_cum(rng, metro_cum, metros)
        if kind == "inference":
            job = inference_job(rng, i, home, neighbours[home.name], region_of)
        elif kind == "batch":
            job = batch_job(rng, i, home)
        else:
            job = gang_job(rng, i, kind, home)
        if home.continent == "eu" and home.country in EU_EEA and rng.random() < 0.5:
            job.labels["residency"] = "eu"
        elif home.country in APAC_RESIDENT and rng.random() < 0.3:
            job.labels["residency"] = "apac"
        if kind != "inference":
            chance = {"batch": 0.3, "fine-tune": 0.6, "training": 0.7}[kind]
            if rng.random() < chance:
                local = by_metro[home.name]
                if cloud_sites and (not local or rng.random() < 0.25):
                    site = rng.choice(cloud_sites)
                else:
                    site = rng.choice(local) if local else site_docs[0]["metadata"]["name"]
                lo, hi = {"batch": (1, 20), "fine-tune": (1, 10), "training": (5, 40)}[kind]
                job.spec["data"] = [{"site": site, "gb_per_hour": float(rng.randint(lo, hi))}]
        jobs.append(job)

    gang_gpus = sum(j.floor * j.gpus for j in jobs if j.kind in ("fine-tune", "training"))
    rest = max(0.0, budget - gang_gpus)
    inf = [j for j in jobs if j.kind == "inference"]
    bat = [j for j in jobs if j.kind == "batch"]
    inf_share = 0.75 if bat else 1.0
    for j, n in zip(inf, size_replicas(inf, rest * inf_share if inf else 0.0), strict=True):
        rps_total = max(j.rpr * 0.5, (n - 1) * j.rpr + j.fill * j.rpr)
        j.spec["demand"] = {r: round(rps_total * s, 1) for r, s in j.shares}
        lo = max(j.floor, 1)
        j.spec["replicas"] = {"min": lo, "max": max(lo, math.ceil(n * rng.uniform(1.5, 3.0)) + 1)}
    for j, n in zip(bat, size_replicas(bat, rest * (1 - inf_share)), strict=True):
        j.spec["replicas"] = {"min": n, "max": n * 2}

    workload_docs = [make_doc("Workload", j.name, j.spec, j.labels) for j in jobs]
    policies: list[Doc] = []
    used_labels = {item for j in jobs for item in j.labels.items()}
    if ("residency", "eu") in used_labels:
        policies.append(
            make_doc(
                "Policy",
                "eu-residency",
                {
                    "selector": {"residency": "eu"},
                    "allowed": {
                        "countries": list(EU_EEA),
                        "site_types": ["small-dc", "colo", "edge"],
                    },
                },
            )
        )
    if ("residency", "apac") in used_labels:
        policies.append(
            make_doc(
                "Policy",
                "apac-residency",
                {"selector": {"residency": "apac"}, "allowed": {"countries": list(APAC_RESIDENT)}},
            )
        )
    if ("class", "training") in used_labels:
        policies.append(
            make_doc(
                "Policy",
                "no-edge-for-training",
                {
                    "selector": {"class": "training"},
                    "allowed": {"site_types": ["small-dc", "colo", "hyperscaler"]},
                },
            )
        )
    if ("tier", "best-effort") in used_labels:
        policies.append(
            make_doc(
                "Policy",
                "best-effort-owned-only",
                {
                    "selector": {"tier": "best-effort"},
                    "allowed": {"site_types": ["small-dc", "colo", "edge"]},
                },
            )
        )
    objective = make_doc("Objective", "default", {"carbon_price_per_tonne": 80.0, "resilience": "none"})
    return [*regions.values(), *site_docs, *workload_docs, *policies, objective]


_MODELS = {
    "Region": Region,
    "Site": Site,
    "Workload": Workload,
    "Policy": Policy,
    "Objective": Objective,
}


def fleet_from_documents(docs: Sequence[Doc]) -> Fleet:
    """Validate every document with its pydantic model (the same path as YAML loading)."""
    return Fleet.of(_MODELS[d["kind"]].model_validate(d) for d in docs)


def generate(sites: int, workloads: int, seed: int = 0, tightness: float = 0.75) -> Fleet:
    """A realistic synthetic fleet whose GPU demand is ~ tightness x its GPU supply."""
    return fleet_from_documents(documents(sites, workloads, seed, tightness))


def required_gpus(fleet: Fleet) -> int:
    """GPUs the workloads need: replicas.min of jobs, replicas for all demand of inference."""
    total = 0
    for w in fleet.workloads.values():
        spec = w.spec
        n = spec.replicas.min
        if spec.type == "inference" and spec.rps_per_replica:
            n = max(n, math.ceil(sum(spec.demand.values()) / spec.rps_per_replica - 1e-9))
        total += n * spec.replica.gpus
    return total


def describe(fleet: Fleet) -> dict[str, Any]:
    """Counts that say what kind of instance this is."""
    types: dict[str, int] = {}
    for s in fleet.sites.values():
        types[s.spec.type] = types.get(s.spec.type, 0) + 1
    mix: dict[str, int] = {}
    for w in fleet.workloads.values():
        mix[w.spec.type] = mix.get(w.spec.type, 0) + 1
    supply = sum(p.count for s in fleet.sites.values() for p in s.spec.gpus)
    need = required_gpus(fleet)
    return {
        "regions": len(fleet.regions),
        "sites": len(fleet.sites),
        "site_types": types,
        "workloads": len(fleet.workloads),
        "mix": mix,
        "gpus": supply,
        "gpus_needed": need,
        "demand_ratio": round(need / supply, 3) if supply else 0.0,
        "pools": sum(len(s.spec.gpus) for s in fleet.sites.values()),
        "policies": list(fleet.policies),
    }


def write(docs: Sequence[Doc], folder: Path) -> list[Path]:
    """Write the documents as YAML files (format v1), one file per kind."""
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "Region": "regions.yaml",
        "Site": "sites.yaml",
        "Workload": "workloads.yaml",
        "Policy": "policies.yaml",
        "Objective": "objective.yaml",
    }
    out = []
    for kind, file in files.items():
        group = [d for d in docs if d["kind"] == kind]
        if not group:
            continue
        path = folder / file
        with path.open("w", encoding="utf-8") as fh:
            fh.write(f"# generated by benchmarks/fleetgen.py: {len(group)} {kind} resources\n")
            yaml.dump_all(group, fh, Dumper=dumper, sort_keys=False, default_flow_style=None, width=120)
        out.append(path)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--sites", type=int, default=20)
    ap.add_argument("--workloads", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tightness", type=float, default=0.75)
    ap.add_argument("--write", type=Path, metavar="DIR", help="write the fleet as YAML files into DIR")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    docs = documents(args.sites, args.workloads, args.seed, args.tightness)
    fleet = fleet_from_documents(docs)
    took = time.perf_counter() - t0
    info = describe(fleet)
    print(f"generated in {took:.2f} s: {info}")
    if args.write:
        files = write(docs, args.write)
        print(f"wrote {len(files)} files to {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
