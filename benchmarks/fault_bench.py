"""SIGKILL the control plane mid-apply at many seeded random points, per database.

    .venv/bin/python benchmarks/fault_bench.py --kills 50               # SQLite and PostgreSQL
    .venv/bin/python benchmarks/fault_bench.py --kills 10 --db sqlite --seed 3

For each database a real `fleetyard server` process (SQLite in a temporary folder;
PostgreSQL: a throwaway database on 127.0.0.1:5432, dropped at the end) gets the test
fleet plus a pool of 300 regions; then each attempt sends one apply (a random share of
the pool relabelled, up to 20 new regions), kills the server with SIGKILL at a random
time or inside its write transaction, restarts it, and checks that an apply answered
200 is there whole and that no apply is half there (tests/robustness_api/kills.py).
Prints one line per kill, a summary per database, and the summaries as JSON last.
Exit status 1 if anything acknowledged was lost or anything was half applied.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.robustness_api import kills  # noqa: E402 (the campaign the CI test runs, at full size)
from tests.server.conftest import Postgres, ServerProcess  # noqa: E402


def campaign(backend: str, n: int, seed: int) -> dict[str, object]:
    folder = Path(tempfile.mkdtemp(prefix=f"fleetyard-faults-{backend}-"))
    pg = Postgres() if backend == "postgres" else None
    server: ServerProcess | None = None
    try:
        db = pg.new_database() if pg is not None else None
        server = ServerProcess(folder / "server", db).start()
        started = time.monotonic()
        result = kills.run(server, db, backend, n, seed)
        summary = {**result.summary(), "seconds": round(time.monotonic() - started, 1),
                   "lost_attempts": result.lost, "partial_details": result.partial}
        print(f"{backend}: {json.dumps(summary)}", flush=True)
        return summary
    finally:
        if server is not None:
            server.stop()
        if pg is not None:
            pg.drop_all()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up (server, database) when stopped
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50, help="kills per database (default 50)")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--seed", type=int, default=9, help="seed of the first database (the next gets seed+1)")
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    summaries = [campaign(b, args.kills, args.seed + i) for i, b in enumerate(backends)]
    print(json.dumps(summaries, indent=1))
    return 1 if any(s["lost"] or s["partial"] for s in summaries) else 0


if __name__ == "__main__":
    sys.exit(main())
