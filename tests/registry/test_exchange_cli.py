"""Export/import for air-gapped sites, the CLI's read commands, and the public API."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import fleetyard.registry as registry
from fleetyard.registry import (
    InvalidInputError,
    export_versions,
    import_versions,
    open_store,
    pull,
    push,
    verify_store,
)
from tests.registry.conftest import run_cli, tree_bytes


def _fine_tune(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst)
    shard = dst / "model-00000-of-00002.safetensors"
    t = load_file(str(shard))
    name = sorted(t)[0]
    t[name] = t[name] * np.float32(1.01)
    save_file(t, str(shard))


def test_export_import_with_base_and_signature(
    tmp_path: Path, model: Path, keys: dict[str, Path]
) -> None:
    central = open_store(tmp_path / "central", create=True)
    push(central, model, "m", "1", key=keys["main"])
    _fine_tune(model, tmp_path / "ft")
    push(central, tmp_path / "ft", "m", "2", key=keys["main"])

    full = export_versions(central, ["m:1"], tmp_path / "usb1")
    delta = export_versions(central, ["m:2"], tmp_path / "usb2", base="m:1")
    assert 0 < delta.bytes_copied < full.bytes_copied / 3

    site = open_store(tmp_path / "site", create=True)
    with pytest.raises(InvalidInputError, match="import or push its base version first"):
        import_versions(site, tmp_path / "usb2")
    assert site.versions() == []
    import_versions(site, tmp_path / "usb1")
    import_versions(site, tmp_path / "usb2")
    pull(site, "m:2", tmp_path / "out", public_key=keys["main.pub"])
    got = tree_bytes(tmp_path / "out")
    got.pop("model.sig")
    assert got == tree_bytes(tmp_path / "ft")
    assert verify_store(site).ok
    # Importing again is a no-op.
    assert import_versions(site, tmp_path / "usb1").bytes_copied == 0


def test_cli_read_commands_and_export(tmp_path: Path, model: Path) -> None:
    reg = str(tmp_path / "reg")
    env = {"FLEETYARD_REGISTRY": reg}
    assert (
        run_cli(
            "registry", "push", str(model), "m:1", "-q", "--label", "git=abc", env=env
        ).returncode
        == 0
    )
    _fine_tune(model, tmp_path / "ft")
    assert (
        run_cli(
            "registry", "push", str(tmp_path / "ft"), "m:2", "-q", "--parent", "m:1", env=env
        ).returncode
        == 0
    )
    assert run_cli("registry", "alias", "set", "m", "prod", "1", env=env).returncode == 0
    moved = run_cli("registry", "alias", "set", "m", "prod", "2", env=env)
    assert moved.returncode == 0 and "(was 1)" in moved.stdout
    ls = run_cli("registry", "ls", "--json", env=env)
    rows = json.loads(ls.stdout)
    assert [r["ref"] for r in rows] == ["m:1", "m:2"] and rows[1]["aliases"] == ["prod"]
    show = json.loads(run_cli("registry", "show", "m@prod", "--json", env=env).stdout)
    assert show["parent"] == "m:1" and show["version"] == "2"
    diff = json.loads(run_cli("registry", "diff", "m:1", "m:2", "--json", env=env).stdout)
    assert [f["path"] for f in diff["files"]] == ["model-00000-of-00002.safetensors"]
    assert 0 < diff["fetch_bytes"] <= diff["new_chunk_bytes"] < 2_000_000
    text = run_cli("registry", "diff", "m:1", "m:2", env=env)
    assert "a site holding m:1 fetches" in text.stdout
    exp = run_cli("registry", "export", str(tmp_path / "usb"), "m:1", "m:2", env=env)
    assert exp.returncode == 0, exp.stderr
    imp = run_cli("registry", "import", str(tmp_path / "usb"), "-r", str(tmp_path / "site"))
    assert imp.returncode == 0 and "imported m:1, m:2" in imp.stdout


def test_public_api_is_exported() -> None:
    for name in registry.__all__:
        assert hasattr(registry, name), name
    for name in (
        "open_store",
        "push",
        "pull",
        "missing_chunks",
        "MissingChunks",
        "PackRange",
        "gc",
    ):
        assert name in registry.__all__


def test_engine_imports_no_web_db_or_cli() -> None:
    code = (
        "import sys, fleetyard.registry, fleetyard.registry.backends.s3;"
        "bad=[m for m in sys.modules if m.split('.')[0] in "
        "('fastapi','sqlalchemy','httpx','typer') or "
        "m.startswith(('fleetyard.cli','fleetyard.server','fleetyard.agent'))];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert r.returncode == 0, r.stdout + r.stderr
