"""Every bad input of the issue: a clear one-line message, non-zero exit, store unchanged."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from fleetyard.registry import open_store
from tests.registry.conftest import run_cli, run_cli_process, store_objects, write_model


@pytest.fixture
def reg(tmp_path: Path, model: Path) -> str:
    reg = str(tmp_path / "reg")
    assert run_cli("registry", "push", str(model), "m:1", "-r", reg, "-q").returncode == 0
    return reg


def _bad(reg: str, *args: str, code: int = 2, env: dict[str, str] | None = None) -> str:
    before = store_objects(open_store(reg))
    r = run_cli("registry", *args, "-r", reg, env=env)
    assert r.returncode == code, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and r.stderr.startswith("error: ")
    assert len(r.stderr.strip().splitlines()) == 1 or "error:" in r.stderr
    assert store_objects(open_store(reg)) == before
    return r.stderr


def test_missing_and_empty_folder(reg: str, tmp_path: Path) -> None:
    assert "does not exist" in _bad(reg, "push", str(tmp_path / "nope"), "m:2")
    (tmp_path / "empty").mkdir()
    assert "is empty" in _bad(reg, "push", str(tmp_path / "empty"), "m:2")
    (tmp_path / "afile").write_text("x")
    assert "is not a folder" in _bad(reg, "push", str(tmp_path / "afile"), "m:2")


def test_symlink_outside_folder(reg: str, tmp_path: Path) -> None:
    src = write_model(tmp_path / "src", shards=1, rows=16)
    secret = tmp_path / "secret.txt"
    secret.write_text("password")
    (src / "leak.txt").symlink_to(secret)
    msg = _bad(reg, "push", str(src), "m:2")
    assert "leak.txt" in msg and "outside the model folder" in msg


def test_symlink_inside_folder_is_stored_as_file(reg: str, tmp_path: Path) -> None:
    src = write_model(tmp_path / "src", shards=1, rows=16)
    (src / "alias.json").symlink_to(src / "config.json")
    assert run_cli("registry", "push", str(src), "m:2", "-r", reg, "-q").returncode == 0
    assert (
        run_cli("registry", "pull", "m:2", str(tmp_path / "out"), "-r", reg, "-q").returncode == 0
    )
    assert (tmp_path / "out" / "alias.json").read_bytes() == (src / "config.json").read_bytes()


@pytest.mark.parametrize(
    ("ref", "what"),
    [
        ("M:1", "model name"),
        ("m:", "version"),
        ("m", "reference"),
        ("m@prod", "reference"),
        ("a/b:1", "model name"),
        ("m:1/2", "version"),
        ("m:..", "version"),
    ],
)
def test_invalid_name_or_version(reg: str, model: Path, ref: str, what: str) -> None:
    assert f"invalid {what}" in _bad(reg, "push", str(model), ref)


def test_existing_version(reg: str, model: Path) -> None:
    assert "already exists" in _bad(reg, "push", str(model), "m:1")


def test_missing_key_and_wrong_password(
    reg: str, model: Path, tmp_path: Path, keys: dict[str, Path]
) -> None:
    assert "does not exist" in _bad(
        reg, "push", str(model), "m:2", "--key", str(tmp_path / "k.pem")
    )
    msg = _bad(
        reg,
        "push",
        str(model),
        "m:2",
        "--key",
        str(keys["encrypted"]),
        env={"FLEETYARD_KEY_PASSWORD": "wrong"},
    )
    assert "wrong password" in msg
    (tmp_path / "junk.pem").write_text("not a key")
    assert "not a PEM private key" in _bad(
        reg, "push", str(model), "m:2", "--key", str(tmp_path / "junk.pem")
    )
    assert "does not exist" in _bad(
        reg, "pull", "m:1", str(tmp_path / "o"), "--public-key", str(tmp_path / "k.pub")
    )


def test_unknown_version_alias_and_store(reg: str, tmp_path: Path) -> None:
    assert "not found" in _bad(reg, "pull", "m:9", str(tmp_path / "o"))
    assert "not found" in _bad(reg, "pull", "m@prod", str(tmp_path / "o"))
    assert "not found" in _bad(reg, "alias", "set", "m", "prod", "9")
    r = run_cli("registry", "ls", "-r", str(tmp_path / "nowhere"))
    assert r.returncode == 2 and "no registry at" in r.stderr


def test_pull_into_non_empty_folder(reg: str, tmp_path: Path) -> None:
    dest = tmp_path / "busy"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    assert "not empty" in _bad(reg, "pull", "m:1", str(dest))
    assert (dest / "keep.txt").read_text() == "mine"


def test_corrupted_store_marker(reg: str, tmp_path: Path) -> None:
    Path(reg, "fleetyard-registry.json").write_text("{garbage")
    r = run_cli("registry", "ls", "-r", reg)
    assert r.returncode == 3 and "corrupted" in r.stderr and "Traceback" not in r.stderr


def test_full_disk(tmp_path: Path, model: Path) -> None:
    """A registry on a 6 MB filesystem: the 8 MB push fails cleanly, the store is intact."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mnt)],
            capture_output=True,
            check=False,
        ).returncode
        != 0
    ):
        pytest.skip("cannot mount a small tmpfs here")
    try:
        reg = str(mnt / "reg")
        small = write_model(tmp_path / "small-model", seed=5, shards=1, rows=64)
        assert run_cli("registry", "push", str(small), "s:1", "-r", reg, "-q").returncode == 0
        before = store_objects(open_store(reg))
        r = run_cli("registry", "push", str(model), "m:1", "-r", reg, "-q")
        assert (
            r.returncode == 1
            and "no space left" in r.stderr.lower()
            and "Traceback" not in r.stderr
        )
        store = open_store(reg)
        assert store_objects(store) == before
        assert not store.has_version("m", "1")
        assert run_cli("registry", "verify", "-r", reg, "-q").returncode == 0
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_console_script_exit_codes_without_traceback(reg: str, model: Path, tmp_path: Path) -> None:
    """The installed `fleetyard` entry point: 0, 2 and 3 as documented, no tracebacks."""
    ok = run_cli_process("registry", "ls", "-r", reg)
    assert ok.returncode == 0 and "m:1" in ok.stdout
    bad = run_cli_process("registry", "push", str(model), "m:1", "-r", reg)
    assert bad.returncode == 2 and bad.stderr.startswith("error: version m:1 already exists")
    Path(reg, "versions", "m", "1.json").write_text("{")
    broken = run_cli_process("registry", "show", "m:1", "-r", reg)
    assert broken.returncode == 3 and "malformed" in broken.stderr
    for r in (ok, bad, broken):
        assert "Traceback" not in r.stderr
