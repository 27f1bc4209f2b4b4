"""Feature flag figures: evaluations per second in-process, and OFREP round trips to an agent's listener.

    .venv/bin/python benchmarks/flags_bench.py [--flags 100] [--rules 10] [--requests 2000]

In-process: `rollout.flags.evaluate_site` on a flag whose `--rules` rules all hold at the
site, each with a context condition that fails but the last (worst case: every rule is
tried), then the same with a percentage (a SHA-256 per evaluation). Over HTTP: the
listener of agent/ofrep.py on loopback, one keep-alive client, sequential requests:
single evaluations, then bulk evaluations of `--flags` flags, with percentiles.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from fleetyard.agent.ofrep import FlagBook, OfrepServer
from fleetyard.rollout.flags import SiteFacts, evaluate_site, resolve
from fleetyard.spec.models import Flag

FACTS = SiteFacts(site="fra-1", country="DE", region="eu-central", labels={"tier": "3"})


def _flag(name: str, rules: int, percent: float | None) -> Flag:
    spec: dict[str, Any] = {"type": "integer", "default": 0, "rules": [
        {"match": {"country": ["DE"], "context": {"plan": [f"plan-{i}" if i < rules - 1 else "pro"]}},
         "variant": i + 1, **({"percent": percent} if percent is not None and i == rules - 1 else {})}
        for i in range(rules)]}
    return Flag.model_validate({"apiVersion": "fleetyard/v1", "kind": "Flag", "metadata": {"name": name},
                                "spec": spec})


def _rate(fn: Any, seconds: float = 2.0) -> float:
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(200):
            fn()
        n += 200
    return n / elapsed


def _percentiles(samples: list[float]) -> str:
    q = statistics.quantiles(samples, n=100)
    return f"p50 {q[49] * 1000:.2f} ms, p99 {q[98] * 1000:.2f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flags", type=int, default=100)
    ap.add_argument("--rules", type=int, default=10)
    ap.add_argument("--requests", type=int, default=2000)
    args = ap.parse_args()
    ctx = {"targetingKey": "user-42", "plan": "pro"}
    plain = resolve(_flag("plain", args.rules, None), FACTS)
    split = resolve(_flag("split", args.rules, 50.0), FACTS)
    print(f"in-process, {args.rules} rules tried: {_rate(lambda: evaluate_site(plain, ctx)):,.0f} evaluations/s; "
          f"with a percentage: {_rate(lambda: evaluate_site(split, ctx)):,.0f}/s")

    with tempfile.TemporaryDirectory() as tmp:
        book = FlagBook(Path(tmp) / "flags.json")
        flags = [resolve(_flag(f"flag-{i:03d}", args.rules, 50.0 if i % 2 else None), FACTS)
                 for i in range(args.flags)]
        book.update(flags, "bench")
        server = OfrepServer(book, "127.0.0.1", 0)
        server.start()
        try:
            with httpx.Client(base_url=server.url, timeout=30) as client:
                for _ in range(50):  # warm up
                    client.post("/ofrep/v1/evaluate/flags/flag-001", json={"context": ctx})
                single: list[float] = []
                for _ in range(args.requests):
                    t = time.perf_counter()
                    r = client.post("/ofrep/v1/evaluate/flags/flag-001", json={"context": ctx})
                    single.append(time.perf_counter() - t)
                    assert r.status_code == 200
                bulk: list[float] = []
                for _ in range(max(args.requests // 10, 20)):
                    t = time.perf_counter()
                    r = client.post("/ofrep/v1/evaluate/flags", json={"context": ctx})
                    bulk.append(time.perf_counter() - t)
                    assert r.status_code == 200 and len(r.json()["flags"]) == args.flags
                etag = r.headers["ETag"]
                cached: list[float] = []
                for _ in range(max(args.requests // 10, 20)):
                    t = time.perf_counter()
                    r = client.post("/ofrep/v1/evaluate/flags", json={"context": ctx}, headers={"If-None-Match": etag})
                    cached.append(time.perf_counter() - t)
                    assert r.status_code == 304
        finally:
            server.stop()
    print(f"OFREP single evaluation over loopback: {len(single) / sum(single):,.0f} requests/s sequential, "
          f"{_percentiles(single)}")
    print(f"OFREP bulk, {args.flags} flags: {_percentiles(bulk)}; unchanged (304): {_percentiles(cached)}")


if __name__ == "__main__":
    main()
