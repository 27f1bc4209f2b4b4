"""Central telemetry (issue 12): what ingestion costs the server, a 7-day chart's time, storage.

    .venv/bin/python benchmarks/telemetry_bench.py                 # both databases, 60 s of load each
    .venv/bin/python benchmarks/telemetry_bench.py --db sqlite --seconds 30

(a) ingestion - a real `fleetyard server` process on loopback, 100 simulated sites each
    sending its heartbeat every 5 s (server_bench.report) with one sample of ~40 keys;
    the server's CPU (psutil, user + system, background rollups included) over
    `--seconds`, against the same load without samples (the baseline) in the same run.
    Target: the samples cost <= 10% of one core.
(b) chart - a database filled with 100 sites x 30 days under the default retention
    (telemetry_fill.py), then `history("gpu_power_w", site=..., 7 days)` at the
    automatic resolution, and at 1 minute, timed in-process. Target: <= 200 ms.
    Also `latest` (what a /metrics scrape reads, at most once per heartbeat interval).
(c) storage - the bytes of that history: the SQLite file, PostgreSQL's
    pg_total_relation_size. Target: <= 1 GB.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import secrets
import shutil
import signal
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
from server_bench import PG_ADMIN, fleet_yaml, machine_info, report, start_server
from telemetry_fill import SOURCES, WORKLOADS, fill, keys, size_bytes

from fleetyard.services.db import Database, migrate
from fleetyard.services.telemetry.query import history, latest

PERIOD = 5.0


def sample(beat: int) -> dict[str, Any]:
    values = {k: float((beat * 7 + i) % 997) for i, k in enumerate(keys())}
    return {"t": datetime.now(UTC).isoformat(), "values": values, "estimated": []}


def load(url: str, tokens: dict[str, str], seconds: float, with_samples: bool, out: Any) -> None:
    """The load generator (a separate process): each site every PERIOD s, spread evenly."""
    sites = sorted(tokens)
    start = time.monotonic() + 0.5
    stop_at = start + seconds
    sent, errors = [0], [0]
    lock = threading.Lock()

    def worker(mine: list[tuple[int, str]]) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            beat = 0
            while True:
                for i, site in mine:
                    due = start + beat * PERIOD + i * PERIOD / len(sites)
                    if due >= stop_at:
                        return
                    time.sleep(max(0.0, due - time.monotonic()))
                    body = report(site, beat)
                    body["workloads"] = []  # the bench fleet's sites run nothing; samples name the workloads
                    if with_samples:
                        body["samples"] = [sample(beat)]
                    try:
                        ok = http.put(f"/api/v1/sites/{site}/status", json=body,
                                      headers={"Authorization": f"Bearer {tokens[site]}"}).status_code == 204
                    except httpx.HTTPError:
                        ok = False
                    with lock:
                        sent[0] += 1
                        errors[0] += 0 if ok else 1
                beat += 1

    indexed = list(enumerate(sites))
    threads = [threading.Thread(target=worker, args=(indexed[k::8],)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put({"sent": sent[0], "errors": errors[0]})


def _database(kind: str) -> tuple[str | None, str | None]:
    if kind == "sqlite":
        return None, None
    import psycopg

    name = f"fleetyard_bench_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://root@127.0.0.1:5432/{name}", name


def _drop(name: str | None) -> None:
    if name:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def ingestion(kind: str, sites: int, seconds: float, warmup: float) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix=f"fleetyard-telemetry-{kind}-"))
    db, name = _database(kind)
    proc, url = start_server(data, db)
    try:
        admin = {"Authorization": f"Bearer {(data / 'admin.token').read_text().strip()}"}
        with httpx.Client(base_url=url, headers=admin, timeout=600) as http:
            http.post("/api/v1/apply", json={"files": [{"name": "b.yaml", "content": fleet_yaml(sites)}]}
                      ).raise_for_status()
            tokens = {f"sim-{i}": http.post("/api/v1/tokens", json={"role": "agent", "site": f"sim-{i}"}
                                            ).json()["token"] for i in range(sites)}
        out: dict[str, Any] = {"db": kind, "sites": sites, "seconds": seconds}
        server = psutil.Process(proc.pid)
        for phase, with_samples in (("baseline", False), ("samples", True)):
            q: Any = mp.get_context("spawn").Queue()
            gen = mp.get_context("spawn").Process(target=load, args=(url, tokens, warmup + seconds, with_samples, q))
            gen.start()
            time.sleep(warmup + 0.5)
            cpu0 = sum(server.cpu_times()[:2])
            time.sleep(seconds)
            cpu1 = sum(server.cpu_times()[:2])
            sent = q.get(timeout=120)
            gen.join(timeout=30)
            out[phase] = {"cpu_pct": 100 * (cpu1 - cpu0) / seconds, **sent}
        out["samples_cost_pct"] = out["samples"]["cpu_pct"] - out["baseline"]["cpu_pct"]
        with httpx.Client(base_url=url, headers=admin, timeout=60) as http:
            r = http.get("/api/v1/metrics/gpu_power_w", params={"site": "sim-0", "resolution": 0}).json()
            out["stored_points_sim0"] = sum(len(line["points"]) for line in r["lines"])
        return out
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except Exception:
            proc.kill()
        _drop(name)
        shutil.rmtree(data, ignore_errors=True)


def _timed(db: Database, repeat: int, **kw: Any) -> dict[str, Any]:
    times, points = [], 0
    for _ in range(repeat):
        with db.session() as s:
            t0 = time.perf_counter()
            r = history(s, "gpu_power_w", **kw)
            times.append(1000 * (time.perf_counter() - t0))
        points = sum(len(line.points) for line in r.lines)
    times.sort()
    return {"resolution": r.resolution, "points": points, "median_ms": statistics.median(times),
            "max_ms": times[-1]}


def chart_and_storage(kind: str, sites: int, days: int, repeat: int) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix=f"fleetyard-telemetry-fill-{kind}-"))
    url, name = _database(kind)
    db = Database(url or f"sqlite:///{data / 'fleetyard.db'}")
    try:
        migrate(db.engine)
        now = datetime.now(UTC)
        out: dict[str, Any] = {"db": kind, "sites": sites, "days": days, **fill(db, sites, days, now)}
        out["bytes"] = size_bytes(db)
        if kind == "sqlite":
            out["file_bytes"] = sum(p.stat().st_size for p in data.glob("fleetyard.db*"))
        week = {"start": now - timedelta(days=7), "end": now}
        out["chart_auto"] = _timed(db, repeat, site="sim-42", **week)
        out["chart_minutes"] = _timed(db, repeat, site="sim-42", resolution=60, **week)
        out["fleet_auto"] = _timed(db, max(3, repeat // 4), **week)  # every site, one line each
        scrape = []
        for _ in range(repeat):
            with db.session() as s:
                t0 = time.perf_counter()
                n = len(latest(s, since=now - timedelta(minutes=1)))
                scrape.append(1000 * (time.perf_counter() - t0))
        out["latest"] = {"sites": n, "median_ms": statistics.median(scrape), "max_ms": max(scrape)}
        return out
    finally:
        db.dispose()
        _drop(name)
        shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", choices=["postgres", "sqlite", "both"], default="both")
    ap.add_argument("--sites", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--warmup", type=float, default=10.0)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--only", choices=["ingest", "history"], default=None)
    ap.add_argument("--json", type=Path, help="Also write the results here.")
    args = ap.parse_args()
    info = machine_info()
    print(f"machine: {info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB; Python {info['python']}; "
          f"PostgreSQL {info['postgresql']}; SQLite {info['sqlite']}; load before "
          f"{', '.join(f'{x:.2f}' for x in info['load_average_before'])}", flush=True)
    print(f"sample: {len(keys())} keys ({len(WORKLOADS)} workloads, {len(SOURCES)} sources)", flush=True)
    results: list[dict[str, Any]] = []
    for kind in ["sqlite", "postgres"] if args.db == "both" else [args.db]:
        if args.only in (None, "ingest"):
            r = ingestion(kind, args.sites, args.seconds, args.warmup)
            results.append(r)
            print(f"{kind:8s} ingestion: {r['sites']} sites every {PERIOD:g} s for {r['seconds']:g} s: server CPU "
                  f"{r['baseline']['cpu_pct']:.1f}% of a core without samples, {r['samples']['cpu_pct']:.1f}% with "
                  f"-> samples cost {r['samples_cost_pct']:.1f}% (target <= 10%); heartbeats "
                  f"{r['baseline']['sent']}/{r['samples']['sent']}, errors {r['baseline']['errors']}/"
                  f"{r['samples']['errors']}; sim-0 raw points stored {r['stored_points_sim0']}", flush=True)
        if args.only in (None, "history"):
            r = chart_and_storage(kind, args.sites, args.days, args.repeat)
            results.append(r)
            print(f"{kind:8s} storage: {r['sites']} sites x {r['days']} days = {r['rows']:,} rows of {r['keys']} "
                  f"keys (filled in {r['fill_s']:.0f} s): {r['bytes'] / 2**20:.0f} MiB (target <= 1024 MiB)",
                  flush=True)
            for what in ("chart_auto", "chart_minutes", "fleet_auto"):
                c = r[what]
                print(f"{kind:8s} {what}: 7 days at resolution {c['resolution']}: {c['points']:,} points, median "
                      f"{c['median_ms']:.1f} ms, max {c['max_ms']:.1f} ms (target <= 200 ms)", flush=True)
            c = r["latest"]
            print(f"{kind:8s} latest (one /metrics refresh): {c['sites']} sites, median {c['median_ms']:.1f} ms, "
                  f"max {c['max_ms']:.1f} ms", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "results": results}, indent=1, default=str))


if __name__ == "__main__":
    main()
