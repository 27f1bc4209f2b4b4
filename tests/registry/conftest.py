"""Fixtures for registry tests: small realistic models, keys, and both backends.

Models are a few MB of safetensors written with numpy, plus config and tokenizer
files. The S3 backend runs against a real moto server process on 127.0.0.1 (a
free port), started once per session with a bounded wait.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import numpy as np
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from safetensors.numpy import save_file

from fleetyard.registry import Store, open_store

BIN = Path(sys.executable).parent


def write_model(folder: Path, seed: int = 0, *, shards: int = 2, rows: int = 256) -> Path:
    """A small model folder: `shards` safetensors files, config and tokenizer."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for s in range(shards):
        tensors = {
            f"layers.{s}.{i}.weight": (rng.standard_normal((rows, 1024)) * 0.02).astype(np.float32)
            for i in range(4)
        }
        save_file(tensors, str(folder / f"model-{s:05d}-of-{shards:05d}.safetensors"))
    (folder / "config.json").write_text(json.dumps({"hidden_size": 1024, "layers": shards * 4}))
    vocab = {f"tok{i}": i for i in range(3000)}
    (folder / "tokenizer.json").write_text(json.dumps({"model": {"vocab": vocab}}))
    (folder / "tokenizer_config.json").write_text(json.dumps({"bos_token": "<s>"}))
    return folder


def tree_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under a folder (relative path → content)."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def store_objects(store: Store) -> dict[str, int]:
    """A store's durable objects (key → size), ignoring staging and leases."""
    return {
        o.key: o.size for o in store.backend.list("") if not o.key.startswith(("tmp/", "leases/"))
    }


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return write_model(tmp_path / "model")


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An EC signing key pair, an encrypted copy (password 'hunter2'), another key."""
    d = tmp_path_factory.mktemp("keys")
    out: dict[str, Path] = {}
    for name in ("main", "other"):
        key = ec.generate_private_key(ec.SECP256R1())
        out[name] = d / f"{name}.pem"
        out[name].write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        out[f"{name}.pub"] = d / f"{name}.pub"
        out[f"{name}.pub"].write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        if name == "main":
            out["encrypted"] = d / "encrypted.pem"
            out["encrypted"].write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.BestAvailableEncryption(b"hunter2"),
                )
            )
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto S3 server on loopback; yields its endpoint URL."""
    port = _free_port()
    proc = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("moto server did not start within 30 s")
            time.sleep(0.1)
    old = {k: os.environ.get(k) for k in _S3_ENV}
    os.environ.update(_S3_ENV | {"AWS_ENDPOINT_URL": url})
    try:
        yield url
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


_S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ENDPOINT_URL": "",
}


def new_bucket(endpoint: str) -> str:
    """Create a fresh bucket on the moto server; returns its s3:// URL with a prefix."""
    name = f"fy-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=name)
    return f"s3://{name}/registry"


@pytest.fixture(params=["local", "s3"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A registry location on each backend: a folder, or a bucket on moto."""
    if request.param == "local":
        return str(tmp_path / "registry")
    endpoint = request.getfixturevalue("moto_server")
    return new_bucket(endpoint)


@pytest.fixture
def store(store_url: str) -> Store:
    return open_store(store_url, create=True)


@pytest.fixture
def local_store(tmp_path: Path) -> Store:
    return open_store(tmp_path / "registry", create=True)


@dataclass(frozen=True)
class CliResult:
    """Exit code and output of one CLI run."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str, env: dict[str, str] | None = None) -> CliResult:
    """Run `fleetyard registry …` in-process (Typer's runner): fast, same code path."""
    from typer.testing import CliRunner

    from fleetyard.cli.registry_cmd import registry_app

    assert args[0] == "registry"
    result = CliRunner().invoke(registry_app, list(args[1:]), env={"COLUMNS": "200", **(env or {})})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return CliResult(result.exit_code, result.stdout, result.stderr)


def run_cli_process(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> CliResult:
    """Run the real `fleetyard` console script in a subprocess."""
    r = subprocess.run(
        [str(BIN / "fleetyard"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {}), "COLUMNS": "200"},
        check=False,
    )
    return CliResult(r.returncode, r.stdout, r.stderr)
