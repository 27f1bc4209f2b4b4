"""Materializing, verifying and activating model versions at a site."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fleetyard.agent.models import ModelDirs
from fleetyard.registry import IntegrityError, SignatureError, Store, copy_version, open_store, push
from tests.replication.models import corrupt_chunk, tree, write_model


def test_materialize_verifies_then_activates_atomically(center: Store, signing_keys: dict[str, Path],
                                                       tmp_path: Path) -> None:
    dirs = ModelDirs(tmp_path / "models", [signing_keys["other.pub"], signing_keys["pub"]])
    folder = dirs.materialize(center, "m:1")
    assert folder == tmp_path / "models" / "m" / "1"
    assert tree(folder) == tree(tmp_path / "v1")
    assert (folder / "model.sig").is_file()
    assert dirs.active("m") is None
    assert dirs.activate("m", "1") is None
    assert os.readlink(tmp_path / "models" / "m" / "active") == "1"
    assert dirs.actives() == {"m": "m:1"}


def test_new_version_keeps_the_previous_for_rollback(center: Store, signing_keys: dict[str, Path],
                                                    tmp_path: Path) -> None:
    dirs = ModelDirs(tmp_path / "models", [signing_keys["pub"]])
    dirs.materialize(center, "m:1")
    dirs.activate("m", "1")
    dirs.materialize(center, "m:2")
    assert dirs.activate("m", "2") == "1"
    assert (dirs.active("m"), dirs.previous("m")) == ("2", "1")
    assert dirs.rollback("m") == "1"
    assert (dirs.active("m"), dirs.previous("m")) == ("1", "2")
    # pruning keeps active and previous, and what is asked for
    dirs.prune(keep=[])
    assert sorted(p.name for p in (tmp_path / "models" / "m").iterdir() if not p.is_symlink()) == ["1", "2"]


def test_bad_signature_is_never_materialized(center: Store, signing_keys: dict[str, Path], tmp_path: Path) -> None:
    dirs = ModelDirs(tmp_path / "models", [signing_keys["other.pub"]])
    with pytest.raises(SignatureError, match="any trusted key"):
        dirs.materialize(center, "m:1")
    assert not (tmp_path / "models" / "m" / "1").exists()
    assert [p.name for p in (tmp_path / "models" / "m").iterdir()] == []


def test_unsigned_version_is_refused(tmp_path: Path, signing_keys: dict[str, Path]) -> None:
    store = open_store(tmp_path / "reg", create=True)
    push(store, write_model(tmp_path / "plain"), "m", "1", workers=1)
    dirs = ModelDirs(tmp_path / "models", [signing_keys["pub"]])
    with pytest.raises(SignatureError, match="unsigned"):
        dirs.materialize(store, "m:1")


def test_corrupted_local_chunk_is_never_materialized(center: Store, signing_keys: dict[str, Path],
                                                     tmp_path: Path) -> None:
    site = open_store(tmp_path / "site", create=True)
    copy_version(center, site, "m:1")
    corrupt_chunk(site, "m:1", which=1)
    dirs = ModelDirs(tmp_path / "models", [signing_keys["pub"]])
    with pytest.raises(IntegrityError):
        dirs.materialize(site, "m:1")
    assert not dirs.is_materialized("m:1")
    assert dirs.clean_leftovers() == []


def test_leftovers_of_a_crash_are_cleaned(tmp_path: Path, signing_keys: dict[str, Path]) -> None:
    dirs = ModelDirs(tmp_path / "models", [signing_keys["pub"]])
    (tmp_path / "models" / "m" / ".incoming-2-abcd").mkdir(parents=True)
    (tmp_path / "models" / "m" / "..incoming-2.partial-1234").mkdir()
    os.symlink("2", tmp_path / "models" / "m" / ".active.tmp-99")
    assert len(dirs.clean_leftovers()) == 3
    assert list((tmp_path / "models" / "m").iterdir()) == []
