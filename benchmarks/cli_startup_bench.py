"""How long `fleetyard` takes before it answers (issue 13: kubectl answers in tens of ms).

    python benchmarks/cli_startup_bench.py [--runs 7]

Each command runs `--runs` times as `python -m fleetyard ...` (the console script's path:
only the command's module is imported, cli/main.py). The baselines run in the same
process, interleaved: `python -c pass` (the interpreter alone) and the same command
through the whole command tree (`fleetyard.cli.app`, what every command paid before).
Prints min / median / max wall seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machineinfo import machine

EXAMPLES = str(Path(__file__).resolve().parents[1] / "examples" / "fleet")
COMMANDS = [["--version"], ["config", "get-contexts"], ["get", "--help"], ["validate", EXAMPLES]]
WHOLE_TREE = "import sys; from fleetyard.cli.app import app; sys.argv[0] = 'fleetyard'; app()"


def _once(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300, check=False)
    return time.perf_counter() - start


def _stats(xs: list[float]) -> str:
    return f"{min(xs):.3f} / {statistics.median(xs):.3f} / {max(xs):.3f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    home = tempfile.mkdtemp(prefix="fy-startup-")
    env = {**os.environ, "HOME": home, "FLEETYARD_CONFIG": str(Path(home) / "config.yaml")}
    print(json.dumps({"machine": machine("typer", "pydantic")}))
    py = sys.executable
    bare = [_once([py, "-c", "pass"], env) for _ in range(runs)]
    print(f"{'python -c pass':<42} {_stats(bare)}")
    for args in COMMANDS:
        lazy: list[float] = []
        whole: list[float] = []
        for _ in range(runs):  # interleaved, so load on the machine hits both alike
            lazy.append(_once([py, "-m", "fleetyard", *args], env))
            whole.append(_once([py, "-c", WHOLE_TREE, *args], env))
        label = "fleetyard " + " ".join(a if a != EXAMPLES else "examples/fleet" for a in args)
        print(f"{label:<42} {_stats(lazy)}   whole tree {_stats(whole)}   "
              f"x{statistics.median(whole) / statistics.median(lazy):.1f}")


if __name__ == "__main__":
    main()
