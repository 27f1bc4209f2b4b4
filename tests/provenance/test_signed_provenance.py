"""Provenance is signed with the model, tamper-evident, and old manifests still load and verify."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from fleetyard.registry import (
    IntegrityError,
    InvalidInputError,
    Store,
    VersionManifest,
    layout,
    pull,
    push,
    verify_store,
)
from fleetyard.registry.provenance import (
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    ProvenanceError,
    ProvenanceInput,
    read_provenance,
    verify_provenance,
)
from tests.provenance.conftest import DIGEST, TICKETS
from tests.replication.models import write_model


def _rewrite(store: Store, ref: str, change: dict[str, object]) -> None:
    """Overwrite a stored manifest with some fields changed (what an attacker with write access does)."""
    name, version = ref.split(":")
    key = layout.version_key(name, version)
    doc = json.loads(store.backend.get(key))
    doc.update(change)
    store.backend.put(key, json.dumps(doc).encode())


def _edit_statement(envelope: str, edit: object) -> str:
    env = json.loads(envelope)
    statement = json.loads(base64.b64decode(env["payload"]))
    edit(statement)  # type: ignore[operator]
    env["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    return json.dumps(env)


def test_push_records_provenance_in_an_in_toto_slsa_statement(lineage_store: Store,
                                                              signing_keys: dict[str, Path]) -> None:
    m = lineage_store.resolve("support-llm:1")
    assert m.provenance is not None and json.loads(m.to_json())["format"] == 2
    prov, key = verify_provenance(m, [signing_keys["other.pub"], signing_keys["pub"]])
    assert key == signing_keys["pub"]
    assert prov.base_model is not None and prov.base_model.ref == "llama-base:1" and prov.base_model.in_registry
    assert prov.base_model.digest == "blake3:" + lineage_store.resolve("llama-base:1").recipe
    assert prov.datasets == (TICKETS,)
    assert (prov.code_repository, prov.code_commit, prov.run_id) == ("https://git.example.com/ml/train",
                                                                       "3f2a9c1d", "run-2024-06-12-001")
    assert prov.pushed_by.startswith("user ")
    env = json.loads(m.provenance)
    assert env["payloadType"] == "application/vnd.in-toto+json"
    statement = json.loads(base64.b64decode(env["payload"]))
    assert statement["_type"] == STATEMENT_TYPE and statement["predicateType"] == PREDICATE_TYPE
    assert statement["subject"][0]["name"] == "support-llm:1"
    assert statement["subject"][0]["digest"]["blake3"] == m.recipe
    roles = [d["annotations"]["role"] for d in statement["predicate"]["buildDefinition"]["resolvedDependencies"]]
    assert roles == ["base-model", "dataset", "training-code"]
    assert statement["predicate"]["runDetails"]["metadata"]["invocationId"] == "run-2024-06-12-001"


def test_tampered_dataset_breaks_verification(lineage_store: Store, signing_keys: dict[str, Path],
                                              tmp_path: Path) -> None:
    m = lineage_store.resolve("support-llm:1")
    assert m.provenance is not None

    def swap_digest(st: dict) -> None:  # type: ignore[type-arg]
        for d in st["predicate"]["buildDefinition"]["resolvedDependencies"]:
            if d["annotations"]["role"] == "dataset":
                d["digest"] = {"sha256": "9" * 64}

    _rewrite(lineage_store, "support-llm:1", {"provenance": _edit_statement(m.provenance, swap_digest)})
    tampered = lineage_store.resolve("support-llm:1")
    assert read_provenance(tampered) is not None  # still well formed and about this version ...
    with pytest.raises(ProvenanceError, match="provenance signature does not verify"):
        verify_provenance(tampered, [signing_keys["pub"]])  # ... but no longer what was signed
    with pytest.raises(ProvenanceError, match="provenance signature does not verify"):
        pull(lineage_store, "support-llm:1", tmp_path / "out", public_key=signing_keys["pub"])
    assert not (tmp_path / "out").exists()


def test_provenance_moved_to_another_version_is_refused(lineage_store: Store,
                                                        signing_keys: dict[str, Path]) -> None:
    donor = lineage_store.resolve("support-llm:1").provenance
    _rewrite(lineage_store, "support-llm:2", {"provenance": donor})
    moved = lineage_store.resolve("support-llm:2")
    with pytest.raises(ProvenanceError, match="does not belong to this version: it is about support-llm:1"):
        verify_provenance(moved, [signing_keys["pub"]])
    report = verify_store(lineage_store)
    assert [p.kind for p in report.problems] == ["bad-provenance"]
    assert "support-llm:2" in report.problems[0].message


def test_changed_parent_outside_the_signature_is_refused(lineage_store: Store, signing_keys: dict[str, Path]) -> None:
    _rewrite(lineage_store, "support-llm:2", {"parent": "llama-base:1"})
    with pytest.raises(ProvenanceError, match="names parent support-llm:1, the manifest llama-base:1"):
        verify_provenance(lineage_store.resolve("support-llm:2"), [signing_keys["pub"]])


def test_other_key_and_unsigned_provenance_do_not_verify(lineage_store: Store, signing_keys: dict[str, Path],
                                                         tmp_path: Path) -> None:
    with pytest.raises(ProvenanceError, match=r"any of the keys \(other.pub\)"):
        verify_provenance(lineage_store.resolve("support-llm:1"), [signing_keys["other.pub"]])
    push(lineage_store, write_model(tmp_path / "u", seed=9, tensors=1), "plain", "1", workers=1,
         provenance=ProvenanceInput(datasets=(TICKETS,)))
    m = lineage_store.resolve("plain:1")
    assert read_provenance(m) is not None and not m.signed
    with pytest.raises(ProvenanceError, match="provenance is unsigned"):
        verify_provenance(m, [signing_keys["pub"]])


def test_version_without_provenance_keeps_the_old_format_and_verifies(lineage_store: Store,
                                                                      signing_keys: dict[str, Path],
                                                                      tmp_path: Path) -> None:
    m = lineage_store.resolve("legacy:1")
    stored = json.loads(lineage_store.backend.get(layout.version_key("legacy", "1")))
    assert stored["format"] == 1 and "provenance" not in stored  # what older pushes wrote, field for field
    assert set(stored) == {"format", "name", "version", "created", "size", "files", "recipe", "chunk_count",
                           "parent", "labels", "signature", "stored_bytes_added", "raw_bytes_added"}
    assert m.provenance is None and read_provenance(m) is None
    res = pull(lineage_store, "legacy:1", tmp_path / "pulled", public_key=signing_keys["pub"])
    assert res.signature_verified
    assert verify_store(lineage_store).ok
    # a manifest that claims format 2 but has no provenance (or the reverse) is not one
    bad = dict(stored, format=2)
    with pytest.raises(IntegrityError, match="expected format 2 exactly when provenance is recorded"):
        VersionManifest.from_json(json.dumps(bad).encode(), "x")


def test_bad_provenance_input_is_refused_before_any_work(lineage_store: Store, tmp_path: Path) -> None:
    folder = write_model(tmp_path / "x", seed=3, tensors=1)
    before = sorted(o.key for o in lineage_store.backend.list(""))
    with pytest.raises(InvalidInputError, match="is not in"):
        push(lineage_store, folder, "x", "1", provenance=ProvenanceInput(base_model="nowhere:1"), workers=1)
    bad = ProvenanceInput(datasets=(TICKETS.__class__("d", "1", "md5:abc"),))
    with pytest.raises(InvalidInputError, match="expected a digest ALGO:HEX"):
        push(lineage_store, folder, "x", "1", provenance=bad, workers=1)
    assert sorted(o.key for o in lineage_store.backend.list("")) == before
    # a base model from elsewhere, by digest, is recorded as outside the registry
    push(lineage_store, folder, "x", "1", workers=1, provenance=ProvenanceInput(base_model=f"meta/llama@{DIGEST('a')}"))
    prov = read_provenance(lineage_store.resolve("x:1"))
    assert prov is not None and prov.base_model is not None
    assert (prov.base_model.ref, prov.base_model.digest, prov.base_model.in_registry) == \
        ("meta/llama", DIGEST("a"), False)
