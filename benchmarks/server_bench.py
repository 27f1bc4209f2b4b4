"""Heartbeats per second the control plane sustains, on PostgreSQL and SQLite.

    .venv/bin/python benchmarks/server_bench.py                  # both databases, 50 sites, 20 s each
    .venv/bin/python benchmarks/server_bench.py --db postgres --sites 200 --clients 16 --seconds 30
    .venv/bin/python benchmarks/server_bench.py --db postgres --servers 1,2,3 --loadgen raw   # scale-out

For each database the benchmark starts a real `fleetyard server` process on a free
loopback port (PostgreSQL: a throwaway database `fleetyard_bench_<random>` on
127.0.0.1:5432, dropped at the end; SQLite: a temporary folder), applies a fleet of
N simulated sites, makes an agent token per site, and then runs a load generator in
a separate process: `--clients` threads, each with its own httpx connection, sending
each site's full `SiteReport` (`PUT /api/v1/sites/{site}/status`, the heartbeat:
token check + one upsert + commit) as fast as the server answers. It prints the
sustained rate after a warm-up, latency percentiles, errors, and the machine.

`--servers 1,2,3` runs the PostgreSQL case with that many server processes on the one
database (issue 14: scale-out; the clients' connections spread over them, as a load
balancer would). `--loadgen raw` uses benchmarks/rawload.py (prepared bytes on sockets)
instead of httpx threads, so the generator does not take the CPU the servers need.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import rawload
from machineinfo import machine

PG_ADMIN = "host=127.0.0.1 port=5432 dbname=test user=root connect_timeout=3"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fleet_yaml(n: int) -> str:
    docs = ["apiVersion: fleetyard/v1\nkind: Region\nmetadata: {name: eu}\nspec: {location: {lat: 50, lon: 8}}\n"]
    for i in range(n):
        docs.append(
            f"apiVersion: fleetyard/v1\nkind: Site\nmetadata: {{name: sim-{i}}}\nspec:\n  type: edge\n"
            f"  country: DE\n  location: {{lat: {47 + (i % 50) / 10}, lon: {6 + (i % 70) / 10}}}\n"
            "  gpus: [{sku: L4, count: 4}]\n  power: {it_capacity_kw: 2}\n"
            "  energy: {price_per_kwh: 0.2, carbon_g_per_kwh: 300}\n"
        )
    docs.append(
        "apiVersion: fleetyard/v1\nkind: Workload\nmetadata: {name: edge-chat}\nspec:\n  type: inference\n"
        "  model: bench-llm:1\n  replicas: {min: 2, max: 8}\n  demand: {eu: 40}\n  rps_per_replica: 20\n"
        "  latency_slo_ms: 30\n"
    )
    return "---\n".join(docs)


def report(site: str, beat: int) -> dict[str, Any]:
    """A realistic heartbeat: two models, one workload, telemetry (about 700 bytes of JSON)."""
    return {
        "site": site,
        "agent_version": "bench-0.1",
        "revision": 1,
        "peer_url": f"http://{site}.example:7100",
        "models": [
            {
                "ref": "bench-llm:1",
                "state": "active",
                "bytes_fetched": 1_073_741_824,
                "bytes_needed": 0,
                "bytes_by_source": {"center": 536_870_912, "sim-0": 536_870_912},
                "error": None,
            },
            {
                "ref": "bench-llm:2",
                "state": "syncing",
                "bytes_fetched": beat * 65_536,
                "bytes_needed": 268_435_456,
                "bytes_by_source": {"center": beat * 65_536},
                "error": None,
            },
        ],
        "workloads": [
            {
                "name": "edge-chat",
                "model": "bench-llm:1",
                "replicas": {"desired": 2, "running": 2, "healthy": 2},
                "error": None,
            }
        ],
        "active": {"bench-llm": "bench-llm:1"},
        "telemetry": {"gpu_power_w": 512.5, "gpu_utilization": 61.0, "gpus": 4},
        "in_sync_window": True,
    }


def load(urls: list[str], tokens: dict[str, str], clients: int, warmup: float, seconds: float, out: Any,
         kind: str = "httpx") -> None:
    """The load generator (a separate process): heartbeats from `clients` threads or sockets."""
    if kind == "raw":
        out.put(rawload.run(urls, tokens, clients, warmup, seconds, report))
        return
    sites = sorted(tokens)
    stop_at = time.monotonic() + warmup + seconds
    measure_from = time.monotonic() + warmup
    lat: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients

    def worker(k: int) -> None:
        mine = sites[k::clients] or sites
        beat = 0
        with httpx.Client(base_url=urls[k % len(urls)], timeout=30) as http:
            while (now := time.monotonic()) < stop_at:
                site = mine[beat % len(mine)]
                beat += 1
                t0 = time.perf_counter()
                try:
                    r = http.put(
                        f"/api/v1/sites/{site}/status",
                        json=report(site, beat),
                        headers={"Authorization": f"Bearer {tokens[site]}"},
                    )
                    ok = r.status_code == 204
                except httpx.HTTPError:
                    ok = False
                if now >= measure_from:
                    if ok:
                        lat[k].append(time.perf_counter() - t0)
                    else:
                        errors[k] += 1

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    all_lat = sorted(x for part in lat for x in part)
    out.put(
        {
            "count": len(all_lat),
            "errors": sum(errors),
            "seconds": seconds,
            "p50_ms": 1000 * all_lat[len(all_lat) // 2] if all_lat else None,
            "p99_ms": 1000 * all_lat[int(len(all_lat) * 0.99)] if all_lat else None,
            "mean_ms": 1000 * statistics.fmean(all_lat) if all_lat else None,
        }
    )


def start_server(data: Path, db: str | None, name: str = "server",
                 batch: int = 64) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "fleetyard",
        "server",
        "--listen",
        f"127.0.0.1:{port}",
        "--data",
        str(data),
        "--admin-token-file",
        str(data / "admin.token"),
        "--plan-time-limit",
        "20",
    ]
    if db:
        cmd += ["--db", db]
    log = open(data / f"{name}.log", "wb")  # stays open as long as the server runs
    env = {**os.environ, "FLEETYARD_HEARTBEAT_BATCH": str(batch)}
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited:\n{(data / f'{name}.log').read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("server did not start within 60 s")


def run_one(kind: str, args: argparse.Namespace, servers: int = 1, batch: int = 64) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix=f"fleetyard-bench-{kind}-"))
    db = None
    pg_name = None
    if kind == "postgres":
        import psycopg

        pg_name = f"fleetyard_bench_{secrets.token_hex(4)}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{pg_name}"')
        db = f"postgresql+psycopg://root@127.0.0.1:5432/{pg_name}"
    proc, url = start_server(data, db, batch=batch)
    procs, urls = [proc], [url]
    try:
        for n in range(1, servers):  # more processes on the same database (and registry folder)
            p, u = start_server(data, db, f"server-{n}", batch)
            procs.append(p)
            urls.append(u)
        admin = {"Authorization": f"Bearer {(data / 'admin.token').read_text().strip()}"}
        with httpx.Client(base_url=url, headers=admin, timeout=600) as http:
            r = http.post("/api/v1/apply", json={"files": [{"name": "bench.yaml", "content": fleet_yaml(args.sites)}]})
            r.raise_for_status()
            tokens = {}
            for i in range(args.sites):
                r = http.post("/api/v1/tokens", json={"role": "agent", "site": f"sim-{i}"})
                r.raise_for_status()
                tokens[f"sim-{i}"] = r.json()["token"]
        q: Any = mp.get_context("spawn").Queue()
        gen = mp.get_context("spawn").Process(
            target=load, args=(urls, tokens, args.clients, args.warmup, args.seconds, q, args.loadgen)
        )
        gen.start()
        server_ps, gen_ps = [psutil.Process(p.pid) for p in procs], psutil.Process(gen.pid)

        def cpu() -> tuple[float, float]:
            return sum(sum(p.cpu_times()[:2]) for p in server_ps), sum(gen_ps.cpu_times()[:2])

        time.sleep(args.warmup)
        cpu0 = cpu()
        time.sleep(args.seconds)
        cpu1 = cpu()
        result: dict[str, Any] = q.get(timeout=120)
        gen.join(timeout=30)
        result |= {"server_cpu_s": cpu1[0] - cpu0[0], "loadgen_cpu_s": cpu1[1] - cpu0[1]}
        with httpx.Client(base_url=url, headers=admin) as http:
            status = http.get("/api/v1/status").json()
        beats = sum(1 for s in status["sites"] if s["last_heartbeat"])
        result |= {
            "db": kind,
            "servers": servers,
            "batch": batch,
            "loadgen": args.loadgen,
            "sites": args.sites,
            "clients": args.clients,
            "sites_reported": beats,
            "heartbeats_per_s": result["count"] / args.seconds,
            "server_cpu_ms_per_heartbeat": 1000 * result["server_cpu_s"] / max(1, result["count"]),
        }
        return result
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        if pg_name:
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
        shutil.rmtree(data, ignore_errors=True)


def machine_info() -> dict[str, Any]:
    pg = ""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            pg = str(row[0]) if row else ""
    except Exception as exc:  # the report says why, the run goes on
        pg = f"unreachable ({exc})"
    return machine() | {"postgresql": pg, "sqlite": sqlite3.sqlite_version, "load_average_before": os.getloadavg()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", choices=["postgres", "sqlite", "both"], default="both")
    ap.add_argument("--sites", type=int, default=50)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--servers", default="1", help="Server processes on PostgreSQL, e.g. 1,2,3 (one run each).")
    ap.add_argument("--loadgen", choices=["httpx", "raw"], default="httpx")
    ap.add_argument("--batch", default="64", help="Heartbeats per commit, e.g. 1,64 (1: a transaction each).")
    ap.add_argument("--json", type=Path, help="Also write the results here.")
    args = ap.parse_args()
    info = machine_info()
    print(
        f"machine: {info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB; Python {info['python']}; "
        f"PostgreSQL {info['postgresql']}; SQLite {info['sqlite']}; load before "
        f"{', '.join(f'{x:.2f}' for x in info['load_average_before'])}"
    )
    results = []
    runs = [(kind, int(n), int(b)) for kind in (["postgres", "sqlite"] if args.db == "both" else [args.db])
            for n in (args.servers.split(",") if kind == "postgres" else ["1"]) for b in args.batch.split(",")]
    for kind, servers, batch in runs:
        r = run_one(kind, args, servers, batch)
        results.append(r)
        print(
            f"{kind:8s} x{servers} batch {batch:3d}: {r['heartbeats_per_s']:7.0f} heartbeats/s "
            f"sustained over {r['seconds']:.0f} s "
            f"({r['sites']} sites, {r['clients']} clients; p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms; "
            f"{r['errors']} errors; {r['sites_reported']}/{r['sites']} sites reported; server CPU "
            f"{r['server_cpu_s'] / r['seconds']:.2f} cores, {r['server_cpu_ms_per_heartbeat']:.1f} ms/heartbeat; "
            f"load generator {r['loadgen_cpu_s'] / r['seconds']:.2f} cores)",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "results": results}, indent=1))


if __name__ == "__main__":
    main()
