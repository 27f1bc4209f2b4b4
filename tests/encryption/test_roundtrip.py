"""Encryption at rest in the engine: round trip, no plaintext in the store, refusals, dedup."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from fleetyard.registry import IntegrityError, Store, open_store, pull, push, verify_store
from fleetyard.registry.encryption import load_recipients, read_keys
from fleetyard.registry.errors import EncryptionError
from fleetyard.registry.packs import CODEC_SEALED
from tests.encryption.conftest import MARKER, write_marked_model
from tests.registry.conftest import tree_bytes


def stored_bytes(store: Store) -> bytes:
    """Every durable object of a folder store, concatenated."""
    root = Path(store.url)
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def pack_objects(store: Store) -> dict[str, int]:
    return {o.key: o.size for o in store.backend.list("packs/") if o.key.endswith(".pack")}


@pytest.fixture
def encrypted(tmp_path: Path, site_keys: dict[str, Path]) -> tuple[Store, Path]:
    store = open_store(tmp_path / "center", create=True)
    model = write_marked_model(tmp_path / "model")
    push(store, model, "llm", "1", encrypt_for=load_recipients([site_keys["fra-1.pub"]]),
         site_key=site_keys["publisher"], workers=1)
    return store, model


def test_round_trip_with_the_right_site_key(encrypted: tuple[Store, Path], site_keys: dict[str, Path],
                                            tmp_path: Path) -> None:
    store, model = encrypted
    m = store.manifest("llm", "1")
    assert m.encryption is not None and m.to_json().count(b'"format": 3') == 1
    res = pull(store, "llm:1", tmp_path / "out", site_key=site_keys["fra-1"])
    assert tree_bytes(res.dest) == tree_bytes(model)
    index = store.index()
    assert {e.codec for entries in index.packs.values() for e in entries} == {CODEC_SEALED}
    assert verify_store(store).ok  # verify needs no key: sealed records carry a keyless checksum


def test_the_store_holds_no_plaintext(encrypted: tuple[Store, Path]) -> None:
    store, model = encrypted
    assert MARKER in (model / "shard-0.bin").read_bytes()  # the marker is there to be found
    data = stored_bytes(store)
    assert len(data) > 3 << 20
    assert MARKER not in data
    assert MARKER[:16] not in data
    # the same model pushed in clear does show it: the search works
    plain = open_store(Path(store.url).parent / "plain", create=True)
    push(plain, model, "llm", "1", workers=1)
    assert MARKER in stored_bytes(plain)


def test_a_key_wrapped_for_another_site_is_refused(encrypted: tuple[Store, Path], site_keys: dict[str, Path],
                                                   tmp_path: Path) -> None:
    store, _ = encrypted
    dest = tmp_path / "out"
    with pytest.raises(EncryptionError, match=r"not wrapped for site key .*ams-1\.site\.pem.*wrapped for fra-1, "
                                              r"publisher"):
        pull(store, "llm:1", dest, site_key=site_keys["ams-1"])
    with pytest.raises(EncryptionError, match="encrypted at rest: pass --site-key"):
        pull(store, "llm:1", dest)
    assert not dest.exists() and not list(tmp_path.glob(".out.partial-*"))


def test_a_forged_wrap_for_this_site_is_refused(encrypted: tuple[Store, Path], site_keys: dict[str, Path],
                                                tmp_path: Path) -> None:
    store, _ = encrypted
    key = "keys/llm.json"
    doc = store.backend.get(key).decode()
    keys = read_keys(store.backend, "llm")
    assert keys is not None
    sealed = next(r.sealed for r in keys.recipients if r.label == "fra-1")
    forged = sealed[:4] + ("A" if sealed[4] != "A" else "B") + sealed[5:]
    store.backend.put(key, doc.replace(sealed, forged).encode())
    with pytest.raises(EncryptionError, match="fails authentication"):
        pull(store, "llm:1", tmp_path / "out", site_key=site_keys["fra-1"])
    assert not (tmp_path / "out").exists()


def _flip(store: Store, offset_in_record: int, *, fix_checksum: bool) -> None:
    """Change one ciphertext byte of the first sealed chunk (and, like a forger, its keyless checksum)."""
    import blake3

    pid, entries = next(iter(store.index().packs.items()))
    e = entries[0]
    path = Path(store.url) / f"packs/{pid[:2]}/{pid}.pack"
    data = bytearray(path.read_bytes())
    rec = e.offset
    data[rec + offset_in_record] ^= 0x01
    if fix_checksum:
        ct = bytes(data[rec : rec + e.stored_size - 32])
        data[rec + e.stored_size - 32 : rec + e.stored_size] = blake3.blake3(ct, key=e.digest).digest()
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("forger", [False, True], ids=["corrupted", "forged-checksum"])
def test_tampered_ciphertext_is_refused_and_nothing_is_written(encrypted: tuple[Store, Path],
                                                               site_keys: dict[str, Path], tmp_path: Path,
                                                               forger: bool) -> None:
    store, _ = encrypted
    _flip(store, 5, fix_checksum=forger)
    dest = tmp_path / "out"
    with pytest.raises(IntegrityError, match="fails authentication: tampered"):  # the GCM tag, with the key
        pull(store, "llm:1", dest, site_key=site_keys["fra-1"])
    assert not dest.exists() and not list(tmp_path.glob(".out.partial-*"))
    report = verify_store(store)  # without the key: the keyless checksum catches corruption, not a forger
    assert report.ok is forger
    assert forger or "does not match its checksum" in report.problems[0].message


def test_dedup_across_versions_survives_encryption(encrypted: tuple[Store, Path], site_keys: dict[str, Path],
                                                   tmp_path: Path) -> None:
    store, model = encrypted
    before = pack_objects(store)
    chunks_before = len(store.index())
    shard = model / "shard-1.bin"
    data = bytearray(shard.read_bytes())
    data[400_000:400_016] = random.Random(5).randbytes(16)  # one changed region of one shard
    shard.write_bytes(bytes(data))
    res = push(store, model, "llm", "2", site_key=site_keys["publisher"], workers=1)
    added = {k: v for k, v in pack_objects(store).items() if k not in before}
    assert 1 <= res.new_chunks <= 3, res
    assert len(store.index()) - chunks_before == res.new_chunks
    assert res.reused_chunks >= store.manifest("llm", "1").chunk_count - 3
    assert sum(added.values()) < 4 * 256 * 1024  # only the changed chunks (+ 48 bytes each), not 3 MB
    m2 = store.manifest("llm", "2")
    assert m2.encryption == store.manifest("llm", "1").encryption  # one data key per model
    out = pull(store, "llm:2", tmp_path / "v2", site_key=site_keys["fra-1"])
    assert tree_bytes(out.dest) == tree_bytes(model)


def test_an_encrypted_model_refuses_a_push_in_clear_and_a_push_without_a_recipient_key(
        encrypted: tuple[Store, Path], site_keys: dict[str, Path]) -> None:
    store, model = encrypted
    objects = {o.key for o in store.backend.list("") if not o.key.startswith("tmp/")}
    with pytest.raises(EncryptionError, match="model llm is encrypted at rest"):
        push(store, model, "llm", "2", workers=1)
    with pytest.raises(EncryptionError, match="not wrapped for site key"):
        push(store, model, "llm", "2", site_key=site_keys["ams-1"], workers=1)
    assert {o.key for o in store.backend.list("") if not o.key.startswith(("tmp/", "leases/"))} == objects


def test_the_same_chunk_in_two_encrypted_models_is_stored_under_each_key(
        tmp_path: Path, site_keys: dict[str, Path]) -> None:
    store = open_store(tmp_path / "center", create=True)
    model = write_marked_model(tmp_path / "model", shards=1)
    fra = load_recipients([site_keys["fra-1.pub"]])
    ams = load_recipients([site_keys["ams-1.pub"]])
    a = push(store, model, "a", "1", encrypt_for=fra, workers=1)
    b = push(store, model, "b", "1", encrypt_for=ams, workers=1)
    assert b.reused_chunks == 0 and b.new_chunks == a.new_chunks  # no dedup across data keys
    assert tree_bytes(pull(store, "b:1", tmp_path / "b", site_key=site_keys["ams-1"]).dest) == tree_bytes(model)
    with pytest.raises(EncryptionError):
        pull(store, "a:1", tmp_path / "a", site_key=site_keys["ams-1"])


def test_unencrypted_models_work_as_before(tmp_path: Path, site_keys: dict[str, Path]) -> None:
    store = open_store(tmp_path / "center", create=True)
    model = write_marked_model(tmp_path / "model", shards=1)
    res = push(store, model, "plain", "1", workers=1)
    assert res.manifest.encryption is None and b'"format": 1' in res.manifest.to_json()
    assert read_keys(store.backend, "plain") is None
    out = pull(store, "plain:1", tmp_path / "out", site_key=site_keys["fra-1"])  # a site key changes nothing
    assert tree_bytes(out.dest) == tree_bytes(model)
