"""The kubectl-like commands against a real server: formats, exit codes, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from fleetyard.cli.app import app
from tests.server.conftest import FLEET, ServerProcess, free_port

runner = CliRunner()


def run(server: ServerProcess | None, *args: str, token: str | None = None) -> tuple[int, str, str]:
    env = {"COLUMNS": "200"}
    if server is not None:
        env |= {"FLEETYARD_SERVER": server.url, "FLEETYARD_TOKEN": token or server.admin_token}
    r = runner.invoke(app, list(args), env=env)
    assert "Traceback" not in r.stdout + r.stderr
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, r.stdout, r.stderr


def test_unreachable_server_and_bad_tokens_are_one_line(server: ServerProcess) -> None:
    code, out, err = run(None, "status", "--server", f"http://127.0.0.1:{free_port()}")
    assert code == 1 and out == "" and len(err.strip().splitlines()) == 1
    assert "cannot connect to" in err and "connection refused" in err
    code, _, err = run(server, "get", "sites", token="fy_not-a-token")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "refused the token" in err and "(401)" in err
    code, viewer, _ = run(server, "token", "create", "--role", "viewer")
    assert code == 0 and viewer.startswith("fy_")
    code, _, err = run(server, "apply", "-f", str(FLEET), token=viewer.strip())
    assert code == 2 and len(err.strip().splitlines()) == 1 and "not allowed" in err and "(403)" in err


def test_read_commands_in_both_formats(server: ServerProcess) -> None:
    for what in ("sites", "workloads", "regions", "policies", "objectives", "plan", "models"):
        code, out, err = run(server, "get", what)
        assert code == 0, err
        code, out, err = run(server, "get", what, "--format", "json")
        assert code == 0, err
        json.loads(out)
    code, out, _ = run(server, "get", "site", "fra-1")
    assert code == 0 and "kind: Site" in out and "sync_windows" in out
    code, out, _ = run(server, "get", "plan", "--format", "json")
    doc = json.loads(out)
    assert {"assignments", "routes", "unplaced", "sites", "totals", "bound", "revision"} <= set(doc)
    code, out, _ = run(server, "audit", "--format", "json", "--limit", "3")
    assert code == 0 and len(json.loads(out)) == 3
    code, _, err = run(server, "get", "gadgets")
    assert code == 2 and "expected one of" in err


def test_apply_dry_run_and_delete(server: ServerProcess, tmp_path: Path) -> None:
    code, out, _ = run(server, "apply", "-f", str(FLEET), "--dry-run")
    assert code == 0 and "dry run" in out and "nothing was stored" in out
    code, out, _ = run(server, "delete", "site", "sin-1", "--dry-run")
    assert code == 0 and "Site/sin-1" in out and "deleted" in out
    code, out, _ = run(server, "get", "site", "sin-1")
    assert code == 0
    code, _, err = run(server, "apply", "-f", str(tmp_path / "missing"))
    assert code == 2 and "no such file or folder" in err and "nothing was applied" in err


def test_tokens_from_the_cli(server: ServerProcess) -> None:
    code, out, err = run(server, "token", "create", "--role", "agent", "--site", "par-1", "--format", "json")
    assert code == 0, err
    created = json.loads(out)
    assert created["role"] == "agent" and created["site"] == "par-1" and created["token"].startswith("fy_")
    code, out, _ = run(server, "token", "ls", "--format", "json")
    assert created["id"] in {t["id"] for t in json.loads(out)} and "token" not in json.loads(out)[0]
    code, _, err = run(server, "token", "create", "--role", "agent")
    assert code == 2 and "needs --site" in err
    code, _, err = run(server, "token", "create", "--role", "wizard")
    assert code == 2 and "--role" in err
    code, out, _ = run(server, "token", "revoke", created["id"])
    assert code == 0
    code, _, err = run(server, "get", "sites", token=created["token"])
    assert code == 2 and "revoked" in err


def test_token_create_in_the_database_bootstraps_a_server(tmp_path: Path, server_factory: object) -> None:
    db = f"sqlite:///{tmp_path}/boot/fleetyard.db"
    code, out, err = run(None, "token", "create", "--role", "operator", "--db", db)
    assert code == 0, err
    secret = out.strip()
    assert secret.startswith("fy_") and "shown only now" in err
    server = server_factory(db)  # type: ignore[operator]
    assert "first admin token" not in server.log.read_text()  # the database already had a token
    code, out, _ = run(server, "apply", "-f", str(FLEET), token=secret)
    assert code == 0 and "plan revision 1" in out
    code, _, err = run(None, "token", "create", "--role", "viewer", "--db", "mysql://nope")
    assert code == 2 and "unsupported database" in err
