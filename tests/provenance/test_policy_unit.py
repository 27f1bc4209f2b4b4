"""The site policy on the real on-disk registry and the agent's verification path (ModelDirs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetyard.agent.config import AgentConfig, ConfigError
from fleetyard.agent.models import ModelDirs
from fleetyard.registry import Store
from fleetyard.registry.policy import DatasetRule, ProvenancePolicy
from fleetyard.registry.provenance import ProvenanceError
from tests.provenance.conftest import EU, TICKETS


def _dirs(tmp_path: Path, keys: dict[str, Path], policy: ProvenancePolicy) -> ModelDirs:
    return ModelDirs(tmp_path / "models", [keys["pub"]], policy)


def test_allowed_dataset_is_materialized_unapproved_is_refused_before_assembly(
        lineage_store: Store, signing_keys: dict[str, Path], tmp_path: Path) -> None:
    policy = ProvenancePolicy(datasets=(DatasetRule(name=TICKETS.name, digest=TICKETS.digest),))
    dirs = _dirs(tmp_path, signing_keys, policy)
    assert dirs.materialize(lineage_store, "support-llm:1").is_dir()
    with pytest.raises(ProvenanceError, match=r"dataset faq:v3 \(sha256:2+\) is not on the allowed list"):
        dirs.materialize(lineage_store, "support-llm:2")
    assert sorted(p.name for p in (tmp_path / "models" / "support-llm").iterdir()) == ["1"]
    # the same name with another digest is another dataset
    other = ProvenancePolicy(datasets=(DatasetRule(name=TICKETS.name, digest="sha256:" + "0" * 64),))
    with pytest.raises(ProvenanceError, match="support-tickets:2024-06"):
        _dirs(tmp_path / "b", signing_keys, other).materialize(lineage_store, "support-llm:1")


def test_required_signer_base_model_and_missing_provenance(lineage_store: Store, signing_keys: dict[str, Path],
                                                           tmp_path: Path) -> None:
    with pytest.raises(ProvenanceError, match="has no provenance"):
        _dirs(tmp_path / "a", signing_keys, ProvenancePolicy(required=True)).materialize(lineage_store, "legacy:1")
    assert _dirs(tmp_path / "b", signing_keys, ProvenancePolicy()).materialize(lineage_store, "legacy:1").is_dir()
    wrong = ProvenancePolicy(signers=(signing_keys["other.pub"],))
    with pytest.raises(ProvenanceError, match="provenance signature does not verify"):
        _dirs(tmp_path / "c", signing_keys, wrong).materialize(lineage_store, "support-llm:1")
    bases = ProvenancePolicy(base_models=("llama-base",))
    assert _dirs(tmp_path / "d", signing_keys, bases).materialize(lineage_store, "support-llm:1").is_dir()
    with pytest.raises(ProvenanceError, match=r"base model support-llm:2 is not on the allowed list"):
        _dirs(tmp_path / "e", signing_keys, bases).materialize(lineage_store, "support-llm-eu:1")
    assert EU.name == "eu-tickets"


def _config(tmp_path: Path, keys: dict[str, Path], policy: Path) -> AgentConfig:
    return AgentConfig(site="a-1", server="http://127.0.0.1:1", token="t", data_dir=tmp_path / "data",
                       trust_keys=(keys["pub"],), site_policy=policy)


@pytest.mark.parametrize(("text", "message"), [
    ("provenance: {datasets: [{version: '1'}]}", "provenance.datasets.0: give a name, a digest or both"),
    ("provenance: {datasets: [{name: x, digest: 'md5:00'}]}", "expected a digest ALGO:HEX"),
    ("provenance: {signers: [nowhere.pub]}", "nowhere.pub does not exist"),
    ("provenance: {requierd: true}", "provenance.requierd: Extra inputs are not permitted"),
    ("provenance: [", "not YAML"),
])
def test_bad_policy_file_is_one_clear_config_error(tmp_path: Path, signing_keys: dict[str, Path],
                                                   text: str, message: str) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(text)
    with pytest.raises(ConfigError, match="--site-policy") as exc:
        _config(tmp_path, signing_keys, policy).check()
    assert message in str(exc.value)


def test_policy_file_paths_are_relative_to_it(tmp_path: Path, signing_keys: dict[str, Path]) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "release.pub").write_bytes(signing_keys["pub"].read_bytes())
    policy = tmp_path / "policy.yaml"
    policy.write_text("provenance:\n  signers: [keys/release.pub]\n  datasets: [{digest: 'sha256:" + "A" * 64 + "'}]\n")
    p = _config(tmp_path, signing_keys, policy).provenance_policy()
    assert p.active and p.signers == (tmp_path / "keys" / "release.pub",)
    assert p.datasets == (DatasetRule(digest="sha256:" + "a" * 64),)
