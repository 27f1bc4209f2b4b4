"""End to end: a real server, real agents (process runtime) and a workload that writes the
environment it got to a file: the value reaches the replica at the site that runs it, nowhere
else, and a new value restarts the replica onto it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from fleetyard.agent.localfleet import LocalFleet, write_model
from tests.agent.rollout_site import wait_until
from tests.secrets.fleet import PASSWORD, TOKEN, fleet_docs, secret

pytestmark = pytest.mark.timeout(300)


def files_under(folder: Path) -> Iterator[Path]:
    return (p for p in folder.rglob("*") if p.is_file())


def holds(folder: Path, text: str) -> list[Path]:
    return [p for p in files_under(folder) if text.encode() in p.read_bytes()]


def read_env(path: Path) -> dict[str, str] | None:
    try:
        env: dict[str, str] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return env


def test_the_replica_at_the_running_site_gets_the_value_and_no_other_site_does(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    spec = tmp_path / "spec"
    spec.mkdir()
    (spec / "fleet.yaml").write_text(yaml.safe_dump_all(fleet_docs(str(out)), sort_keys=False))
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text(yaml.safe_dump_all([secret("openai", {"token": TOKEN}), secret("db", {"password": PASSWORD})]))
    with LocalFleet(tmp_path / "fleet", heartbeat=0.5) as fleet:
        fleet.start_server()
        fleet.push(write_model(tmp_path / "model"), "tiny", "1")
        fleet.apply(secrets, spec)
        fleet.start_agent("fra-1")
        fleet.start_agent("par-1")
        chat = wait_until(lambda: read_env(out / "chat.env.json"), "chat's replica writing its environment", 120)
        other = wait_until(lambda: read_env(out / "other.env.json"), "other's replica writing its environment", 120)
        assert chat["OPENAI_API_KEY"] == TOKEN and chat["MODE"] == "chat"
        assert "OPENAI_API_KEY" not in other and TOKEN not in json.dumps(other)
        fra, par = fleet.agents["fra-1"].data_dir, fleet.agents["par-1"].data_dir
        assert (fra / "state" / "desired.json").stat().st_mode & 0o777 == 0o600
        assert holds(fra, TOKEN) == [fra / "state" / "desired.json"]  # the fail-static copy, 0600; nothing else
        assert holds(par, TOKEN) == [] and holds(par, PASSWORD) == []  # par-1 never got it
        assert holds(fleet.logs, TOKEN) == []  # neither the server's log nor an agent's
        # a new value: the replica is replaced by one with the new value
        secrets.write_text(yaml.safe_dump_all([secret("openai", {"token": TOKEN + "-v2"}),
                                               secret("db", {"password": PASSWORD})]))
        result = fleet.apply(secrets)
        assert [c.action for c in result.changes if c.name == "openai"] == ["updated"]
        wait_until(lambda: (read_env(out / "chat.env.json") or {}).get("OPENAI_API_KEY") == TOKEN + "-v2",
                   "chat's replica restarted with the new value", 120)
        assert holds(fleet.logs, TOKEN) == []
