"""The CLI of encryption at rest: keys create --site, push --encrypt-for, pull --site-key, grant."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.encryption.conftest import MARKER, write_marked_model
from tests.registry.conftest import tree_bytes


def fy(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fleetyard", *args], capture_output=True, text=True, timeout=120,
                          check=False, cwd=cwd, env={**os.environ, "COLUMNS": "200"})


def test_keys_push_pull_grant_and_refusals(tmp_path: Path) -> None:
    k, reg = tmp_path / "keys", str(tmp_path / "reg")
    for site in ("fra-1", "ams-1", "publisher"):
        r = fy("keys", "create", "--site", site, "--out", str(k))
        assert r.returncode == 0, r.stderr
    assert stat.S_IMODE((k / "fra-1.site.pem").stat().st_mode) == 0o600
    model = write_marked_model(tmp_path / "m", shards=1)
    (k / "ams-1.site.pub").rename(tmp_path / "ams-1.site.pub")  # not in the folder given to --encrypt-for
    r = fy("registry", "push", str(model), "llm:1", "-r", reg, "-q", "--encrypt-for", str(k),
           "--site-key", str(k / "publisher.site.pem"))
    assert r.returncode == 0 and "encrypted;" in r.stdout, r.stderr
    assert not any(MARKER in p.read_bytes() for p in Path(reg).rglob("*") if p.is_file())

    r = fy("registry", "pull", "llm:1", str(tmp_path / "a"), "-r", reg, "-q", "--site-key", str(k / "ams-1.site.pem"))
    assert r.returncode == 2 and "not wrapped for site key" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "a").exists()
    r = fy("registry", "pull", "llm:1", str(tmp_path / "a"), "-r", reg, "-q")
    assert r.returncode == 2 and "pass --site-key" in r.stderr
    r = fy("registry", "pull", "llm:1", str(tmp_path / "a"), "-r", reg, "-q", "--site-key", str(k / "fra-1.site.pub"))
    assert r.returncode == 2 and "expected an X25519 private key" in r.stderr
    r = fy("registry", "push", str(model), "llm:2", "-r", reg, "-q")
    assert r.returncode == 2 and "model llm is encrypted at rest" in r.stderr

    r = fy("registry", "grant", "llm", "--recipient", str(tmp_path / "ams-1.site.pub"), "-r", reg,
           "--site-key", str(k / "fra-1.site.pem"))
    assert r.returncode == 0 and "granted llm to 1 new site key(s)" in r.stdout, r.stderr
    r = fy("registry", "recipients", "llm", "-r", reg, "-o", "json")
    assert r.returncode == 0 and sorted(x["label"] for x in __import__("json").loads(r.stdout)["recipients"]) == [
        "ams-1", "fra-1", "publisher"]
    r = fy("registry", "pull", "llm:1", str(tmp_path / "a"), "-r", reg, "-q", "--site-key", str(k / "ams-1.site.pem"))
    assert r.returncode == 0, r.stderr
    assert tree_bytes(tmp_path / "a") == tree_bytes(model)
    r = fy("registry", "verify", "-r", reg)
    assert r.returncode == 0, r.stdout + r.stderr
