"""Dashboard page loads (issue 12): the fleet page in <= 1 s, measured in the browser, at 100 sites x 3,000 workloads.

    .venv/bin/python benchmarks/dashboard_bench.py                       # 100 x 3,000, 5 loads per page
    .venv/bin/python benchmarks/dashboard_bench.py --sites 100 --workloads 3000 --repeat 5 --profile

For each fleet - first the baseline (fleetgen `--baseline`, default 3 sites x 10
workloads), then the one under test (fleetgen `--sites` x `--workloads`, seed 0) - the
benchmark:

1. fills a fresh SQLite database with one site's telemetry history as 7 days under the
   default retention leave it (6 h of raw samples every 5 s, 7 days of 1-minute rollups,
   7 days of hours; ~40 keys; written directly like telemetry_fill.py);
2. starts a real `fleetyard server` process on it (loopback, free port; plan time limit
   `--plan-time-limit`; failover off and a 600 s heartbeat interval so the one heartbeat
   below keeps every site "ok" for the whole run and nothing re-plans under the
   measurement);
3. applies the generated fleet through the API client (`Client.apply`, which plans) and
   reads the plan back;
4. sends one heartbeat per site (`SiteReport`: the workloads and models of its desired
   state as running, GPU telemetry, one sample);
5. in Debian's chromium (Playwright, headless): loads /ui/login (not logged in), logs
   in through the form with the admin token, then loads /ui/, /ui/sites/<the site with
   the history>, /ui/plan and /ui/cost, one warm-up load and `--repeat` measured loads
   each, from the Navigation Timing API: `responseEnd - startTime` (the server's part:
   request, render, transfer) and `loadEventEnd - startTime` (the whole load: parse,
   style, layout, the SVG charts and map). The dashboard's 5 s live refresh
   (?fragment=1) is blocked so it cannot overlap a measurement.

It prints the machine, one table (page, fleet, first load, min/median/max load, median
server part, HTML KB) and the target's verdict. With `--profile` (or when the fleet page
misses 1 s) it also times the fleet page's server steps in-process on the same database
(`data.fleet_view`, `fleet_map`, the template) and prints the top functions of a cProfile
of one render. Exit 0 (the verdict is in the output).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from fleetgen import documents, write
from machineinfo import machine
from server_bench import free_port
from telemetry_fill import keys, rows_per_site

from fleetyard.services.client import Client, read_spec_files
from fleetyard.services.db import Database, migrate
from fleetyard.services.telemetry.store import Layout, layout_ids
from fleetyard.services.wire import ModelStatus, Replicas, SiteReport, Telemetry, WorkloadStatus
from fleetyard.services.wire_telemetry import Sample

CHROMIUM = "/usr/bin/chromium"
TARGET_MS = 1000.0
HEARTBEAT_INTERVAL = 600.0  # one heartbeat keeps a site "ok" (stale after 3 intervals) for the whole run
HISTORY_DAYS = 7


@dataclass
class Fleet:
    label: str
    sites: int
    workloads: int
    data: Path
    site: str = ""  # the site with the telemetry history (its page is measured)
    proc: subprocess.Popen[bytes] | None = None
    url: str = ""
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def token(self) -> str:
        return (self.data / "admin.token").read_text().strip()


def fill_history(db_path: Path, site: str, now: datetime) -> int:
    """One site's telemetry rows as HISTORY_DAYS days under the default retention leave them."""
    db = Database(f"sqlite:///{db_path}")
    try:
        migrate(db.engine)
        k = keys()
        with db.session() as s:
            lid = layout_ids(s, site, [Layout(k, ())])[Layout(k, ())]
            s.commit()
    finally:
        db.dispose()
    rng = np.random.default_rng(7)
    blobs = [(rng.random(len(k), dtype=np.float32) * 1000).astype("<f4").tobytes() for _ in range(997)]
    plan = list(rows_per_site(now.replace(second=0, microsecond=0), HISTORY_DAYS))
    conn = sqlite3.connect(db_path)
    conn.executemany('INSERT INTO telemetry (site, resolution, t, layout_id, count, "values") '
                     "VALUES (?, ?, ?, ?, ?, ?)",
                     ((site, r, t.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f"), lid,
                       {0: 1, 60: 12, 3600: 720}[r], blobs[j % 997]) for j, (r, t) in enumerate(plan)))
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return len(plan)


def start_server(f: Fleet, plan_time_limit: float) -> None:
    port = free_port()
    cmd = [sys.executable, "-m", "fleetyard", "server", "--listen", f"127.0.0.1:{port}", "--data", str(f.data),
           "--admin-token-file", str(f.data / "admin.token"), "--plan-time-limit", f"{plan_time_limit:g}"]
    env = {**os.environ, "FLEETYARD_FAILOVER": "false", "FLEETYARD_HEARTBEAT_INTERVAL": f"{HEARTBEAT_INTERVAL:g}",
           "FLEETYARD_LOG_LEVEL": "warning"}
    log = open(f.data / "server.log", "wb")  # stays open as long as the server runs
    f.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    f.url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if f.proc.poll() is not None:
            raise SystemExit(f"server exited:\n{(f.data / 'server.log').read_text()}")
        try:
            if httpx.get(f"{f.url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("server did not start within 60 s")


def stop_server(f: Fleet) -> None:
    if f.proc is not None and f.proc.poll() is None:
        f.proc.send_signal(signal.SIGTERM)
        try:
            f.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            f.proc.kill()
            f.proc.wait(timeout=10)


def heartbeat(api: Client, site: str, now: datetime) -> int:
    """The site's report as an agent that runs all of its desired state would send it."""
    want = api.desired(site)
    workloads = [WorkloadStatus(name=w.name, model=w.model, gpu_sku=w.gpu_sku, gpus_per_replica=w.gpus_per_replica,
                                replicas=Replicas(desired=w.replicas, running=w.replicas, healthy=w.replicas))
                 for w in want.workloads]
    models = [ModelStatus(ref=m.ref, state="active", bytes_fetched=1 << 30, bytes_needed=0) for m in want.models]
    gpus = sum(w.replicas * w.gpus_per_replica for w in want.workloads)
    sample = Sample(t=now, values={k: float(i % 97) for i, k in enumerate(keys())})
    api.report(SiteReport(site=site, agent_version="bench-0.1", revision=want.revision,
                          peer_url=f"http://{site}.example:7100", models=models, workloads=workloads,
                          active={m.name: m.ref for m in want.models},
                          telemetry=Telemetry(gpu_power_w=350.0 * gpus, gpu_utilization=61.0, gpus=gpus),
                          samples=[sample]))
    return len(workloads)


def prepare(f: Fleet, seed: int, plan_time_limit: float) -> None:
    docs = documents(f.sites, f.workloads, seed)
    f.site = next(d["metadata"]["name"] for d in docs if d["kind"] == "Site")
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    f.facts["history_rows"] = fill_history(f.data / "fleetyard.db", f.site, now)
    f.facts["fill_s"] = time.perf_counter() - t0
    write(docs, f.data / "spec")
    files, problems = read_spec_files([f.data / "spec"])
    if problems:
        raise SystemExit(f"the generated fleet does not load: {problems[:3]}")
    f.facts["yaml_kb"] = sum(len(x.content) for x in files) / 1024
    start_server(f, plan_time_limit)
    with Client(f.url, f.token, timeout=max(120.0, 3 * plan_time_limit)) as api:
        t0 = time.perf_counter()
        result = api.apply(files)
        f.facts["apply_s"] = time.perf_counter() - t0
        plan = api.plan()
        f.facts["revision"] = result.revision
        f.facts["assignments"] = len(plan.assignments)
        t0 = time.perf_counter()
        names = [d["metadata"]["name"] for d in docs if d["kind"] == "Site"]
        f.facts["reported_workloads"] = sum(heartbeat(api, s, datetime.now(UTC)) for s in names)
        f.facts["heartbeats_s"] = time.perf_counter() - t0


NAV_JS = """() => { const e = performance.getEntriesByType('navigation')[0];
  return {server: e.responseEnd - e.startTime, ttfb: e.responseStart - e.startTime,
          load: e.loadEventEnd - e.startTime, bytes: e.decodedBodySize, status: e.responseStatus || 0}; }"""


def timed_load(page: Any, url: str) -> dict[str, float]:
    page.goto(url, wait_until="load", timeout=120_000)
    page.wait_for_function("() => performance.getEntriesByType('navigation')[0].loadEventEnd > 0")
    return dict(page.evaluate(NAV_JS))


def measure(f: Fleet, browser: Any, repeat: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def series(page: Any, name: str, url: str) -> None:
        first = timed_load(page, url)
        runs = [timed_load(page, url) for _ in range(repeat)]
        loads = sorted(r["load"] for r in runs)
        rows.append({"page": name, "fleet": f.label, "first_ms": first["load"], "min_ms": loads[0],
                     "median_ms": statistics.median(loads), "max_ms": loads[-1],
                     "server_ms": statistics.median(r["server"] for r in runs),
                     "ttfb_ms": statistics.median(r["ttfb"] for r in runs),
                     "html_kb": runs[-1]["bytes"] / 1024, "loads": [r["load"] for r in runs]})

    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.route("**/*fragment=1*", lambda route: route.abort())  # the live refresh must not overlap a load
    page = ctx.new_page()
    series(page, "/ui/login", f"{f.url}/ui/login")
    page.goto(f"{f.url}/ui/login")
    page.get_by_label("Token").fill(f.token)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Fleet", exact=True).wait_for(timeout=120_000)
    for name, path in (("/ui/ (fleet)", "/ui/"), ("/ui/sites/<site>", f"/ui/sites/{f.site}"),
                       ("/ui/plan", "/ui/plan"), ("/ui/cost", "/ui/cost")):
        series(page, name, f"{f.url}{path}")
    ctx.close()
    return rows


def profile_fleet_page(f: Fleet, top: int) -> dict[str, Any]:
    """The fleet page's server steps in-process on the server's database, and a cProfile of one render."""
    from fleetyard.server.web import data
    from fleetyard.server.web.fleetmap import fleet_map
    from fleetyard.server.web.render import render

    db = Database(f"sqlite:///{f.data / 'fleetyard.db'}")

    def once() -> dict[str, float]:
        with db.session() as s:
            t0 = time.perf_counter()
            view = data.fleet_view(s, HEARTBEAT_INTERVAL)
            t1 = time.perf_counter()
            svg = fleet_map(view.points)
            t2 = time.perf_counter()
            render("fleet.html", None, view=view, map=svg, title="Fleet", live=True)
            t3 = time.perf_counter()
        return {"fleet_view_ms": 1000 * (t1 - t0), "fleet_map_ms": 1000 * (t2 - t1), "template_ms": 1000 * (t3 - t2)}

    try:
        once()  # warm: template compiled, caches filled
        steps = [once() for _ in range(3)]
        out: dict[str, Any] = {k: statistics.median(s[k] for s in steps) for k in steps[0]}
        prof = cProfile.Profile()
        prof.enable()
        once()
        prof.disable()
        for sort in ("cumulative", "tottime"):
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(sort).print_stats(top)
            out[f"profile_{sort}"] = buf.getvalue()
        return out
    finally:
        db.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sites", type=int, default=100)
    ap.add_argument("--workloads", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=5, help="measured loads per page (after one warm-up load)")
    ap.add_argument("--baseline", default="3x10", help="SITESxWORKLOADS of the small fleet measured first, "
                                                       "or 'none'")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plan-time-limit", type=float, default=120.0)
    ap.add_argument("--profile", action="store_true", help="profile the fleet page's server side even if it "
                                                           "meets the target")
    ap.add_argument("--top", type=int, default=25, help="functions shown per cProfile listing")
    ap.add_argument("--keep", action="store_true", help="keep the servers' data folders (printed)")
    ap.add_argument("--json", type=Path, help="Also write the results here.")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    info = machine("fastapi", "jinja2", "sqlalchemy", "playwright") | {"sqlite": sqlite3.sqlite_version}
    chromium = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"machine: {info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB; Python {info['python']}; "
          f"{chromium} (headless, Playwright {info['playwright']}); FastAPI {info['fastapi']}, Jinja2 "
          f"{info['jinja2']}, SQLAlchemy {info['sqlalchemy']}, SQLite {info['sqlite']}; load average "
          f"{info['load_average']}", flush=True)

    sizes: list[tuple[str, int, int]] = []
    if args.baseline != "none":
        s, w = (int(x) for x in args.baseline.lower().split("x"))
        sizes.append((f"{s} x {w}", s, w))
    sizes.append((f"{args.sites} x {args.workloads:,}", args.sites, args.workloads))
    fleets = [Fleet(label, s, w, Path(tempfile.mkdtemp(prefix=f"fleetyard-dash-{s}x{w}-"))) for label, s, w in sizes]
    rows: list[dict[str, Any]] = []
    profile: dict[str, Any] | None = None
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            for f in fleets:
                prepare(f, args.seed, args.plan_time_limit)
                print(f"fleet {f.label}: {f.facts['yaml_kb']:,.0f} KB of YAML applied (and planned) in "
                      f"{f.facts['apply_s']:.1f} s, {f.facts['assignments']:,} assignments; one heartbeat per site "
                      f"({f.facts['reported_workloads']:,} workloads reported) in {f.facts['heartbeats_s']:.1f} s; "
                      f"{f.facts['history_rows']:,} telemetry rows for {f.site}", flush=True)
                rows += measure(f, browser, args.repeat)
                fleet_row = next(r for r in rows if r["fleet"] == f.label and r["page"].startswith("/ui/ "))
                if f is fleets[-1] and (args.profile or fleet_row["median_ms"] > TARGET_MS):
                    profile = profile_fleet_page(f, args.top)
                stop_server(f)
            browser.close()
    finally:
        for f in fleets:
            stop_server(f)
            if args.keep:
                print(f"kept {f.data}")
            else:
                shutil.rmtree(f.data, ignore_errors=True)

    print()
    head = (f"{'page':18s} {'fleet':>11s} {'first ms':>9s} {'min ms':>8s} {'median ms':>10s} {'max ms':>8s} "
            f"{'server ms':>10s} {'HTML KB':>8s}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['page']:18s} {r['fleet']:>11s} {r['first_ms']:9.0f} {r['min_ms']:8.0f} {r['median_ms']:10.0f} "
              f"{r['max_ms']:8.0f} {r['server_ms']:10.0f} {r['html_kb']:8.1f}")
    print(f"(load = loadEventEnd - startTime, server = responseEnd - startTime, medians of {args.repeat} loads "
          f"after one warm-up; 'first' is that warm-up load)")
    big = next(r for r in rows if r["fleet"] == fleets[-1].label and r["page"].startswith("/ui/ "))
    verdict = "met" if big["median_ms"] <= TARGET_MS else "MISSED"
    print(f"\ntarget: fleet page <= {TARGET_MS:.0f} ms at {fleets[-1].label}: median {big['median_ms']:.0f} ms "
          f"(max {big['max_ms']:.0f} ms) -> {verdict}")
    if profile:
        print(f"\nfleet page server steps in-process (median of 3): data.fleet_view {profile['fleet_view_ms']:.0f} ms, "
              f"fleetmap.fleet_map {profile['fleet_map_ms']:.0f} ms, fleet.html template "
              f"{profile['template_ms']:.0f} ms")
        for sort in ("cumulative", "tottime"):
            print(f"\ncProfile of one fleet page render, by {sort}:")
            print(profile[f"profile_{sort}"].strip("\n"))
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "fleets": [{"label": f.label, **f.facts} for f in fleets],
                                         "rows": rows, "profile": profile}, indent=1, default=str))


if __name__ == "__main__":
    main()
