"""How long a site takes to switch versions, and to switch back (issue 10, the agent's part).

    .venv/bin/python benchmarks/rollout_agent_bench.py [--rounds 3] [--replicas 4] [--period 0.5]

One real agent process, told its desired state directly (tests/agent/rollout_site.py),
replicas that answer /healthz, a signed registry on loopback. Each round, from the
moment the desired state changes to the moment every replica of the target version is
ready by the probe and nothing else runs (seen in the replicas' own records):

- switch, `max_unavailable` 1 and `max_unavailable` = replicas (a new version; includes
  its sync, a small delta);
- rollback after a completed switch (to the known-good version, from its kept folder);
- rollback mid-switch from a version whose probe fails (old replicas never stopped:
  the time until the failing new ones are gone).

The probe period bounds every figure from below (a replica is ready at its first
passing probe after 1 s up). Prints the median and the worst of each, with the machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machineinfo import machine
from tests.agent.rollout_site import Site, wait_until


def settled(site: Site, ref: str, n: int) -> bool:
    alive = site.lives.alive()
    return len(alive) == n and all(r["model"] == ref and r["ready"] is not None for r in alive)


def timed(site: Site, ref: str, n: int, change: dict[str, object]) -> float:
    t0 = time.monotonic()
    site.want(ref, replicas=n, **change)  # type: ignore[arg-type]
    wait_until(lambda: settled(site, ref, n), f"{ref} on {n} replicas", timeout=300, every=0.02)
    return time.monotonic() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--replicas", type=int, default=4)
    ap.add_argument("--period", type=float, default=0.5, help="probe period_s")
    args = ap.parse_args()
    n = args.replicas
    health = {"probe": {"http": "/healthz", "timeout_s": 2, "period_s": args.period}}
    print(machine())
    figures: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        site = Site(Path(tmp))
        try:
            version = 1
            good = site.push(str(version))
            site.want(good, replicas=n, health=health)
            site.start_agent()
            wait_until(lambda: settled(site, good, n), "the first version", timeout=300)
            for _ in range(args.rounds):
                for surge, label in ((1, "switch, max_unavailable 1"), (n, f"switch, max_unavailable {n}")):
                    version += 1
                    new = site.push(str(version))
                    figures.setdefault(label, []).append(
                        timed(site, new, n, {"health": health, "max_unavailable": surge, "keep": [good]}))
                    figures.setdefault("rollback after a completed switch", []).append(
                        timed(site, good, n, {"health": health, "keep": [new]}))
                version += 1
                bad = site.push(str(version), healthz=500)
                site.want(bad, replicas=n, health=health, max_unavailable=1, keep=[good])
                wait_until(lambda: any(r["model"] == bad and r["probes"] for r in site.lives.alive()),  # noqa: B023
                           "the failing version probed", timeout=300)
                figures.setdefault("rollback mid-switch (failing probe)", []).append(
                    timed(site, good, n, {"health": health, "keep": [bad]}))
        finally:
            site.close()
    print(f"\n{n} replicas, probe period {args.period:g} s, {args.rounds} rounds")
    print(f"{'':42} {'median':>8} {'worst':>8}")
    for label, xs in figures.items():
        print(f"{label:42} {statistics.median(xs):7.2f}s {max(xs):7.2f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
