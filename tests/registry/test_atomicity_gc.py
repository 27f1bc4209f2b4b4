"""Atomicity under SIGKILL, and gc that never loses what a running push relies on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from fleetyard.registry import (
    Store,
    StoreBusyError,
    gc,
    leases,
    open_store,
    pull,
    push,
    verify_store,
)
from tests.registry.conftest import run_cli, tree_bytes, write_model

# A push whose pack writes are slowed down, so a test can act while it runs.
SLOW_PUSH = textwrap.dedent(
    """
    import importlib, sys, time
    p = importlib.import_module("fleetyard.registry.push")
    real = p.write_pack
    def slow(*a, **k):
        r = real(*a, **k)
        time.sleep(float(sys.argv[4]))
        return r
    p.write_pack = slow
    from fleetyard.registry import open_store, push
    push(open_store(sys.argv[1], create=True), sys.argv[2], "m", sys.argv[3],
         workers=1, pack_size=1 << 20)
    """
)


def _start_slow_push(
    store: str, folder: Path, version: str, delay: float
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", SLOW_PUSH, store, str(folder), version, str(delay)]
    )


def _wait_for(pred: object, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():  # type: ignore[operator]
        if time.monotonic() > deadline or proc.poll() is not None:
            pytest.fail("condition not reached in time")
        time.sleep(0.02)


def _n_packs(store: Store) -> int:
    return sum(1 for o in store.backend.list("packs/") if o.key.endswith(".idx"))


def test_sigkill_mid_push_leaves_no_half_version(
    store_url: str, model: Path, tmp_path: Path
) -> None:
    store = open_store(store_url, create=True)
    push(store, write_model(tmp_path / "base", seed=9, shards=1, rows=64), "m", "0")
    base_packs = _n_packs(store)
    proc = _start_slow_push(store_url, model, "1", 0.3)
    try:
        _wait_for(lambda: _n_packs(store) >= base_packs + 2, proc)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not store.has_version("m", "1")
    assert [m.ref for m in store.versions()] == ["m:0"]
    assert verify_store(store).ok
    # The killed push's lease is dead at once (its process is gone): gc runs, removes
    # the orphaned packs, and the same version can then be pushed whole.
    res = gc(store, wait=5)
    assert res.packs_deleted >= 2 and _n_packs(store) == base_packs
    push(store, model, "m", "1")
    pull(store, "m:1", tmp_path / "out")
    assert tree_bytes(tmp_path / "out") == tree_bytes(model)
    assert verify_store(store).ok


def test_gc_waits_for_running_push_and_loses_nothing(
    local_store: Store, model: Path, tmp_path: Path
) -> None:
    """Version 1 is deleted; a push of the same content relies on its chunks while gc runs."""
    url = str(local_store.url)
    push(local_store, model, "m", "1")
    local_store.remove_version("m", "1")
    extra = write_model(tmp_path / "more", seed=11, shards=2)
    for f in model.iterdir():
        (extra / f"old-{f.name}").write_bytes(f.read_bytes())
    proc = _start_slow_push(url, extra, "2", 0.4)
    try:
        _wait_for(
            lambda: any(
                o.key.startswith("leases/push-") for o in local_store.backend.list("leases/")
            ),
            proc,
        )
        with pytest.raises(StoreBusyError, match="busy: push m:2"):
            gc(local_store, wait=0)
        started = time.monotonic()
        res = gc(local_store, wait=60)  # waits for the push, then collects
        # gc ran only once the push had committed m:2 and dropped its lease (the push's
        # process may still be exiting on a busy machine: that is not what gc waits for)
        assert local_store.has_version("m", "2") and time.monotonic() - started > 0.2
        assert res.chunks_removed == 0
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == 0
    pull(local_store, "m:2", tmp_path / "out")
    assert tree_bytes(tmp_path / "out") == tree_bytes(extra)
    assert verify_store(local_store).ok


def test_push_waits_while_gc_holds_the_store(local_store: Store, model: Path) -> None:
    lease = leases.acquire(local_store.backend, "gc", "gc", wait=0)
    try:
        with pytest.raises(StoreBusyError, match="busy: gc"):
            push(local_store, model, "m", "1", lease_wait=0.5)
        assert not local_store.has_version("m", "1")
        t = threading.Timer(0.5, lease.release)
        t.start()
        push(local_store, model, "m", "1", lease_wait=30)
        t.join()
    finally:
        lease.release()
    assert local_store.has_version("m", "1")


def test_gc_frees_removed_versions_and_repacks(store: Store, tmp_path: Path) -> None:
    a = write_model(tmp_path / "a", seed=1, shards=3)
    b = write_model(tmp_path / "b", seed=2, shards=2)
    c = write_model(tmp_path / "c", seed=3, shards=1)
    shard = "model-00000-of-00003.safetensors"
    (b / shard).write_bytes((a / shard).read_bytes())
    push(store, a, "m", "1")  # one pack: a third of it stays live through version 2
    push(store, b, "m", "2")
    push(store, c, "m", "3")  # a pack that dies whole
    store.remove_version("m", "1")
    store.remove_version("m", "3")
    dry = gc(store, dry_run=True)
    assert dry.bytes_freed > 0 and dry.dry_run
    res = gc(store)
    assert res.bytes_freed == dry.bytes_freed
    assert res.packs_repacked == 1 and res.packs_deleted == 1 and res.packs_written == 1
    pull(store, "m:2", tmp_path / "out")
    assert tree_bytes(tmp_path / "out") == tree_bytes(b)
    assert verify_store(store).ok
    again = gc(store)
    assert again.bytes_freed == 0


def test_rm_refuses_aliased_version_and_cli_gc(tmp_path: Path, model: Path) -> None:
    reg = str(tmp_path / "reg")
    assert (
        run_cli(
            "registry", "push", str(model), "m:1", "-r", reg, "-q", "--alias", "prod"
        ).returncode
        == 0
    )
    r = run_cli("registry", "rm", "m:1", "-r", reg)
    assert r.returncode == 2 and "alias" in r.stderr
    assert run_cli("registry", "rm", "m:1", "-r", reg, "--force").returncode == 0
    g = run_cli("registry", "gc", "-r", reg)
    assert g.returncode == 0 and "1 packs deleted" in g.stdout
