"""One regression test per finding of issue 9 on the input side, through the real entry points.

Each hostile file goes through `fleetyard` as a subprocess - the command a user runs - and
must exit 2 with the problem named and no traceback. "Fast" is measured as the child's
CPU time (user + system) against a baseline taken in the same run: validating the
example fleet, which parses and checks every file. A refusal may cost at most twice that
plus half a second - a bound that scales with the machine (a slow or busy runner inflates
both) yet fails by an order of magnitude for the bugs it guards (before the fix the alias
bomb ran for more than 60 s and grew without bound). The wall clock only has to stay far
from a hang.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from fleetyard.registry import open_store, push
from tests.registry.conftest import write_model
from tests.server.conftest import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
WALL_SECONDS = 30.0
_baseline: list[float] = []


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str
    cpu: float
    wall: float


def fleetyard(*args: str | Path) -> Run:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "fleetyard", *map(str, args)], capture_output=True, text=True,
                       timeout=120, cwd=ROOT, env={**os.environ, "COLUMNS": "200"})
    wall = time.monotonic() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(r.returncode, r.stdout, r.stderr, cpu, wall)


def baseline_cpu() -> float:
    """CPU seconds of `fleetyard validate examples/fleet` on this machine, now (the lower of two runs)."""
    if not _baseline:
        runs = [fleetyard("validate", ROOT / "examples/fleet") for _ in range(2)]
        assert all(r.code == 0 for r in runs), runs
        _baseline.append(min(r.cpu for r in runs))
    return _baseline[0]


def assert_refused(run: Run, *words: str) -> None:
    assert run.code == 2, run
    assert "Traceback" not in run.stderr and run.stdout == ""
    for word in words:
        assert word in run.stderr, (word, run.stderr)
    allowed = 2 * baseline_cpu() + 0.5
    assert run.cpu <= allowed, f"{run.cpu:.2f} s of CPU; validating the example fleet took {baseline_cpu():.2f} s"
    assert run.wall <= WALL_SECONDS, f"{run.wall:.1f} s"


def alias_bomb() -> str:
    lines = ['  a0: &a0 "lol"'] + [f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    return "apiVersion: fleetyard/v1\nkind: Site\nmetadata: {name: bomb}\nspec:\n" + "\n".join(lines) + "\n"


def test_an_alias_bomb_exits_2_at_once(tmp_path):
    f = tmp_path / "bomb.yaml"
    f.write_text(alias_bomb())
    assert_refused(fleetyard("validate", f), f"{f}:11 spec.a6[0]: input limit: alias *a5 expands to 66,430 nodes",
                   "(max_document_nodes)")


def test_a_5000_digit_integer_exits_2_not_a_traceback(tmp_path):
    site = (ROOT / "examples/fleet/sites-europe.yaml").read_text()
    (tmp_path / "sites.yaml").write_text(site.replace("count: 32", "count: " + "9" * 5000, 1))
    assert_refused(fleetyard("validate", tmp_path), "spec.gpus[0].count: input limit: an integer of 5,000 digits")


@pytest.mark.parametrize(("flow", "depth"), [(False, 600), (False, 2_000), (True, 450), (True, 100_000)])
def test_deep_nesting_exits_2_not_a_recursion_error(tmp_path, flow, depth):
    f = tmp_path / "deep.yaml"
    if flow:
        f.write_text("spec: " + "[" * depth + "]" * depth + "\n")
    else:
        keys = "".join("  " * (i + 1) + f"k{i}:\n" for i in range(depth))
        f.write_text("spec:\n" + keys + "  " * (depth + 1) + "v\n")
    assert_refused(fleetyard("validate", f), "input limit: nesting", "(max_depth)")


def test_a_price_of_1e308_is_refused_before_planning(tmp_path):
    for p in (ROOT / "examples/fleet").glob("*.yaml"):
        (tmp_path / p.name).write_text(p.read_text())
    sites = tmp_path / "sites-europe.yaml"
    text = sites.read_text()
    start = text.index("price_per_kwh: ") + len("price_per_kwh: ")
    sites.write_text(text[:start] + "1.0e+308" + text[text.index(",", start):])
    run = fleetyard("plan", tmp_path)
    assert_refused(run, "spec.energy.price_per_kwh: must be <= 100.0, got 1e+308", "nothing was planned")


def test_a_manifest_escaping_its_folder_fails_verify_as_it_fails_pull(tmp_path):
    reg = tmp_path / "reg"
    store = open_store(reg, create=True)
    m = push(store, write_model(tmp_path / "m", shards=1, rows=16), "m", "1").manifest
    doc = json.loads(m.to_json())
    doc["files"][0]["path"] = "../../outside.txt"
    store.backend.put("versions/m/1.json", json.dumps(doc).encode())
    reason = "file path '../../outside.txt' climbs out with '..': escapes the version folder"
    verify = fleetyard("registry", "verify", "-r", reg)
    assert verify.code == 3 and reason in verify.stdout + verify.stderr, verify
    pulled = fleetyard("registry", "pull", "m:1", tmp_path / "out", "-r", reg, "-q")
    assert pulled.code == 3 and reason in pulled.stderr, pulled
    assert not (tmp_path / "outside.txt").exists()


@pytest.fixture
def server(tmp_path):
    s = ServerProcess(tmp_path / "server").start()
    try:
        yield s
    finally:
        s.stop()


def test_one_malformed_manifest_no_longer_breaks_the_model_list(server, tmp_path):
    registry = server.data / "registry"
    push(open_store(registry), write_model(tmp_path / "m", shards=1, rows=16), "good", "1", alias="prod")
    auth = {"Authorization": f"Bearer {server.admin_token}"}
    url = f"{server.url}/api/v1/registry/objects/versions/evil/1.json"
    r = httpx.put(url, content=b"{}", headers={**auth, "If-None-Match": "*"})
    assert r.status_code == 422, r.text
    assert "manifest versions/evil/1.json is malformed: format: Field required" in r.json()["detail"]
    # one already stored (written before the fix, or behind the server's back) is skipped
    (registry / "versions" / "evil").mkdir()
    (registry / "versions" / "evil" / "1.json").write_bytes(b"{}")
    r = httpx.get(f"{server.url}/api/v1/models", headers=auth)
    assert r.status_code == 200, r.text
    assert [(m["ref"], m["aliases"]) for m in r.json()] == [("good:1", ["prod"])]
    ls = fleetyard("registry", "ls", "-r", registry)
    assert ls.code == 0 and "good:1" in ls.stdout
    assert ls.stderr.startswith("warning: skipped versions/evil/1.json: manifest versions/evil/1.json is malformed")
    assert httpx.delete(url, headers=auth).status_code in (200, 204)  # and an admin can remove it
    assert not (registry / "versions" / "evil" / "1.json").exists()
