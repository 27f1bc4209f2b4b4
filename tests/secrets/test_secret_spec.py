"""The Secret resource and `secret_env` in files alone (`fleetyard validate`): references checked
within the files given, secret-looking `env` values warned about at their file and line, and no
message ever quoting a Secret's value."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from fleetyard.cli.app import app
from fleetyard.spec import SpecError, load_fleet
from fleetyard.spec.secret import env_warnings
from tests.secrets.fleet import TOKEN, fleet_docs, secret


def write(tmp_path: Path, docs: list[dict[str, object]], name: str = "fleet.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


@pytest.mark.parametrize(("name", "value", "warned"), [
    ("HF_TOKEN", "hf_abcdefghijklmnopqrstuvwx", True),
    ("DB_PASSWORD", "hunter2hunter2", True),
    ("OPENAI_API_KEY", "a-long-random-value-1234", True),
    ("SIGNING_KEY", "0123456789abcdef", True),
    ("CLIENT_SECRET", "s3cr3t-value-xyz", True),
    ("ANYTHING", "sk-proj-abcdefghijklmnop", True),
    ("AWS_ID", "AKIAIOSFODNN7EXAMPLE", True),
    ("SLACK", "xoxb-1234-5678-abcdefgh", True),
    ("CERT", "-----BEGIN PRIVATE KEY-----", True),
    ("GH", "ghp_abcdefghijklmnopqrstuvwxyz0123", True),
    ("TOKENIZERS_PARALLELISM", "false", False),
    ("MAX_TOKENS", "4096", False),
    ("CACHE_KEY", "short", False),
    ("DB_PASSWORD", "changeme", False),
    ("API_KEY_FILE", "/run/secrets/api-key", False),
    ("PASSWORD", "${DB_PASSWORD}", False),
    ("MODE", "chat", False),
    ("NAME", "sk-", False),
])
def test_secret_looking_env(name: str, value: str, warned: bool) -> None:
    found = list(env_warnings({name: value}))
    assert bool(found) == warned, (name, found)
    for _loc, message in found:
        assert value not in message and "secret_env" in message


def test_offline_references_are_checked_within_the_files_given(tmp_path: Path) -> None:
    fleet = write(tmp_path, fleet_docs())
    loaded = load_fleet([fleet])  # the Secret lives elsewhere (the server): a warning, not an error
    [w] = [w for w in loaded.warnings if w.path.startswith("spec.secret_env")]
    assert w.path == "spec.secret_env.OPENAI_API_KEY.secret" and "not in the files given" in w.message
    secrets = write(tmp_path, [secret("openai", {"org": "x"})], "secrets.yaml")
    with pytest.raises(SpecError) as err:
        load_fleet([fleet, secrets])
    [e] = err.value.errors
    assert str(e).startswith(f"{fleet}:") and "has no key 'token'; its keys: org" in e.message
    write(tmp_path, [secret("openai", {"token": TOKEN})], "secrets.yaml")
    assert not [w for w in load_fleet([fleet, secrets]).warnings if w.path.startswith("spec.secret_env")]


def test_mistakes_in_secrets_never_show_the_value(tmp_path: Path) -> None:
    bad = fleet_docs()
    bad[3]["spec"]["env"]["OPENAI_API_KEY"] = "x"  # type: ignore[index]
    bad[3]["spec"]["secret_env"]["FLEETYARD_X"] = {"secret": "openai", "key": "token"}  # type: ignore[index]
    docs = [*bad, {"apiVersion": "fleetyard/v1", "kind": "Secret", "metadata": {"name": "openai"},
                   "spec": {"data": {"token": 987654321, "big": "v" * 40_000}}}]
    path = write(tmp_path, docs)
    r = CliRunner().invoke(app, ["validate", str(path)], env={"COLUMNS": "200"})
    out = r.stdout + r.stderr
    assert r.exit_code == 2 and "Traceback" not in out
    assert "987654321" not in out and "vvvvvvvv" not in out
    assert "spec.data.token: expected text (the value is not shown)" in out
    assert "OPENAI_API_KEY is also in spec.env" in out
    assert "names starting with FLEETYARD_ are set by the agent" in out
    docs[-1]["spec"] = {"data": {"big": "v" * 40_000}}
    r = CliRunner().invoke(app, ["validate", str(write(tmp_path, docs))], env={"COLUMNS": "200"})
    assert "must be at most 32,768 bytes, got 40,000 bytes (the value itself is not shown)" in r.stdout + r.stderr


def test_the_warning_has_file_and_line(tmp_path: Path) -> None:
    docs = fleet_docs()
    docs[5]["spec"]["env"]["GITHUB_TOKEN"] = "ghp_abcdefghijklmnopqrstuvwxyz0123"  # type: ignore[index]
    path = write(tmp_path, docs)
    [w] = [w for w in load_fleet([path]).warnings if w.path == "spec.env.GITHUB_TOKEN"]
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "GITHUB_TOKEN" in text)
    assert w.line == line and w.severity == "warning"
