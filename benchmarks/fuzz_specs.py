"""Fuzz the spec loader with seeded hostile fleets, in subprocess batches; count what went wrong.

    python benchmarks/fuzz_specs.py --cases 10000 --seed 0
    python benchmarks/fuzz_specs.py --show 4711 --seed 0 --write /tmp/case   # one case, to reproduce it

Cases come from `tests/robustness/mutator.py` (the same mutator the test suite runs on a
smaller count): case i of seed s is always the same fleet. Worker processes load the
cases in-process one after another, as `fleetyard validate` or the server would, and
report each one; the parent watches them:

* traceback: the loader raised anything but the documented `SpecError`;
* hang: a case ran longer than `--timeout` seconds (10): the worker is killed, the next
  case runs in a new one;
* over memory: the worker's peak RSS (the whole process, interpreter included) passed
  `--rss-mb` (300) during the case; the worker is replaced so the next case starts low.

Prints the machine, the counts, the slowest case and the highest peak RSS, and the
first tracebacks with their case numbers. Exits 1 if any count is not 0.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import selectors
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from machineinfo import machine  # noqa: E402
from tests.robustness.mutator import make_case, run_case  # noqa: E402

ADDRESS_SPACE = 4 << 30  # a worker never takes the machine down with it
STARTUP_GRACE = 30.0  # seconds a new worker may take to import before its first case


def worker(seed: int, start: int, stop: int, rss_mb: float) -> int:
    """Run cases start..stop-1 and print one JSON line before and after each."""
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    for i in range(start, stop):
        case = make_case(seed, i)
        if _peak_mb() > rss_mb:  # the mutator, not the loader: say so, and go on in a fresh process
            print(json.dumps({"i": i, "event": "generator", "detail": f"making the case took {_peak_mb():.0f} MB"}),
                  flush=True)
            return 0
        print(json.dumps({"i": i, "event": "start"}), flush=True)
        began = time.perf_counter()
        try:
            outcome, detail = run_case(case)
        except MemoryError:
            outcome, detail = "memory", "MemoryError at the address-space limit"
        seconds = time.perf_counter() - began
        peak = _peak_mb()
        if peak > rss_mb and outcome != "memory":
            outcome, detail = "memory", f"peak RSS {peak:.0f} MB"
        print(json.dumps({"i": i, "event": "done", "outcome": outcome, "seconds": round(seconds, 4),
                          "rss_mb": round(peak, 1), "bytes": case.size, "mutations": case.mutations,
                          "detail": detail if outcome in ("crash", "memory") else ""}), flush=True)
        if outcome == "memory":
            return 0  # start the next case in a fresh process
    return 0


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _spawn(seed: int, start: int, stop: int, rss_mb: float) -> subprocess.Popen[str]:
    cmd = [sys.executable, __file__, "--worker", "--seed", str(seed), "--start", str(start), "--stop", str(stop),
           "--rss-mb", str(rss_mb)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, start_new_session=True)


def _kill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def run(seed: int, cases: int, batch: int, timeout: float, rss_mb: float) -> dict[str, Any]:
    """Every case once, in batches of workers; returns the counts and the worst cases."""
    counts: Counter[str] = Counter()
    crashes: list[dict[str, Any]] = []
    slowest: dict[str, Any] = {"seconds": 0.0}
    highest: dict[str, Any] = {"rss_mb": 0.0}
    by_mutation: Counter[str] = Counter()
    generator: list[dict[str, Any]] = []  # cases the mutator could not make within bounds (not loader faults)
    began = time.perf_counter()
    next_case = 0
    while next_case < cases:
        stop = min(cases, next_case + batch)
        proc = _spawn(seed, next_case, stop, rss_mb)
        assert proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        # Between cases the worker makes the next one: that is the mutator's time, not the
        # loader's, and has its own (generous) deadline; a case's own time starts at "start".
        current, running, deadline = next_case, False, time.monotonic() + STARTUP_GRACE
        while True:
            if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                _kill(proc)
                if running:
                    counts["hang"] += 1
                    crashes.append({"i": current, "outcome": "hang", "detail": f"no answer within {timeout} s"})
                else:
                    generator.append({"i": current, "detail": f"making the case took over {STARTUP_GRACE} s"})
                next_case = current + 1
                break
            line = proc.stdout.readline()
            if not line:  # the worker ended: its batch is done, or it stopped after a memory case
                proc.wait()
                if proc.returncode != 0:
                    died = {"i": current, "outcome": "worker died", "detail": f"exit {proc.returncode}"}
                    if running:  # inside the loader
                        counts["crash"] += 1
                        crashes.append(died)
                    else:
                        generator.append(died)
                    next_case = current + 1
                break
            msg = json.loads(line)
            if msg["event"] == "start":
                current, running, deadline = msg["i"], True, time.monotonic() + timeout
                continue
            if msg["event"] == "generator":
                generator.append(msg)
                next_case = msg["i"] + 1
                continue
            next_case = current = msg["i"] + 1
            running, deadline = False, time.monotonic() + STARTUP_GRACE
            counts[msg["outcome"]] += 1
            for m in msg["mutations"]:
                by_mutation[m.split(":", 1)[1]] += 1
            if msg["seconds"] > slowest["seconds"]:
                slowest = msg
            if msg["rss_mb"] > highest["rss_mb"]:
                highest = msg
            if msg["outcome"] in ("crash", "memory"):
                crashes.append(msg)
            if msg["seconds"] > timeout:  # finished, but later than the limit
                counts["hang"] += 1
        sel.close()
    return {"cases": cases, "seed": seed, "counts": dict(counts), "seconds": round(time.perf_counter() - began, 1),
            "slowest": {k: slowest.get(k) for k in ("i", "seconds", "bytes", "mutations")},
            "highest_rss": {k: highest.get(k) for k in ("i", "rss_mb", "bytes", "mutations")},
            "mutations_applied": dict(sorted(by_mutation.items())), "failures": crashes[:10],
            "not_made": generator[:10], "not_made_count": len(generator)}


def show(seed: int, index: int, write: Path | None) -> None:
    case = make_case(seed, index)
    print(f"case {index} of seed {seed}: {case.base}, {case.size:,} bytes, "
          f"{'texts (load_fleet_sources)' if case.as_texts else 'files (load_fleet)'}")
    for m in case.mutations:
        print(f"  {m}")
    if write is not None:
        write.mkdir(parents=True, exist_ok=True)
        for name, data in case.files.items():
            (write / name).write_bytes(data)
        print(f"written to {write}: fleetyard validate {write}")
    outcome, detail = run_case(case)
    print(outcome, detail)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=500, help="cases per worker process")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds a case may take before it is a hang")
    ap.add_argument("--rss-mb", type=float, default=300.0, help="peak RSS of a worker that counts as over memory")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    ap.add_argument("--show", type=int, metavar="I", help="run and describe case I only")
    ap.add_argument("--write", type=Path, metavar="DIR", help="with --show: write the case's files into DIR")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--stop", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args.seed, args.start, args.stop, args.rss_mb)
    if args.show is not None:
        show(args.seed, args.show, args.write)
        return 0
    info = machine("PyYAML", "pydantic")
    result = run(args.seed, args.cases, args.batch, args.timeout, args.rss_mb)
    result["machine"] = info
    result["command"] = "python benchmarks/fuzz_specs.py " + " ".join(argv if argv is not None else sys.argv[1:])
    bad = {k: result["counts"].get(k, 0) for k in ("crash", "hang", "memory")}
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
        c = result["counts"]
        print(f"{args.cases:,} cases, seed {args.seed}, {result['seconds']} s: {c.get('valid', 0):,} valid, "
              f"{c.get('invalid', 0):,} invalid (SpecError)")
        print(f"tracebacks {bad['crash']}, hangs over {args.timeout:g} s {bad['hang']}, "
              f"over {args.rss_mb:g} MB RSS {bad['memory']}")
        s, h = result["slowest"], result["highest_rss"]
        print(f"slowest case {s['i']}: {s['seconds']} s, {s['bytes']:,} bytes ({', '.join(s['mutations'])})")
        print(f"highest peak RSS {h['rss_mb']} MB at case {h['i']} ({', '.join(h['mutations'])})")
        print("mutations applied: " + ", ".join(f"{k} {v:,}" for k, v in result["mutations_applied"].items()))
        for f in result["failures"]:
            print(f"case {f['i']}: {f['outcome']}: {f.get('detail', '')[-1500:]}")
        if result["not_made_count"]:
            print(f"{result['not_made_count']} case(s) the mutator could not make within bounds (skipped): "
                  + ", ".join(f"{g['i']} ({g['detail']})" for g in result["not_made"]))
    return 1 if any(bad.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
