"""Contexts (issue 13): the config file, its errors with lines, and the one resolution order
(flag > environment > context > default) against a real server."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetyard.cli.app import app
from tests.server.conftest import ServerProcess, free_port


def run(config: Path, *args: str, **env: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(app, list(args), env={"FLEETYARD_CONFIG": str(config), "COLUMNS": "200",
                                                 "FLEETYARD_SERVER": None, "FLEETYARD_TOKEN": None,  # type: ignore[dict-item]
                                                 "FLEETYARD_CONTEXT": None, "FLEETYARD_TOKEN_FILE": None,
                                                 "FLEETYARD_REGISTRY": None, **env})
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return tmp_path / "cfg" / "config.yaml"


def test_set_use_get_view_delete_round_trip(config: Path, tmp_path: Path) -> None:
    token = tmp_path / "prod.token"
    token.write_text("fy_secret\n")
    assert run(config, "config", "set-context", "prod", "--server", "https://fy.example:8443",
               "--token-file", str(token))[0] == 0
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert run(config, "config", "set-context", "lab", "--server", "http://127.0.0.1:9", "--token", "fy_inline")[0] == 0
    assert run(config, "config", "current-context")[1].strip() == "prod"  # the first one becomes current
    assert run(config, "config", "use-context", "lab")[0] == 0
    code, out, _ = run(config, "config", "get-contexts", "-o", "json")
    rows = json.loads(out)
    assert code == 0 and [(r["name"], r["current"], r["auth"]) for r in rows] == [
        ("prod", False, "token-file"), ("lab", True, "token")]
    table = run(config, "config", "get-contexts")[1]
    assert "* " in table and "https://fy.example:8443" in table
    view = run(config, "config", "view")[1]
    assert "fy_inline" not in view and "<redacted>" in view and "fy_secret" not in view
    assert run(config, "config", "set-context", "lab", "--registry", "/srv/reg")[0] == 0
    lab = next(r for r in json.loads(run(config, "config", "get-contexts", "-o", "json")[1]) if r["name"] == "lab")
    assert lab["registry"] == "/srv/reg" and lab["server"] == "http://127.0.0.1:9"  # only the given field changed
    assert run(config, "config", "delete-context", "lab")[0] == 0
    code, _, err = run(config, "config", "current-context")
    assert code == 2 and "no current context" in err


@pytest.mark.parametrize(("text", "where", "words"), [
    ("contexts:\n  - name: a\n    servr: http://x\n", ":3", "contexts.0.servr: Extra inputs are not permitted"),
    ("current-context: a\ncontexts: {a: 1}\n", ":2", "contexts: Input should be a valid list"),
    ("contexts:\n  - name: a\n  - name: a\n", "", "context names must be unique; found 'a' twice"),
    ("contexts: [\n", ":2", ""),
    ("- a\n", ":1", "expected a mapping; found list"),
])
def test_a_malformed_config_is_exit_2_with_file_and_line(config: Path, text: str, where: str, words: str) -> None:
    config.parent.mkdir(parents=True)
    config.write_text(text)
    code, _, err = run(config, "config", "get-contexts")
    assert code == 2 and f"{config}{where}" in err and words in err and "Traceback" not in err


def test_unknown_context_and_missing_token_file_are_exit_2(config: Path, tmp_path: Path) -> None:
    run(config, "config", "set-context", "prod", "--server", "http://127.0.0.1:9")
    code, _, err = run(config, "--context", "prd", "status")
    assert code == 2 and "no context 'prd' (known: prod)" in err
    code, _, err = run(config, "config", "use-context", "prd")
    assert code == 2 and "did you mean 'prod'" in err
    code, _, err = run(config, "--token-file", str(tmp_path / "nope"), "status")
    assert code == 2 and "cannot read token file" in err


def test_an_inline_token_in_a_readable_file_is_a_warning(config: Path) -> None:
    config.parent.mkdir(parents=True)
    config.write_text("contexts:\n  - name: a\n    token: fy_x\n")
    config.chmod(0o644)
    code, _, err = run(config, "config", "get-contexts")
    assert code == 0 and "readable by others" in err


def test_flag_beats_environment_beats_context_beats_default(server: ServerProcess, config: Path,
                                                            tmp_path: Path) -> None:
    token = tmp_path / "admin.token"
    token.write_text(server.admin_token)
    dead = f"http://127.0.0.1:{free_port()}"
    run(config, "config", "set-context", "real", "--server", server.url, "--token-file", str(token))
    code, out, _ = run(config, "status", "-o", "json")
    assert code == 0 and "sites" in json.loads(out)  # the context: server and token
    code, _, err = run(config, "status", FLEETYARD_SERVER=dead)
    assert code == 1 and "cannot connect" in err  # the environment beats the context
    code, out, _ = run(config, "status", "-o", "json", "--server", server.url, FLEETYARD_SERVER=dead)
    assert code == 0  # the flag beats the environment (same server as the context: its token goes along)
    run(config, "config", "set-context", "dead", "--server", dead)
    code, _, err = run(config, "--context", "dead", "status")
    assert code == 1 and dead in err  # --context picks another one
    code, _, err = run(config, "status", FLEETYARD_CONTEXT="dead")
    assert code == 1 and dead in err
    code, _, err = run(config, "status", "--token", "fy_wrong")
    assert code == 2 and "unknown token (401)" in err  # the flag's token replaces the context's
    code, _, err = run(tmp_path / "none.yaml", "status", "--server", server.url)
    assert code == 2 and "missing bearer token" in err  # no context, no token


def test_a_context_token_is_not_sent_to_another_server(server: ServerProcess, config: Path, tmp_path: Path) -> None:
    token = tmp_path / "admin.token"
    token.write_text(server.admin_token)
    run(config, "config", "set-context", "other", "--server", "http://127.0.0.1:9", "--token-file", str(token))
    code, _, err = run(config, "status", "--server", server.url)
    assert code == 2 and "missing bearer token" in err
