"""Replication benchmarks: delta bytes, relay egress, bandwidth cap, apply-to-running time.

Everything runs for real on loopback: `fleetyard server` and `fleetyard agent` processes
(`fleetyard.agent.localfleet`), models written as safetensors with numpy and signed.

    python benchmarks/replication_bench.py                 # all, sizes 3, 10, 50
    python benchmarks/replication_bench.py --only delta,relay,cap --sizes 3,10

1. delta   - bytes each site fetches for a model update vs what `registry diff` says
             is new (target <= 1.1x).
2. relay   - center egress (the server's own `fleetyard_registry_bytes_served_total`)
             for a rollout to 6 sites in 2 regions, with relay and without (target
             <= one copy per region): the first rollout with one site per region
             started first, then an update pushed to all running sites at once.
3. cap     - a real 30 s transfer from the server over HTTP under a 20 Mbit/s cap,
             through the same HttpBackend + TokenBucket + sync_version the agent
             uses; achieved rate overall and per 5 s window (target within 10%).
4. apply   - seconds from `apply` to every site running the new version (active,
             replicas healthy) for 3, 10 and 50 agents as processes. Light mode
             for every size: the workload is `sleep` (not Python), agents do not
             listen (no relay threads, no --relay-wait), heartbeat 1 s; at 50 sites
             the default 5 s heartbeat and agents started 10 at a time (on 2 cores
             the server and 50 agent processes share the CPU).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml
from machineinfo import machine

from fleetyard.agent.localfleet import LocalFleet, write_model
from fleetyard.registry import diff_versions, missing_chunks, open_store
from fleetyard.replication import ByteLedger, MeteredBackend, Source, TokenBucket, sync_version
from fleetyard.services.http_backend import HttpBackend
from fleetyard.services.wire import FleetStatus


def fleet_spec(folder: Path, regions: int, per_region: int, model: str) -> Path:
    """`regions` regions 500 km apart, `per_region` sites a few km apart in each; one workload on all."""
    folder.mkdir(parents=True, exist_ok=True)
    docs: list[dict[str, object]] = [
        {
            "apiVersion": "fleetyard/v1",
            "kind": "Objective",
            "metadata": {"name": "default"},
            "spec": {"carbon_price_per_tonne": 0, "resilience": "none"},
        }
    ]
    demand = {}
    for r in range(regions):
        lat, lon = 48.0 + 2.0 * (r % 5), 2.0 + 6.0 * (r // 5) + 1.5 * r
        docs.append(
            {
                "apiVersion": "fleetyard/v1",
                "kind": "Region",
                "metadata": {"name": f"region-{r}"},
                "spec": {"location": {"lat": lat, "lon": lon}},
            }
        )
        demand[f"region-{r}"] = 1
        for s in range(per_region):
            docs.append(
                {
                    "apiVersion": "fleetyard/v1",
                    "kind": "Site",
                    "metadata": {"name": f"r{r}-s{s}"},
                    "spec": {
                        "type": "edge",
                        "country": "DE",
                        "location": {"lat": lat + 0.01 * s, "lon": lon + 0.01 * s},
                        "gpus": [{"sku": "L4", "count": 2}],
                        "power": {"it_capacity_kw": 1},
                        "energy": {"price_per_kwh": 0.2, "carbon_g_per_kwh": 300},
                    },
                }
            )
    n = regions * per_region
    docs.append(
        {
            "apiVersion": "fleetyard/v1",
            "kind": "Workload",
            "metadata": {"name": "serve"},
            "spec": {
                "type": "batch",
                "model": model,
                "replica": {"gpus": 1},
                "replicas": {"min": n, "max": n},
                "spread": {"min_sites": n},
                "command": ["sleep", "1000000"],
            },
        }
    )
    (folder / "fleet.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return folder


def sites_of(regions: int, per_region: int) -> list[str]:
    return [f"r{r}-s{s}" for r in range(regions) for s in range(per_region)]


def center_bytes(fleet: LocalFleet) -> float:
    text = httpx.get(f"{fleet.url}/metrics", headers={"Authorization": f"Bearer {fleet.admin}"}).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("fleetyard_registry_bytes_served_total")
    )


def per_site(st: FleetStatus, ref: str) -> dict[str, dict[str, int]]:
    return {s.site: next((m.bytes_by_source for m in s.models if m.ref == ref), {}) for s in st.sites}


def bench_delta(tmp: Path) -> dict[str, object]:
    sites = sites_of(1, 3)
    with LocalFleet(tmp / "delta", heartbeat=1.0) as f:
        f.start_server()
        spec = fleet_spec(tmp / "delta-spec", 1, 3, "big@prod")
        v1 = f.push(write_model(tmp / "big1", version=1, tensors=32, rows=512), "big", "1", alias="prod")
        f.apply(spec)
        for s in sites:
            f.start_agent(s, relay=False)
        f.wait_for(f.running(sites, "big:1"), "big:1 everywhere", 180)
        f.push(write_model(tmp / "big3", version=3, tensors=32, rows=512), "big", "3", alias="prod")
        f.apply(spec)
        st = f.wait_for(f.running(sites, "big:3"), "big:3 everywhere", 180)
        diff = diff_versions(open_store(f.root / "server" / "registry"), "big:1", "big:3")
    fetched = {s: sum(b.values()) for s, b in per_site(st, "big:3").items()}
    return {
        "model_bytes": v1.manifest.size,
        "diff_fetch_bytes": diff.fetch_bytes,
        "fetched": fetched,
        "ratio_max": round(max(fetched.values()) / diff.fetch_bytes, 4),
    }


def bench_relay(tmp: Path, relay: bool) -> dict[str, object]:
    regions, per = 2, 3
    sites = sites_of(regions, per)
    seeds = [f"r{r}-s0" for r in range(regions)]
    with LocalFleet(tmp / f"relay-{relay}", heartbeat=1.0) as f:
        f.start_server()
        spec = fleet_spec(tmp / f"relay-spec-{relay}", regions, per, "mid@prod")
        v1 = f.push(write_model(tmp / "mid1", version=1, tensors=32, rows=128), "mid", "1", alias="prod")
        f.apply(spec)
        before = center_bytes(f)
        for s in seeds:
            f.start_agent(s, relay=relay)
        f.wait_for(f.running(seeds, "mid:1"), "mid:1 at the seeds", 120)
        for s in sites:
            if s not in seeds:
                f.start_agent(s, relay=relay)
        st1 = f.wait_for(f.running(sites, "mid:1"), "mid:1 everywhere", 120)
        first = center_bytes(f) - before
        f.push(write_model(tmp / "mid2", version=2, tensors=32, rows=128), "mid", "2", alias="prod")
        new = diff_versions(open_store(f.root / "server" / "registry"), "mid:1", "mid:2").fetch_bytes
        before = center_bytes(f)
        f.apply(spec)
        st2 = f.wait_for(f.running(sites, "mid:2"), "mid:2 everywhere", 120)
        update = center_bytes(f) - before
    return {
        "relay": relay,
        "sites": len(sites),
        "regions": regions,
        "model_bytes": v1.manifest.size,
        "first_rollout_center_bytes": int(first),
        "first_rollout_copies": round(first / v1.manifest.size, 2),
        "update_new_bytes": new,
        "update_center_bytes": int(update),
        "update_copies": round(update / new, 2),
        "first_by_site": per_site(st1, "mid:1"),
        "update_by_site": per_site(st2, "mid:2"),
    }


def bench_cap(tmp: Path, mbps: float = 20.0, seconds: float = 30.0) -> dict[str, object]:
    rate = mbps * 1e6 / 8
    rows = int(rate * seconds / 32 / 4096)
    with LocalFleet(tmp / "cap", heartbeat=1.0) as f:
        f.start_server()
        f.push(write_model(tmp / "capm", version=1, tensors=32, rows=rows), "cap", "1")
        need = missing_chunks(open_store(f.root / "server" / "registry"), "cap:1").total_bytes
        bucket = TokenBucket.from_mbps(mbps)
        marks: list[tuple[float, int]] = []
        ledger = ByteLedger(on_bytes=lambda _s, n: marks.append((time.monotonic(), n)))
        backend = HttpBackend(f.url, f.admin, throttle=bucket.throttle)
        local = open_store(tmp / "cap-site", create=True)
        start = time.monotonic()
        result = sync_version(
            "cap:1",
            [Source("center", MeteredBackend(backend, "center", ledger))],
            local,
            max_range=bucket.request_size(),
        )
        elapsed = time.monotonic() - start
        backend.close()
    total = ledger.total
    windows = []
    for w in range(int(elapsed // 5)):
        lo, hi = start + 5 * w, start + 5 * (w + 1)
        windows.append(round(sum(n for t, n in marks if lo <= t < hi) * 8 / 5 / 1e6, 2))
    achieved = total * 8 / elapsed / 1e6
    return {
        "cap_mbps": mbps,
        "outcome": result.outcome,
        "bytes": total,
        "chunk_bytes_needed": need,
        "seconds": round(elapsed, 2),
        "achieved_mbps": round(achieved, 3),
        "error_pct": round(100 * (achieved - mbps) / mbps, 2),
        "per_5s_window_mbps": windows,
    }


def bench_apply(tmp: Path, n: int) -> dict[str, object]:
    regions = max(1, min(5, n // 3))
    per = -(-n // regions)
    sites = sites_of(regions, per)[:n]
    hb = 5.0 if n >= 30 else 1.0
    with LocalFleet(tmp / f"apply-{n}", heartbeat=hb) as f:
        f.start_server()
        spec = fleet_spec(tmp / f"apply-spec-{n}", regions, per, "small@prod")
        if len(sites) < regions * per:  # drop the surplus sites from the spec
            docs = [
                d
                for d in yaml.safe_load_all((spec / "fleet.yaml").read_text())
                if d["kind"] != "Site" or d["metadata"]["name"] in sites
            ]
            for d in docs:
                if d["kind"] == "Workload":
                    d["spec"]["replicas"] = {"min": n, "max": n}
                    d["spec"]["spread"] = {"min_sites": n}
            (spec / "fleet.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
        f.push(write_model(tmp / f"small1-{n}", version=1), "small", "1", alias="prod")
        f.apply(spec)
        t_start = time.monotonic()
        for i, s in enumerate(sites):  # no relay, so no waiting for peers either
            f.start_agent(s, relay=False, extra=["--relay-wait", "0", "--connect-timeout", "300"])
            if n >= 30 and i % 10 == 9:
                time.sleep(5)  # start 10 agents at a time: 2 cores also run the server
        f.wait_for(f.running(sites, "small:1"), "small:1 everywhere", 600)
        first = time.monotonic() - t_start
        f.push(write_model(tmp / f"small2-{n}", version=2), "small", "2", alias="prod")
        t0 = time.monotonic()
        f.apply(spec)
        applied = time.monotonic() - t0
        f.wait_for(f.running(sites, "small:2"), "small:2 everywhere", 600)
        total = time.monotonic() - t0
        errors = f.status_errors
    return {
        "sites": n,
        "heartbeat_s": hb,
        "agents_start_to_running_v1_s": round(first, 1),
        "apply_call_s": round(applied, 2),
        "apply_to_all_running_s": round(total, 1),
        "status_errors_while_waiting": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="delta,relay,cap,apply")
    parser.add_argument("--sizes", default="3,10,50")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (logs of server and agents)")
    args = parser.parse_args()
    only = set(args.only.split(","))
    out: dict[str, object] = {"machine": machine()}
    print(json.dumps(out["machine"]), flush=True)
    with tempfile.TemporaryDirectory(prefix="fy-repl-bench-") as d:
        tmp = Path(d)
        if args.keep:
            tmp = args.keep
            tmp.mkdir(parents=True, exist_ok=True)
        if "delta" in only:
            out["delta"] = r = bench_delta(tmp)
            print("delta:", json.dumps(r), flush=True)
        if "relay" in only:
            out["relay"] = [bench_relay(tmp, True), bench_relay(tmp, False)]
            for r in out["relay"]:  # type: ignore[attr-defined]
                print("relay:", json.dumps({k: v for k, v in r.items() if not k.endswith("_by_site")}), flush=True)
        if "cap" in only:
            out["cap"] = r = bench_cap(tmp)
            print("cap:", json.dumps(r), flush=True)
        if "apply" in only:
            out["apply"] = []
            for n in (int(x) for x in args.sizes.split(",")):
                r = bench_apply(tmp, n)
                out["apply"].append(r)  # type: ignore[attr-defined]
                print("apply:", json.dumps(r), flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    sys.exit(main())
