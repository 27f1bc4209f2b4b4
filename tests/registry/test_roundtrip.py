"""Push, pull, dedup and transfer planning, on the local and the S3 backend."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import blake3
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import load_file, save_file

from fleetyard.registry import (
    Store,
    diff_versions,
    missing_chunks,
    open_store,
    pull,
    push,
    read_ranges,
    verify_store,
)
from tests.registry.conftest import BIN, tree_bytes, write_model


def test_push_pull_is_byte_identical_and_upstream_verifies(
    store: Store, model: Path, tmp_path: Path, keys: dict[str, Path]
) -> None:
    res = push(store, model, "support-llm", "1", key=keys["main"], labels={"framework": "numpy"})
    assert res.manifest.signed and res.new_chunks > 0 and res.reused_chunks == 0
    out = tmp_path / "pulled"
    pulled = pull(store, "support-llm:1", out, public_key=keys["main.pub"])
    assert pulled.signature_verified
    got = tree_bytes(out)
    assert got.pop("model.sig")
    assert got == tree_bytes(model)
    proc = subprocess.run(
        [
            str(BIN / "model_signing"),
            "verify",
            "key",
            str(out),
            "--signature",
            str(out / "model.sig"),
            "--public_key",
            str(keys["main.pub"]),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Verification succeeded" in proc.stdout
    m = store.manifest("support-llm", "1")
    assert m.labels == {"framework": "numpy"} and m.size == sum(
        len(b) for b in tree_bytes(model).values()
    )


def _fine_tune(src: Path, dst: Path) -> int:
    """Copy a model, change one tensor; returns the changed tensor's byte size."""
    import shutil

    shutil.copytree(src, dst)
    shard = dst / "model-00001-of-00002.safetensors"
    tensors = load_file(str(shard))
    name = sorted(tensors)[1]
    tensors[name] = tensors[name] + np.float32(0.001)
    save_file(tensors, str(shard))
    return int(tensors[name].nbytes)


def test_dedup_across_versions_and_models(store: Store, model: Path, tmp_path: Path) -> None:
    first = push(store, model, "m", "1")
    again = push(store, model, "m", "2")
    assert again.raw_bytes_added == 0 and again.new_chunks == 0
    changed = _fine_tune(model, tmp_path / "ft")
    ft = push(store, tmp_path / "ft", "m", "3", parent="m:1")
    assert ft.manifest.parent == "m:1"
    # Only the changed tensor (plus at most a chunk on each side) is new.
    assert changed <= ft.raw_bytes_added <= changed + 2 * 256 * 1024
    assert ft.raw_bytes_added < first.raw_bytes_added / 4
    other = push(store, model, "other-model", "1")
    assert other.raw_bytes_added == 0
    d = diff_versions(store, "m:1", "m:3")
    assert d.count("changed") == 1 and d.count("same") == 4
    assert d.new_chunk_bytes == ft.raw_bytes_added
    assert 0 < d.fetch_bytes <= d.new_chunk_bytes
    assert verify_store(store).ok


def test_parallel_push_matches_inline(local_store: Store, model: Path) -> None:
    a = push(local_store, model, "m", "inline", workers=1)
    b = push(local_store, model, "m", "parallel", workers=2, parallel_min_bytes=0)
    assert a.manifest.recipe == b.manifest.recipe
    assert b.raw_bytes_added == 0


def test_parallel_push_of_new_data_round_trips(tmp_path: Path) -> None:
    store = open_store(tmp_path / "reg", create=True)
    m = write_model(tmp_path / "m", seed=3, shards=3)
    push(store, m, "m", "1", workers=2, parallel_min_bytes=0, pack_size=1 << 20)
    pull(store, "m:1", tmp_path / "out")
    assert tree_bytes(tmp_path / "out") == tree_bytes(m)
    assert len([o for o in store.backend.list("packs/") if o.key.endswith(".pack")]) > 3


def test_missing_chunks_plans_exact_ranges(store: Store, model: Path, tmp_path: Path) -> None:
    push(store, model, "m", "1")
    _fine_tune(model, tmp_path / "ft")
    push(store, tmp_path / "ft", "m", "2")
    full = missing_chunks(store, "m:2")
    assert full.chunks_held == 0 and len(full.chunks) == full.chunks_total
    have = [c.digest for c in missing_chunks(store, "m:1").chunks]
    plan = missing_chunks(store, "m:2", have=have)
    assert 0 < len(plan.chunks) < full.chunks_total
    assert plan.total_bytes == sum(c.stored_size for c in plan.chunks)
    assert plan.chunks_held + len(plan.chunks) == plan.chunks_total
    for r in plan.ranges:  # ranges are contiguous runs of needed chunks
        assert r.length == sum(c.stored_size for c in r.chunks)
    got = {n.digest: bytes(raw) for n, _stored, raw in read_ranges(store, plan.ranges)}
    assert all(blake3.blake3(v).hexdigest() == k for k, v in got.items())
    assert len(got) == len(plan.chunks)
    # Holding everything means fetching nothing.
    assert missing_chunks(store, "m:2", have=[c.digest for c in full.chunks]).total_bytes == 0


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    files=st.lists(
        st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 400_000), st.booleans()),
        min_size=1,
        max_size=4,
    )
)
def test_chunk_store_read_back_is_identity(
    tmp_path_factory: pytest.TempPathFactory, files: list[tuple[int, int, bool]]
) -> None:
    """Property: arbitrary bytes (random or repetitive) pushed and pulled are unchanged."""
    root = tmp_path_factory.mktemp("prop")
    src = root / "src"
    src.mkdir()
    for i, (seed, size, repetitive) in enumerate(files):
        rnd = random.Random(seed)
        data = (rnd.randbytes(97) * (size // 97 + 1))[:size] if repetitive else rnd.randbytes(size)
        (src / f"f{i}.bin").write_bytes(data)
    store = open_store(root / "reg", create=True)
    push(store, src, "p", "1")
    pull(store, "p:1", root / "out")
    assert tree_bytes(root / "out") == tree_bytes(src)


def test_empty_files_and_subfolders_round_trip(local_store: Store, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub" / "deep").mkdir(parents=True)
    (src / "empty.txt").write_bytes(b"")
    (src / "sub" / "deep" / "x.bin").write_bytes(b"x" * 100_000)
    run = src / "run.sh"
    run.write_text("#!/bin/sh\n")
    run.chmod(0o755)
    push(local_store, src, "m", "1")
    pull(local_store, "m:1", tmp_path / "out")
    assert tree_bytes(tmp_path / "out") == tree_bytes(src)
    assert (tmp_path / "out" / "run.sh").stat().st_mode & 0o111


def test_aliases_move_and_resolve(local_store: Store, model: Path, tmp_path: Path) -> None:
    push(local_store, model, "m", "1", alias="prod")
    _fine_tune(model, tmp_path / "ft")
    push(local_store, tmp_path / "ft", "m", "2", alias="canary")
    assert local_store.resolve("m@prod").version == "1"
    assert local_store.set_alias("m", "prod", "2") == "1"
    assert local_store.resolve("m@prod").version == "2"
    assert local_store.aliases("m") == {"prod": "2", "canary": "2"}
