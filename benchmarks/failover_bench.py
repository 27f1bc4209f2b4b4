"""Failover benchmarks: how fast a dead site's work moves, and that flapping does not flap the fleet.

Everything runs for real on loopback: `fleetyard server` and four `fleetyard agent`
processes (`fleetyard.agent.localfleet`, process runtime), a small signed model.

    python benchmarks/failover_bench.py            # the issue's settings: grace 30 s, heartbeat 5 s, 5 min flapping
    python benchmarks/failover_bench.py --quick    # grace 5 s, heartbeat 1 s, hold-off 20 s, 60 s of flapping
    python benchmarks/failover_bench.py --only flap --grace 10   # stops longer than the grace: the hold-off at work

1. kill - SIGKILL the agent of the site running `chat`; seconds until `status` shows the
          site unavailable (target: grace + one heartbeat) and until `chat` runs healthy
          on other sites, within its residency policy (target: grace + 30 s).
2. flap - the agent is stopped (SIGKILL) and started every 20 s (quick: every 5 s) for
          5 minutes (quick: 60 s); how often its work moved out and back (`site.down`,
          `site.up` events; target: at most once each). With the default grace (30 s) a 20 s
          stop is never long enough to move work; `--grace 10` makes every stop a failure,
          so the run shows the hold-off keeping the work out until the flapping stopped.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from machineinfo import machine

from fleetyard.agent.localfleet import LocalFleet, write_model
from fleetyard.services.wire import FleetStatus

SLEEPER = "import time\ntime.sleep(10**6)\n"
SITES = {"fra-1": ("DE", 50.11, 8.68), "fra-2": ("DE", 50.05, 8.57), "par-1": ("FR", 48.86, 2.35),
         "nyc-1": ("US", 40.71, -74.0)}


def fleet_yaml() -> str:
    """Four edge sites (three in the EU); `chat` (2 replicas) must stay in DE or FR."""
    docs: list[dict[str, Any]] = [
        {"apiVersion": "fleetyard/v1", "kind": "Region", "metadata": {"name": "eu-central"},
         "spec": {"location": {"lat": 50.11, "lon": 8.68}}},
        {"apiVersion": "fleetyard/v1", "kind": "Objective", "metadata": {"name": "default"},
         "spec": {"carbon_price_per_tonne": 0, "resilience": "none"}},
        {"apiVersion": "fleetyard/v1", "kind": "Policy", "metadata": {"name": "eu-residency"},
         "spec": {"selector": {"residency": "eu"}, "allowed": {"countries": ["DE", "FR"]}}}]
    for name, (cc, lat, lon) in SITES.items():
        docs.append({"apiVersion": "fleetyard/v1", "kind": "Site", "metadata": {"name": name}, "spec": {
            "type": "edge", "country": cc, "location": {"lat": lat, "lon": lon},
            "gpus": [{"sku": "L4", "count": 2}], "power": {"it_capacity_kw": 1},
            "energy": {"price_per_kwh": 0.05 if name == "nyc-1" else 0.2, "carbon_g_per_kwh": 300}}})
    docs.append({"apiVersion": "fleetyard/v1", "kind": "Workload",
                 "metadata": {"name": "chat", "labels": {"residency": "eu"}},
                 "spec": {"type": "batch", "model": "chat-llm:1", "replica": {"gpus": 1},
                          "replicas": {"min": 2, "max": 2}, "command": [sys.executable, "-c", SLEEPER]}})
    return yaml.safe_dump_all(docs, sort_keys=False)


def chat_sites(st: FleetStatus) -> dict[str, int]:
    return {s.site: s.replicas.desired for s in st.sites if s.replicas.desired}


def healthy(st: FleetStatus, sites: dict[str, int]) -> bool:
    by = {s.site: s for s in st.sites}
    return bool(sites) and all(by[s].replicas.healthy >= n and not by[s].stale for s, n in sites.items())


def start(root: Path, grace: float, hold_off: float, heartbeat: float) -> tuple[LocalFleet, str]:
    fleet = LocalFleet(root, heartbeat=heartbeat)
    fleet.start_server(env={"FLEETYARD_FAILOVER_GRACE": str(grace), "FLEETYARD_FAILOVER_HOLD_OFF": str(hold_off)})
    fleet.push(write_model(root / "model", tensors=2, rows=16), "chat-llm", "1")
    (root / "fleet.yaml").write_text(fleet_yaml(), encoding="utf-8")
    fleet.apply(root / "fleet.yaml")
    for site in SITES:
        fleet.start_agent(site, extra=["--connect-timeout", "2", "--relay-wait", "0"])
    st = fleet.wait_for(lambda st: healthy(st, chat_sites(st)), "chat running", timeout=180)
    placed = chat_sites(st)
    return fleet, max(placed, key=lambda s: placed[s])


def kill(root: Path, grace: float, hold_off: float, heartbeat: float) -> dict[str, Any]:
    fleet, victim = start(root, grace, hold_off, heartbeat)
    try:
        t0 = time.monotonic()
        fleet.kill_agent(victim)
        fleet.wait_for(lambda st: not {s.site: s for s in st.sites}[victim].available, "unavailable",
                       timeout=grace + 300)
        unavailable = time.monotonic() - t0
        st = fleet.wait_for(lambda st: victim not in chat_sites(st) and sum(chat_sites(st).values()) == 2
                            and healthy(st, chat_sites(st)), "chat elsewhere", timeout=grace + 300)
        moved = time.monotonic() - t0
        return {"victim": victim, "now_on": chat_sites(st), "unavailable_s": round(unavailable, 2),
                "target_unavailable_s": grace + heartbeat, "running_elsewhere_s": round(moved, 2),
                "target_running_elsewhere_s": grace + 30, "residency_held": "nyc-1" not in chat_sites(st)}
    finally:
        fleet.close()


def flap(root: Path, grace: float, hold_off: float, heartbeat: float, every: float, duration: float) -> dict[str, Any]:
    fleet, victim = start(root, grace, hold_off, heartbeat)
    try:
        t0 = time.monotonic()
        cycles = 0
        while time.monotonic() - t0 < duration:
            fleet.kill_agent(victim, signal.SIGKILL)
            time.sleep(every)
            fleet.restart_agent(victim)
            time.sleep(every)
            cycles += 1
        fleet.wait_for(lambda st: {s.site: s for s in st.sites}[victim].available, "available again",
                       timeout=hold_off + 300)
        back_after = time.monotonic() - t0
        kinds = [e.kind for e in fleet.client.events(limit=10_000, subject=victim)]
        return {"victim": victim, "cycles": cycles, "stop_start_every_s": every, "duration_s": duration,
                "moved_out": kinds.count("site.down"), "moved_back": kinds.count("site.up"),
                "returns_seen": kinds.count("site.returning"), "available_again_after_s": round(back_after, 1),
                "replans": len(fleet.client.events(limit=10_000, kind="plan.replanned")),
                "target": "<= 1 out, <= 1 back"}
    finally:
        fleet.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short settings (minutes instead of ~15)")
    parser.add_argument("--only", default="kill,flap", help="comma-separated: kill, flap")
    for name in ("grace", "hold-off", "heartbeat", "every", "duration"):
        parser.add_argument(f"--{name}", type=float, default=None, help=f"override the {name} (seconds)")
    args = parser.parse_args()
    grace, hold_off, heartbeat, every, duration = (5.0, 20.0, 1.0, 5.0, 60.0) if args.quick else \
        (30.0, 300.0, 5.0, 20.0, 300.0)
    grace = args.grace if args.grace is not None else grace
    hold_off = args.hold_off if args.hold_off is not None else hold_off
    heartbeat = args.heartbeat if args.heartbeat is not None else heartbeat
    every = args.every if args.every is not None else every
    duration = args.duration if args.duration is not None else duration
    out: dict[str, Any] = {"machine": machine(), "settings": {"grace_s": grace, "hold_off_s": hold_off,
                                                             "heartbeat_s": heartbeat, "flap_every_s": every,
                                                             "flap_duration_s": duration, "quick": args.quick}}
    print(json.dumps(out, indent=2), flush=True)
    only = set(args.only.split(","))
    with tempfile.TemporaryDirectory(prefix="fleetyard-failover-bench-") as tmp:
        if "kill" in only:
            out["kill"] = kill(Path(tmp) / "kill", grace, hold_off, heartbeat)
            print(json.dumps({"kill": out["kill"]}, indent=2), flush=True)
        if "flap" in only:
            out["flap"] = flap(Path(tmp) / "flap", grace, hold_off, heartbeat, every, duration)
            print(json.dumps({"flap": out["flap"]}, indent=2), flush=True)


if __name__ == "__main__":
    main()
