"""Kill an agent mid-rollout (sync, materialize, activate) at random moments (issue 9).

    .venv/bin/python benchmarks/agent_kill_bench.py --kills 50 [--seed 9]

A center registry with a signed 4 MB model in two versions (m:2 changes 2 of 8
tensors); the agent's rollout runs in its own process, capped at 4 MB/s, and is
SIGKILLed at a uniform random moment within the time one whole rollout takes here;
after every kill the site is checked (store verifies, every version folder verifies
against the signing key, `active` points at a complete version); then one run to the
end must leave m:2 active. Prints the counts with the machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machineinfo import machine
from tests.replication.agentkill import run
from tests.replication.models import write_keys, write_model

from fleetyard.registry import open_store, push


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--seed", type=int, default=9)
    args = ap.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        priv, pub = write_keys(d, "signing")
        center = open_store(d / "center", create=True)
        push(center, write_model(d / "v1"), "m", "1", key=priv, workers=1)
        push(center, write_model(d / "v2", edit=2), "m", "2", key=priv, parent="m:1", workers=1)
        t0 = time.monotonic()
        campaign = run(center, d / "site", pub, args.kills, args.seed)
        seconds = time.monotonic() - t0
    print(f"{campaign.kills} killed mid-rollout (and {campaign.finished_before_kill} runs that finished before "
          f"their kill moment); rollout window {campaign.window:.1f} s; {seconds:.0f} s in all")
    print(f"active version right after each kill: {campaign.actives}")
    print(f"corrupt or half-written versions, broken active links, failed final runs: {len(campaign.problems)}")
    for p in campaign.problems:
        print(f"  {p}")
    return 1 if campaign.problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
