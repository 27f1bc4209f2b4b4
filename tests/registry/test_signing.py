"""Signatures: OpenSSF model signing format, refusal of unsigned or foreign ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetyard.registry import (
    SignatureError,
    SigningKeyError,
    Store,
    pull,
    push,
)
from fleetyard.registry.signing import signed_paths
from tests.registry.conftest import run_cli, store_objects


def test_signature_travels_and_lists_every_file(
    local_store: Store, model: Path, keys: dict[str, Path]
) -> None:
    m = push(local_store, model, "m", "1", key=keys["main"]).manifest
    assert m.signature is not None
    assert set(signed_paths(m.signature)) == {f.path for f in m.files}


def test_unsigned_version_is_refused_with_public_key(
    local_store: Store, model: Path, tmp_path: Path, keys: dict[str, Path]
) -> None:
    push(local_store, model, "m", "1")
    with pytest.raises(SignatureError, match="m:1 is unsigned"):
        pull(local_store, "m:1", tmp_path / "out", public_key=keys["main.pub"])
    assert not (tmp_path / "out").exists()


def test_wrong_key_is_refused_and_nothing_written(
    local_store: Store, model: Path, tmp_path: Path, keys: dict[str, Path]
) -> None:
    push(local_store, model, "m", "1", key=keys["main"])
    with pytest.raises(SignatureError, match="does not verify"):
        pull(local_store, "m:1", tmp_path / "out", public_key=keys["other.pub"])
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".out.partial*"))


def test_encrypted_key_with_password(
    local_store: Store, model: Path, tmp_path: Path, keys: dict[str, Path]
) -> None:
    push(local_store, model, "m", "1", key=keys["encrypted"], key_password="hunter2")
    pull(local_store, "m:1", tmp_path / "out", public_key=keys["main.pub"])
    with pytest.raises(SigningKeyError, match="wrong password"):
        push(local_store, model, "m", "2", key=keys["encrypted"], key_password="nope")
    with pytest.raises(SigningKeyError, match="is encrypted"):
        push(local_store, model, "m", "2", key=keys["encrypted"])
    assert not local_store.has_version("m", "2")


def test_cli_signature_refusals_exit_3(tmp_path: Path, model: Path, keys: dict[str, Path]) -> None:
    reg = str(tmp_path / "reg")
    assert (
        run_cli(
            "registry", "push", str(model), "m:1", "-r", reg, "-q", "--key", str(keys["main"])
        ).returncode
        == 0
    )
    assert run_cli("registry", "push", str(model), "m:2", "-r", reg, "-q").returncode == 0
    ok = run_cli(
        "registry",
        "pull",
        "m:1",
        str(tmp_path / "a"),
        "-r",
        reg,
        "-q",
        "--public-key",
        str(keys["main.pub"]),
    )
    assert ok.returncode == 0 and "signature verified" in ok.stdout
    wrong = run_cli(
        "registry",
        "pull",
        "m:1",
        str(tmp_path / "b"),
        "-r",
        reg,
        "--public-key",
        str(keys["other.pub"]),
    )
    assert (
        wrong.returncode == 3
        and "does not verify" in wrong.stderr
        and not (tmp_path / "b").exists()
    )
    unsigned = run_cli(
        "registry",
        "pull",
        "m:2",
        str(tmp_path / "c"),
        "-r",
        reg,
        "--public-key",
        str(keys["main.pub"]),
    )
    assert (
        unsigned.returncode == 3 and "unsigned" in unsigned.stderr and not (tmp_path / "c").exists()
    )
    for r in (wrong, unsigned):
        assert "Traceback" not in r.stderr


def test_cli_key_password_from_env_and_file(
    tmp_path: Path, model: Path, keys: dict[str, Path]
) -> None:
    reg = str(tmp_path / "reg")
    from fleetyard.registry import open_store

    bad = run_cli(
        "registry",
        "push",
        str(model),
        "m:1",
        "-r",
        reg,
        "--key",
        str(keys["encrypted"]),
        env={"FLEETYARD_KEY_PASSWORD": "wrong"},
    )
    assert bad.returncode == 2 and "wrong password" in bad.stderr and "Traceback" not in bad.stderr
    store = open_store(reg, create=True)
    before = store_objects(store)
    pw = tmp_path / "pw"
    pw.write_text("hunter2\n")
    good = run_cli(
        "registry",
        "push",
        str(model),
        "m:1",
        "-r",
        reg,
        "-q",
        "--key",
        str(keys["encrypted"]),
        "--key-password-file",
        str(pw),
    )
    assert good.returncode == 0, good.stderr
    assert store_objects(store) != before
