"""Rollouts against the issue 10 targets, with a real server and real agents on loopback.

    .venv/bin/python benchmarks/rollout_bench.py [--sites 10] [--bake 10]

1. A version whose probe fails (its replicas answer /healthz with 500), rolled out as
   a canary (`waves: [{sites: 1}, {percent: 50}, {percent: 100}]`, `deadline_s` = `bake_s`;
   `deadline_s` is 120 s for the healthy version):
   on which sites did it ever run, and how long from the apply until the canary site is
   back on the old version (healthy)? Target: only wave 1; within bake_s + 10 s.
2. A healthy version over the same sites in 3 waves: how long from the apply until the
   rollout succeeded? Target: 3 x bake_s + 15 s.

The replicas are a small HTTP program (tests/agent/rollout_site.py `REPLICA`); heartbeat
0.5 s, controller tick 0.5 s, probe every 0.5 s. Prints the figures with the machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machineinfo import machine
from tests.agent.rollout_site import REPLICA

from fleetyard.agent.localfleet import LocalFleet, write_model
from fleetyard.services.client import ApiError
from fleetyard.services.wire import RolloutOut

SITE = """---
apiVersion: fleetyard/v1
kind: Site
metadata: {{name: {name}}}
spec:
  type: edge
  country: DE
  location: {{lat: {lat}, lon: 8.7}}
  gpus: [{{sku: L4, count: 2}}]
  power: {{it_capacity_kw: 2}}
  energy: {{price_per_kwh: 0.2, carbon_g_per_kwh: 300}}
"""
WORKLOAD = """---
apiVersion: fleetyard/v1
kind: Region
metadata: {{name: eu}}
spec: {{location: {{lat: 50.1, lon: 8.7}}}}
---
apiVersion: fleetyard/v1
kind: Workload
metadata: {{name: chat}}
spec:
  type: inference
  model: {model}
  replica: {{gpus: 1, gpu_memory_gb: 16}}
  replicas: {{min: {n}, max: {n}}}
  demand: {{eu: {rps}}}
  rps_per_replica: 10
  latency_slo_ms: 100
  spread: {{min_sites: {n}}}
  command: [{python}, "-c", {replica}]
  env: {{APP_OUT: {out}}}
  rollout:
    strategy: canary
    waves: [{{sites: 1}}, {{percent: 50}}, {{percent: 100}}]
    bake_s: {bake}
    health: {{probe: {{http: /healthz, timeout_s: 1, period_s: 0.5}}, deadline_s: {deadline}}}
"""


def _spec(folder: Path, model: str, sites: list[str], bake: float, out: Path, deadline: float = 120.0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = "".join(SITE.format(name=s, lat=50.0 + i * 0.01) for i, s in enumerate(sites))
    text += WORKLOAD.format(model=model, n=len(sites), rps=10 * len(sites), bake=bake, deadline=deadline,
                            python=json.dumps(sys.executable), replica=json.dumps(REPLICA), out=json.dumps(str(out)))
    (folder / "fleet.yaml").write_text(text, encoding="utf-8")
    return folder


def _chat(fleet: LocalFleet) -> dict[str, tuple[str, int]]:
    return {s.site: next(((w.model, w.replicas.healthy) for w in s.workloads if w.name == "chat"), ("-", 0))
            for s in fleet.status().sites}


def _until_ended(fleet: LocalFleet, to: str, seen: dict[str, set[str]], timeout: float = 600) -> RolloutOut:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for site, (model, _) in _chat(fleet).items():
            seen.setdefault(model, set()).add(site)
        try:
            r = fleet.client.rollout("chat")
            if r.to == to and r.state in ("succeeded", "rolled_back", "aborted"):
                return r
        except ApiError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the rollout to {to} did not end within {timeout} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sites", type=int, default=10)
    ap.add_argument("--bake", type=float, default=10.0)
    args = ap.parse_args()
    print(machine())
    sites = [f"site-{i:02d}" for i in range(args.sites)]
    with tempfile.TemporaryDirectory() as tmp, LocalFleet(Path(tmp) / "fleet", heartbeat=0.5) as fleet:
        out = Path(tmp) / "app"
        out.mkdir()
        spec = Path(tmp) / "spec"
        fleet.start_server(env={"FLEETYARD_TICK_INTERVAL": "0.5"})
        for n, code in ((1, 200), (2, 500), (3, 200)):
            folder = write_model(fleet.root / "models" / str(n), version=n, tensors=2, rows=32)
            (folder / "app.json").write_text(json.dumps({"healthz": code}))
            fleet.push(folder, "chat-llm", str(n))
        fleet.apply(_spec(spec, "chat-llm:1", sites, args.bake, out))
        for s in sites:
            fleet.start_agent(s, relay=False)
        fleet.wait_for(lambda st: all(v == ("chat-llm:1", 1) for v in _chat(fleet).values()),
                       "chat-llm:1 healthy everywhere", 300)

        seen: dict[str, set[str]] = {}
        t0 = time.monotonic()
        fleet.apply(_spec(spec, "chat-llm:2", sites, args.bake, out, deadline=args.bake))
        bad = _until_ended(fleet, "chat-llm:2", seen)
        t_rolled_back = time.monotonic() - t0
        canary = bad.waves[0].sites[0]
        while _chat(fleet).get(canary) != ("chat-llm:1", 1):
            time.sleep(0.1)
        t_back = time.monotonic() - t0
        print(f"1. failing probe: {bad.state} after {t_rolled_back:.1f} s ({bad.reason}); canary {canary} back on "
              f"chat-llm:1 and healthy {t_back:.1f} s after the apply (target bake_s + 10 = {args.bake + 10:.0f} s); "
              f"chat-llm:2 ran at {sorted(seen.get('chat-llm:2', set()))} (target: wave 1 = [{canary}])")

        t0 = time.monotonic()
        fleet.apply(_spec(spec, "chat-llm:3", sites, args.bake, out))
        good = _until_ended(fleet, "chat-llm:3", {})
        t_good = time.monotonic() - t0
        waves = [len(w.sites) for w in good.waves]
        print(f"2. healthy rollout over {len(sites)} sites in {len(waves)} waves {waves}: {good.state} "
              f"{f'({good.reason}) ' if good.reason else ''}"
              f"{t_good:.1f} s after the apply (target 3 x bake_s + 15 = {3 * args.bake + 15:.0f} s)")
        for w in good.waves:  # each wave: switched and healthy (the gates), then baked
            if w.started_at and w.finished_at:
                took = (w.finished_at - w.started_at).total_seconds()
                print(f"   wave {w.index} ({len(w.sites)} sites): {took:.1f} s = {took - args.bake:.1f} s until every "
                      f"site was healthy on the new version + {args.bake:g} s bake")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
