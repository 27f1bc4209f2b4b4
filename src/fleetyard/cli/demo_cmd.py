"""`fleetyard demo`: a whole fleet on this machine, in under a minute.

Starts a control plane and four site agents (two regions) on loopback in a temporary
folder, applies the demo fleet (examples/demo), pushes a small real model (safetensors
written with numpy, signed with a freshly generated EC key), waits until every site
runs it - the second site of each region fetching it from the first (relay) - pushes
an update, shows the bytes each site fetched for it and from where against what the
registry's diff says is new; then rolls out a broken version of `demo-chat` as a canary
(it fails validation on its first site and is rolled back there, never reaching
another) and a good one (one site, bake, then the rest); prints `fleetyard status`,
and shuts everything down (also on Ctrl-C). `--keep` leaves the folder (logs, data) for a look afterwards.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from fleetyard.cli.common import EXIT_ERROR, console, err, fail
from fleetyard.cli.output import table

if TYPE_CHECKING:
    from fleetyard.agent.localfleet import LocalFleet
    from fleetyard.services.wire import FleetStatus, RolloutOut

__all__ = ["register"]

MODEL = "demo-llm"
AGENT_ARGS = ["--relay-wait", "4"]  # a short wait for peers keeps the demo quick (default 10 s)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


class _Step:
    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, text: str) -> None:
        console.print(f"[dim]{time.monotonic() - self.started:5.1f}s[/]  {text}", highlight=False)


def _human(n: float) -> str:
    from fleetyard.cli.output import size

    return size(n)


def _bytes_table(st: FleetStatus, ref: str, title: str, new_bytes: int | None = None) -> Table:
    t = table(title=title)
    for col in ("Site", "State", "Fetched", "From", *(["vs diff"] if new_bytes else [])):
        t.add_column(col, justify="right" if col in ("Fetched", "vs diff") else "left")
    for s in sorted(st.sites, key=lambda s: s.site):
        m = next((m for m in s.models if m.ref == ref), None)
        if m is None:
            continue
        origin = ", ".join(f"{'center' if k == 'center' else 'peer ' + k} {_human(v)}"
                           for k, v in sorted(m.bytes_by_source.items())) or "-"
        row = [s.site, m.state, _human(m.bytes_fetched), origin]
        if new_bytes:
            row.append(f"{m.bytes_fetched / new_bytes:.2f}x")
        t.add_row(*row)
    return t


def _run(fleet: LocalFleet, fleet_dir: Path, step: _Step, builtin: bool) -> None:
    from fleetyard.agent.demofleet import DEMO_SITES
    from fleetyard.agent.localfleet import FleetError, write_model
    from fleetyard.cli.server_render import status_table
    from fleetyard.registry import diff_versions
    from fleetyard.services.http_backend import open_remote_store

    root = fleet.root
    fleet.start_server()
    step(f"control plane up at {fleet.url} (data in {root})")
    v1 = fleet.push(write_model(root / "models" / "v1", version=1), MODEL, "1", alias="prod")
    step(f"pushed {MODEL}:1 ({_human(v1.manifest.size)}, signed), alias prod")
    result = fleet.apply(fleet_dir)
    step(f"applied {fleet_dir}: plan revision {result.revision}, "
         f"{sum(c.after for c in result.plan_changes)} replicas placed")
    seeds = [sites[0] for sites in DEMO_SITES.values()]
    rest = [s for sites in DEMO_SITES.values() for s in sites[1:]]
    everyone = seeds + rest
    for site in seeds:
        fleet.start_agent(site, extra=AGENT_ARGS)
    step(f"agents started at {', '.join(seeds)} (one per region)")
    fleet.wait_for(fleet.running(seeds, f"{MODEL}:1"), f"{MODEL}:1 running at {', '.join(seeds)}", 60)
    step(f"{', '.join(seeds)} run {MODEL}:1; starting {', '.join(rest)}")
    for site in rest:
        fleet.start_agent(site, extra=AGENT_ARGS)
    st = fleet.wait_for(fleet.running(everyone, f"{MODEL}:1"), f"{MODEL}:1 running everywhere", 60)
    step(f"every site runs {MODEL}:1 (verified signature, {sum(s.replicas.healthy for s in st.sites)} "
         "replicas healthy)")
    console.print(_bytes_table(st, f"{MODEL}:1", f"{MODEL}:1 - bytes fetched per site (relay within a region)"))

    v2 = fleet.push(write_model(root / "models" / "v2", version=2), MODEL, "2", alias="prod")
    store = open_remote_store(fleet.url, fleet.admin)
    try:
        diff = diff_versions(store, f"{MODEL}:1", f"{MODEL}:2")
    finally:
        store.backend.close()  # type: ignore[attr-defined]
    step(f"pushed {MODEL}:2: {diff.count('changed')} file(s) changed, {_human(v2.stored_bytes_added)} new "
         f"(a site holding :1 must fetch {_human(diff.fetch_bytes)})")
    result = fleet.apply(fleet_dir)
    step(f"re-applied: plan revision {result.revision} resolves {MODEL}@prod to {MODEL}:2")
    if builtin:  # demo-chat has a rollout block: a canary, one site first
        r = _follow(fleet, "demo-chat", f"{MODEL}:2", step)
        if r.state != "succeeded":
            raise FleetError(f"the rollout of demo-chat to {MODEL}:2 ended {r.state}: {r.reason}")
    st = fleet.wait_for(fleet.running(everyone, f"{MODEL}:2"), f"{MODEL}:2 running everywhere", 60)
    step(f"every site runs {MODEL}:2; {MODEL}:1 is kept for rollback")
    console.print(_bytes_table(st, f"{MODEL}:2", f"{MODEL}:2 - the update, per site", diff.fetch_bytes))
    if builtin:
        _canaries(fleet, fleet_dir / "fleet.yaml", step, everyone)
    console.print(status_table(fleet.status()))


def _follow(fleet: LocalFleet, workload: str, to: str, step: _Step, timeout: float = 180.0) -> RolloutOut:
    """Print each wave's moves until the rollout of `workload` to `to` has ended."""
    from fleetyard.agent.localfleet import FleetError
    from fleetyard.services.client import ApiError

    deadline = time.monotonic() + timeout
    said: set[str] = set()
    while time.monotonic() < deadline:
        try:
            r = fleet.client.rollout(workload)
        except ApiError as exc:
            if exc.status != 404:
                raise
            time.sleep(0.3)
            continue
        if r.to == to:
            for w in r.waves:
                line = f"{workload} wave {w.index} ({', '.join(w.sites)}): {w.state}"
                if w.state in ("failed", "rolled_back") and w.reason:
                    line += f" - {w.reason}"
                if line not in said and w.state != "pending":
                    said.add(line)
                    step(line)
            if r.state in ("succeeded", "rolled_back", "aborted"):
                return r
        time.sleep(0.3)
    raise FleetError(f"the rollout of {workload} to {to} did not end within {timeout:.0f} s")


def _canaries(fleet: LocalFleet, spec: Path, step: _Step, everyone: list[str]) -> None:
    """A canary that fails and rolls back, then one that succeeds (docs/rollouts.md)."""
    from fleetyard.agent.localfleet import FleetError, write_model
    from fleetyard.cli.rollout_render import rollout_view

    text = spec.read_text(encoding="utf-8")
    root = fleet.root
    broken = write_model(root / "models" / "v3", version=3)
    (broken / "config.json").unlink()
    fleet.push(broken, MODEL, "3")
    spec.write_text(text.replace(f"model: {MODEL}@prod", f"model: {MODEL}:3", 1), encoding="utf-8")
    fleet.apply(spec.parent)
    step(f"pushed {MODEL}:3 - broken, it lacks its config.json - and applied demo-chat on it: a canary")
    r = _follow(fleet, "demo-chat", f"{MODEL}:3", step)
    console.print(rollout_view(r))
    if r.state != "rolled_back":
        raise FleetError(f"the canary of the broken {MODEL}:3 ended {r.state}, not rolled_back")
    fleet.wait_for(fleet.running(everyone, f"{MODEL}:2"), f"{MODEL}:2 back everywhere", 90)
    step(f"{MODEL}:3 never went past its canary site; every site runs {MODEL}:2")

    fleet.push(write_model(root / "models" / "v4", version=4), MODEL, "4")
    spec.write_text(text.replace(f"model: {MODEL}@prod", f"model: {MODEL}:4", 1), encoding="utf-8")
    fleet.apply(spec.parent)
    step(f"pushed {MODEL}:4 and applied demo-chat on it: a canary again")
    r = _follow(fleet, "demo-chat", f"{MODEL}:4", step)
    console.print(rollout_view(r))
    if r.state != "succeeded":
        raise FleetError(f"the canary of {MODEL}:4 ended {r.state}: {r.reason}")
    step(f"demo-chat runs {MODEL}:4 on every site: `fleetyard rollout status demo-chat` showed the same")


def demo(
    keep: Annotated[bool, typer.Option("--keep", help="Keep the temporary folder (logs, data).")] = False,
    fleet_dir: Annotated[Path | None, typer.Option("--fleet", help="Fleet spec folder to apply instead of the "
                                                   "built-in demo fleet (examples/demo).")] = None,
) -> None:
    """Run a control plane and four site agents on loopback: push, relay, update, status."""
    from fleetyard.agent.demofleet import DEMO_FLEET
    from fleetyard.agent.localfleet import FleetError, LocalFleet
    from fleetyard.services.client import ApiError

    root = Path(tempfile.mkdtemp(prefix="fleetyard-demo-"))
    builtin = fleet_dir is None
    if fleet_dir is None:
        fleet_dir = root / "fleet"
        fleet_dir.mkdir()
        # the workloads are tiny Python programs: run them with this Python, wherever python3 is
        text = re.sub(r"^( *)- python3$", lambda m: f"{m.group(1)}- {json.dumps(sys.executable)}", DEMO_FLEET,
                      flags=re.MULTILINE)
        (fleet_dir / "fleet.yaml").write_text(text, encoding="utf-8")
    elif not fleet_dir.exists():
        fail(f"--fleet {fleet_dir} does not exist")

    def on_term(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    step = _Step()
    fleet = LocalFleet(root, heartbeat=0.5)
    code = 0
    try:
        _run(fleet, fleet_dir, step, builtin)
    except KeyboardInterrupt:
        err.print("interrupted: shutting the demo fleet down", highlight=False)
        code = 130
    except (FleetError, ApiError) as exc:
        err.print(f"[bold red]error:[/] {exc} (logs in {root / 'logs'})", highlight=False)
        keep, code = True, EXIT_ERROR
    finally:
        fleet.close()
        step("server and agents stopped" + (f"; files kept in {root}" if keep else ""))
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    if code:
        raise typer.Exit(code)
