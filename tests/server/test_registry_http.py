"""The registry over HTTP: push through `HttpBackend`, ranged reads, create-only manifests."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from fleetyard.cli.app import app
from fleetyard.registry import (
    FileEntry,
    ObjectInfo,
    StorageError,
    VersionManifest,
    missing_chunks,
    pull,
    push,
    read_ranges,
)
from fleetyard.registry.backends.base import ObjectNotFoundError
from fleetyard.services.http_backend import HttpBackend, RemoteAuthError, open_remote_store
from tests.server.conftest import ServerProcess, free_port
from tests.server.models import change_one_shard, tree, write_model


def _packs(backend: HttpBackend) -> dict[str, int]:
    return {o.key: o.size for o in backend.list("packs/") if o.key.endswith(".pack")}


def test_push_pull_and_ranged_reads(server: ServerProcess, tmp_path: Path) -> None:
    model = write_model(tmp_path / "m", seed=11)
    store = open_remote_store(server.url, server.admin_token)
    res = push(store, model, "range-llm", "1", workers=1)
    assert res.new_chunks > 0 and res.manifest.ref == "range-llm:1"
    dest = tmp_path / "pulled"
    pull(store, "range-llm:1", dest)
    assert tree(dest) == tree(model)

    need = missing_chunks(store, "range-llm:1")
    got = sum(len(raw) for _n, _stored, raw in read_ranges(store, need.ranges))
    assert got == need.raw_bytes == res.manifest.size

    key = need.ranges[0].key
    size = _packs(store.backend)[key]  # type: ignore[arg-type]
    auth = {"Authorization": f"Bearer {server.admin_token}"}
    with httpx.Client(base_url=f"{server.url}/api/v1/registry/objects/", headers=auth) as http:
        whole = http.get(key).content
        assert len(whole) == size
        r = http.get(key, headers={"Range": "bytes=8-27"})
        assert r.status_code == 206 and r.content == whole[8:28]
        assert r.headers["content-range"] == f"bytes 8-27/{size}"
        r = http.get(key, headers={"Range": "bytes=-16"})
        assert r.status_code == 206 and r.content == whole[-16:]
        r = http.get(key, headers={"Range": f"bytes={size - 4}-{size + 100}"})
        assert r.status_code == 206 and r.content == whole[-4:]
        r = http.get(key, headers={"Range": f"bytes={size}-"})
        assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{size}"
        h = http.head(key)
        assert h.status_code == 200 and int(h.headers["content-length"]) == size
        assert http.get("packs/00/nothing.pack").status_code == 404
        assert http.get("tmp/x").status_code == 404
        assert http.put("fleetyard-registry.json", content=b"{}").status_code == 403
    assert store.backend.get_range(key, size - 2, 10) == whole[-2:]
    assert store.backend.get_range(key, size + 5, 10) == b""


def test_second_push_sends_only_missing_chunks(server: ServerProcess, tmp_path: Path) -> None:
    model = write_model(tmp_path / "m", seed=12, shards=3)
    store = open_remote_store(server.url, server.admin_token)
    first = push(store, model, "delta-llm", "1", workers=1)
    before = _packs(store.backend)  # type: ignore[arg-type]
    same = push(store, model, "delta-llm", "1b", workers=1)
    assert same.packs_written == 0 and same.new_chunks == 0 and _packs(store.backend) == before  # type: ignore[arg-type]
    change_one_shard(model, seed=13)
    second = push(store, model, "delta-llm", "2", workers=1)
    added = {k: v for k, v in _packs(store.backend).items() if k not in before}  # type: ignore[arg-type]
    shard = sorted(model.glob("*.safetensors"))[-1].stat().st_size
    assert second.reused_chunks > 0
    assert sum(added.values()) <= shard * 1.1 + 4096  # about the changed file, not the model
    assert sum(added.values()) < first.stored_bytes_added / 2


def _manifest(created: str) -> bytes:
    """A valid manifest of create-only:1 (the server refuses anything else under its key)."""
    entry = FileEntry("a.bin", 1, 0o644, "0" * 64)
    return VersionManifest("create-only", "1", created, 1, (entry,), "0" * 64, 1).to_json()


def test_manifests_are_create_only(server: ServerProcess) -> None:
    backend = HttpBackend(server.url, server.admin_token)
    key = "versions/create-only/1.json"
    auth = {"Authorization": f"Bearer {server.admin_token}"}
    first, second = _manifest("2025-01-01T00:00:00Z"), _manifest("2025-01-02T00:00:00Z")
    r = httpx.put(f"{server.url}/api/v1/registry/objects/{key}", content=b"{}", headers=auth)
    assert r.status_code == 428
    assert backend.put_new(key, first) is True
    assert backend.put_new(key, second) is False
    assert backend.get(key) == first
    with pytest.raises(StorageError):
        backend.put(key, b"{}")  # 428: versions are immutable through the API
    assert backend.exists(key) and not backend.exists("versions/create-only/2.json")
    assert [o.key for o in backend.list("versions/create-only/")] == [key]
    assert isinstance(next(iter(backend.list("versions/create-only/"))), ObjectInfo)
    backend.delete(key)
    backend.delete(key)  # absent is fine
    assert not backend.exists(key)
    with server.client() as api:
        puts = [e for e in api.audit(50) if e.target == key]
    assert [e.action for e in puts] == ["registry.delete", "registry.put"]


def test_backend_errors_and_throttle(server: ServerProcess, tmp_path: Path) -> None:
    seen: list[int] = []
    backend = HttpBackend(server.url, server.admin_token, throttle=seen.append)
    data = backend.get("fleetyard-registry.json")
    assert sum(seen) == len(data) > 0
    with pytest.raises(ObjectNotFoundError):
        backend.get("recipes/" + "0" * 64)
    with pytest.raises(RemoteAuthError) as e:
        HttpBackend(server.url, "fy_wrong").get("fleetyard-registry.json")
    assert e.value.status == 401
    with server.client() as api:
        viewer = api.create_token("viewer").token
    with pytest.raises(RemoteAuthError) as e:
        HttpBackend(server.url, viewer).put("leases/x.json", b"{}")
    assert e.value.status == 403
    with pytest.raises(StorageError, match="cannot connect"):
        HttpBackend(f"http://127.0.0.1:{free_port()}", "t").get("fleetyard-registry.json")
    staged = tmp_path / "staged"
    staged.write_bytes(b"x" * 100_000)
    backend.put_file("leases/big.json", str(staged))
    assert not staged.exists() and backend.get("leases/big.json") == b"x" * 100_000
    backend.delete("leases/big.json")


def test_cli_push_to_server(server: ServerProcess, tmp_path: Path) -> None:
    model = write_model(tmp_path / "m", seed=14)
    env = {"FLEETYARD_SERVER": server.url, "FLEETYARD_TOKEN": server.admin_token, "COLUMNS": "200"}
    runner = CliRunner()
    r = runner.invoke(app, ["registry", "push", str(model), "cli-llm:1", "-q", "--workers", "1"], env=env)
    assert r.exit_code == 0, r.stderr
    assert f"pushed cli-llm:1 to {server.url}" in r.stdout
    again = runner.invoke(app, ["registry", "push", str(model), "cli-llm:1", "-q"], env=env)
    assert again.exit_code == 2 and "already exists" in again.stderr
    bad = runner.invoke(app, ["registry", "push", str(model), "cli-llm:2", "-q"], env={**env, "FLEETYARD_TOKEN": "x"})
    # a refused token is wrong input: exit 2
    assert bad.exit_code == 2 and "token refused" in bad.stderr and "Traceback" not in bad.stderr
    listed = runner.invoke(app, ["get", "models", "--format", "json"], env=env)
    assert listed.exit_code == 0 and '"cli-llm:1"' in listed.stdout
