"""Integration: feature flags read through the real OpenFeature SDK and its OFREP provider from a
real agent's listener, while the server runs, after it is stopped, and after the agent is
SIGKILLed and restarted with the server still down; a replica reads them through
FLEETYARD_OFREP_URL. Every answer is compared with `rollout.flags.evaluate` on the files."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode

from fleetyard.agent.localfleet import LocalFleet, free_port, write_model
from fleetyard.rollout.flags import evaluate, site_facts
from fleetyard.spec import load_fleet
from fleetyard.spec.fleet import Fleet
from tests.server.conftest import BACKENDS, postgres

__all__ = ["postgres"]  # the fixture, from the server tests

pytestmark = pytest.mark.timeout(300)

READER = """\
import json, os, time, urllib.request
url = os.environ["FLEETYARD_OFREP_URL"] + "/ofrep/v1/evaluate/flags/greeting"
out = os.path.join(os.environ["OUT_DIR"], os.environ["FLEETYARD_SITE"] + ".json")
body = json.dumps({"context": {"targetingKey": "replica"}}).encode()
while True:
    try:
        req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
        answer = urllib.request.urlopen(req, timeout=5).read()
        with open(out + ".tmp", "wb") as f:
            f.write(answer)
        os.replace(out + ".tmp", out)
        break
    except Exception:
        time.sleep(0.2)
time.sleep(10**6)
"""

FLEET = """\
apiVersion: fleetyard/v1
kind: Region
metadata: {name: eu-central}
spec: {location: {lat: 50.11, lon: 8.68}}
---
apiVersion: fleetyard/v1
kind: Region
metadata: {name: eu-west}
spec: {location: {lat: 48.86, lon: 2.35}}
---
apiVersion: fleetyard/v1
kind: Objective
metadata: {name: default}
spec: {carbon_price_per_tonne: 0, resilience: none}
---
apiVersion: fleetyard/v1
kind: Site
metadata: {name: fra-1, labels: {ring: canary}}
spec:
  type: edge
  country: DE
  location: {lat: 50.11, lon: 8.68}
  gpus: [{sku: L40S, count: 2}]
  power: {it_capacity_kw: 2}
  energy: {price_per_kwh: 0.2, carbon_g_per_kwh: 300}
---
apiVersion: fleetyard/v1
kind: Site
metadata: {name: par-1}
spec:
  type: edge
  country: FR
  location: {lat: 48.86, lon: 2.35}
  gpus: [{sku: L4, count: 2}]
  power: {it_capacity_kw: 2}
  energy: {price_per_kwh: 0.2, carbon_g_per_kwh: 300}
---
apiVersion: fleetyard/v1
kind: Workload
metadata: {name: reader}
spec:
  type: batch
  model: tiny:1
  replica: {gpus: 1, gpu_skus: [L40S]}
  replicas: {min: 1, max: 1}
  command: [PYTHON, -c, READER]
  env: {OUT_DIR: OUT}
"""

FLAGS = """\
apiVersion: fleetyard/v1
kind: Flag
metadata: {name: new-tokenizer}
spec:
  type: boolean
  default: false
  rules:
    - match: {country: [DE]}
      percent: 30
      variant: true
---
apiVersion: fleetyard/v1
kind: Flag
metadata: {name: max-tokens}
spec:
  type: integer
  variants: {small: 256, large: 4096}
  default: small
  rules:
    - match: {region: [eu-central], labels: {ring: canary}}
      variant: large
---
apiVersion: fleetyard/v1
kind: Flag
metadata: {name: greeting}
spec:
  type: string
  default: hello
  rules:
    - match: {site: [par-1]}
      variant: bonjour
    - match: {country: [DE], context: {plan: [pro]}}
      variant: guten tag
---
apiVersion: fleetyard/v1
kind: Flag
metadata: {name: temperature}
spec: {type: float, default: 1}
---
apiVersion: fleetyard/v1
kind: Flag
metadata: {name: limits}
spec:
  type: object
  default: {rps: 10, burst: [1, 2]}
  rules: [{match: {country: [DE]}, variant: {rps: 50, burst: [5]}}]
"""

KEYS = [f"user-{i}" for i in range(40)]


def write_spec(folder: Path, flags: str, out: Path) -> Fleet:
    folder.mkdir(parents=True, exist_ok=True)
    text = FLEET.replace("PYTHON", json.dumps(sys.executable)).replace("READER", json.dumps(READER))
    (folder / "fleet.yaml").write_text(text.replace("OUT}", f"{json.dumps(str(out))}}}"))
    (folder / "flags.yaml").write_text(flags)
    return load_fleet([folder]).fleet


def wait(cond: Callable[[], Any], what: str, timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = cond()
        except (httpx.HTTPError, OSError, ValueError):
            value = None
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(0.2)


@pytest.fixture(params=BACKENDS)
def fleet(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFleet]:
    """A local fleet whose server stores in SQLite (its file) or a fresh PostgreSQL database
    (FLEETYARD_DB, which the server process inherits)."""
    f = LocalFleet(tmp_path_factory.mktemp(f"ofrep-{request.param}"), heartbeat=0.5)
    with pytest.MonkeyPatch.context() as env:
        if request.param == "postgres":
            env.setenv("FLEETYARD_DB", request.getfixturevalue("postgres").new_database())
        try:
            yield f
        finally:
            f.close()
            api.clear_providers()


def expected(spec: Fleet, flag: str, context: dict[str, Any]) -> Any:
    return evaluate(spec.flags[flag], site_facts(spec, "fra-1"), context)


def read_all(client: OpenFeatureClient) -> dict[str, Any]:
    """Every flag through the SDK: the values and reasons an application would see."""
    out: dict[str, Any] = {}
    for key in KEYS:
        d = client.get_boolean_details("new-tokenizer", False, EvaluationContext(targeting_key=key))
        out[f"new-tokenizer/{key}"] = (d.value, d.reason, d.variant)
    pro = EvaluationContext(targeting_key="u", attributes={"plan": "pro"})
    for name, ctx in (("greeting", pro), ("greeting", EvaluationContext(targeting_key="u")),
                      ("max-tokens", None), ("temperature", None), ("limits", None)):
        get = {"greeting": client.get_string_details, "max-tokens": client.get_integer_details,
               "temperature": client.get_float_details, "limits": client.get_object_details}[name]
        default: Any = {"greeting": "?", "max-tokens": -1, "temperature": -1.0, "limits": {}}[name]
        d = get(name, default, ctx)
        assert d.error_code is None, (name, d)
        out[f"{name}/{ctx.attributes if ctx else None}"] = (d.value, d.reason, d.variant)
    return out


def test_flags_are_read_through_openfeature_from_the_agent_even_with_the_server_down(
        fleet: LocalFleet) -> None:
    root = fleet.root
    out = root / "out"
    out.mkdir()
    spec = write_spec(root / "spec", FLAGS, out)
    fleet.start_server()
    on_postgres = "postgresql" in os.environ.get("FLEETYARD_DB", "")
    assert on_postgres == ("postgres" in root.name)
    assert (root / "server" / "fleetyard.db").exists() != on_postgres  # the server stores where it was told
    fleet.push(write_model(root / "m", tensors=2, rows=16), "tiny", "1")
    fleet.apply(root / "spec")
    port = free_port()
    fleet.start_agent("fra-1", extra=["--flags-listen", f"127.0.0.1:{port}", "--connect-timeout", "3"])
    url = f"http://127.0.0.1:{port}"
    wait(lambda: httpx.get(f"{url}/healthz", timeout=2).json()["flagsRevision"], "the agent serving flags")

    api.set_provider(OFREPProvider(url, timeout=10), domain="fra-1")
    client = api.get_client(domain="fra-1")
    first = read_all(client)
    for key in KEYS:
        e = expected(spec, "new-tokenizer", {"targetingKey": key})
        assert first[f"new-tokenizer/{key}"] == (e.value, e.reason, e.variant), key
    reasons = {first[f"new-tokenizer/{k}"][1] for k in KEYS}
    assert reasons == {"SPLIT", "DEFAULT"}  # 30 % of 40 keys: some in, some out
    assert first["greeting/{'plan': 'pro'}"] == ("guten tag", "TARGETING_MATCH", "guten tag")
    assert first["greeting/{}"] == ("hello", "DEFAULT", "hello")
    assert first["max-tokens/None"] == (4096, "TARGETING_MATCH", "large")
    assert first["temperature/None"] == (1.0, "STATIC", "1")
    assert first["limits/None"] == ({"rps": 50, "burst": [5]}, "TARGETING_MATCH", "rule-0")

    # OpenFeature errors as the SDK reports them: the caller's default and an error code
    missing = client.get_boolean_details("no-such-flag", True)
    assert (missing.value, missing.error_code) == (True, ErrorCode.FLAG_NOT_FOUND)
    wrong = client.get_string_details("max-tokens", "x")
    assert (wrong.value, wrong.error_code) == ("x", ErrorCode.TYPE_MISMATCH)
    no_key = client.get_boolean_details("new-tokenizer", True, EvaluationContext(attributes={"plan": "pro"}))
    assert (no_key.value, no_key.error_code) == (True, ErrorCode.TARGETING_KEY_MISSING)

    # the bulk endpoint with ETag / If-None-Match, and a body that is not JSON
    bulk = httpx.post(f"{url}/ofrep/v1/evaluate/flags", json={"context": {"targetingKey": "user-1"}}, timeout=10)
    assert bulk.status_code == 200 and bulk.headers["ETag"]
    assert [f["key"] for f in bulk.json()["flags"]] == ["greeting", "limits", "max-tokens", "new-tokenizer",
                                                         "temperature"]
    same = httpx.post(f"{url}/ofrep/v1/evaluate/flags", json={"context": {"targetingKey": "user-1"}},
                      headers={"If-None-Match": bulk.headers["ETag"]}, timeout=10)
    assert same.status_code == 304 and same.content == b""
    other = httpx.post(f"{url}/ofrep/v1/evaluate/flags", json={"context": {"targetingKey": "user-2"}},
                       headers={"If-None-Match": bulk.headers["ETag"]}, timeout=10)
    assert other.status_code == 200 and other.headers["ETag"] != bulk.headers["ETag"]
    bad = httpx.post(f"{url}/ofrep/v1/evaluate/flags/greeting", content=b"{nope", timeout=10)
    assert bad.status_code == 400 and bad.json()["errorCode"] == "PARSE_ERROR"

    # a replica at the site reads a flag through FLEETYARD_OFREP_URL
    seen = wait(lambda: json.loads((out / "fra-1.json").read_text()), "the replica's flag answer", timeout=120)
    assert (seen["key"], seen["value"], seen["reason"]) == ("greeting", "hello", "DEFAULT")

    # a change reaches the site with the desired state; the bulk ETag moves with it
    changed = FLAGS.replace("percent: 30", "percent: 100").replace("default: hello", "default: hi")
    spec = write_spec(root / "spec", changed, out)
    fleet.apply(root / "spec")
    wait(lambda: client.get_string_value("greeting", "?", EvaluationContext(targeting_key="u")) == "hi",
         "the new default at the site")
    moved = httpx.post(f"{url}/ofrep/v1/evaluate/flags", json={"context": {"targetingKey": "user-1"}},
                       headers={"If-None-Match": bulk.headers["ETag"]}, timeout=10)
    assert moved.status_code == 200
    online = read_all(client)
    assert all(online[f"new-tokenizer/{k}"] == (True, "SPLIT", "true") for k in KEYS)

    # the server goes away: the site keeps answering the same
    assert fleet.server is not None
    fleet.server.send_signal(signal.SIGTERM)
    fleet.server.wait(timeout=30)
    assert read_all(client) == online

    # the agent dies and comes back with the server still down: the saved flags answer
    fleet.kill_agent("fra-1")
    saved = json.loads((fleet.agents["fra-1"].data_dir / "state" / "flags.json").read_text())
    assert {f["key"] for f in saved["flags"]} == set(spec.flags)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{url}/healthz", timeout=2)
    fleet.restart_agent("fra-1")
    wait(lambda: httpx.get(f"{url}/healthz", timeout=2).json()["flagsRevision"] == saved["revision"],
         "the restarted agent serving the saved flags")
    assert read_all(client) == online
    for key in KEYS:
        e = expected(spec, "new-tokenizer", {"targetingKey": key})
        assert online[f"new-tokenizer/{key}"] == (e.value, e.reason, e.variant)
    log = fleet.agents["fra-1"].log.read_text()
    # the agent kept its whole desired state (flags included) on disk: it starts fail-static
    assert "control plane unreachable since" in log and "running the last desired state" in log
