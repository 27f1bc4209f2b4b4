"""Corruption: every chunk read is checked; bad data is named and never written."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetyard.registry import IntegrityError, Store, pull, push, verify_store
from fleetyard.registry.packs import decode_index
from tests.registry.conftest import run_cli, store_objects


def _flip_byte(store: Store, pack_id_hint: str | None = None) -> tuple[str, str, int]:
    """Flip one byte inside a chunk of a pack; returns (pack key, chunk hex, offset)."""
    idx_key = next(o.key for o in store.backend.list("packs/") if o.key.endswith(".idx"))
    pack_key = idx_key[: -len(".idx")] + ".pack"
    entry = sorted(decode_index(store.backend.get(idx_key), idx_key), key=lambda e: e.offset)[2]
    data = bytearray(store.backend.get(pack_key))
    data[entry.offset + entry.stored_size // 2] ^= 0x01
    store.backend.put(pack_key, bytes(data))
    return pack_key, entry.digest.hex(), entry.offset


def test_flipped_byte_is_named_and_never_written(store: Store, model: Path, tmp_path: Path) -> None:
    push(store, model, "m", "1")
    pack_key, chunk, offset = _flip_byte(store)
    dest = tmp_path / "out"
    with pytest.raises(IntegrityError) as err:
        pull(store, "m:1", dest)
    msg = str(err.value)
    assert chunk in msg and pack_key in msg and str(offset) in msg
    assert "file model-" in msg or "file " in msg
    assert not dest.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.partial")]
    report = verify_store(store)
    assert not report.ok
    assert any(
        p.kind == "corrupt-chunk" and chunk in p.message and "m:1 file" in p.message
        for p in report.problems
    )


def test_cli_verify_and_pull_report_corruption_with_exit_3(tmp_path: Path, model: Path) -> None:
    reg = str(tmp_path / "reg")
    assert run_cli("registry", "push", str(model), "m:1", "-r", reg, "-q").returncode == 0
    assert run_cli("registry", "verify", "-r", reg, "-q").returncode == 0
    from fleetyard.registry import open_store

    _pack, chunk, _ = _flip_byte(open_store(reg))
    before = store_objects(open_store(reg))
    v = run_cli("registry", "verify", "-r", reg, "-q")
    assert v.returncode == 3 and chunk in v.stderr and "Traceback" not in v.stderr
    p = run_cli("registry", "pull", "m:1", str(tmp_path / "out"), "-r", reg, "-q")
    assert p.returncode == 3 and chunk in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "out").exists()
    assert store_objects(open_store(reg)) == before


def test_corrupt_index_and_manifest_are_reported(
    local_store: Store, model: Path, tmp_path: Path
) -> None:
    push(local_store, model, "m", "1")
    idx = next(o.key for o in local_store.backend.list("packs/") if o.key.endswith(".idx"))
    data = bytearray(local_store.backend.get(idx))
    data[20] ^= 0xFF
    local_store.backend.put(idx, bytes(data))
    with pytest.raises(IntegrityError, match="checksum mismatch"):
        pull(local_store, "m:1", tmp_path / "out")
    rep = verify_store(local_store)
    assert any(p.kind == "corrupt-index" for p in rep.problems)
    local_store.backend.put("versions/m/1.json", b"{not json")
    r = run_cli("registry", "pull", "m:1", str(tmp_path / "o2"), "-r", str(local_store.url))
    assert r.returncode == 3 and "versions/m/1.json is malformed" in r.stderr
