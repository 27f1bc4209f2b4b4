"""Fixtures: a real registry folder holding a small lineage of signed versions with provenance.

    llama-base:1  (web-crawl:2023)            pushed from a folder, signed
      └─ base-model of support-llm:1 (support-tickets:2024-06, code, run id)
           └─ parent of support-llm:2 (faq:v3)
                └─ base-model of support-llm-eu:1 (eu-tickets:1)
    legacy:1      no provenance (as every version pushed before issue 14)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetyard.registry import Store, open_store, push
from fleetyard.registry.provenance import Dataset, ProvenanceInput
from tests.replication.conftest import signing_keys
from tests.replication.models import write_model

__all__ = ["DIGEST", "lineage_store", "signing_keys"]


def DIGEST(ch: str) -> str:
    return "sha256:" + ch * 64


TICKETS = Dataset("support-tickets", "2024-06", DIGEST("1"), "s3://data/tickets/2024-06")
FAQ = Dataset("faq", "v3", DIGEST("2"))
EU = Dataset("eu-tickets", "1", DIGEST("3"))
CRAWL = Dataset("web-crawl", "2023", DIGEST("4"))


@pytest.fixture
def lineage_store(tmp_path: Path, signing_keys: dict[str, Path]) -> Store:
    store = open_store(tmp_path / "registry", create=True)
    key = signing_keys["key"]

    def one(folder: str, name: str, version: str, seed: int, prov: ProvenanceInput | None,
            parent: str | None = None) -> None:
        push(store, write_model(tmp_path / folder, seed=seed, tensors=2), name, version, key=key,
             parent=parent, provenance=prov, workers=1)

    one("base", "llama-base", "1", 1, ProvenanceInput(datasets=(CRAWL,)))
    one("ft1", "support-llm", "1", 2, ProvenanceInput(
        base_model="llama-base:1", datasets=(TICKETS,), code_repository="https://git.example.com/ml/train",
        code_commit="3f2a9c1d", run_id="run-2024-06-12-001"))
    one("ft2", "support-llm", "2", 3, ProvenanceInput(datasets=(FAQ,), run_id="run-7"), parent="support-llm:1")
    one("eu", "support-llm-eu", "1", 4, ProvenanceInput(base_model="support-llm:2", datasets=(EU,)))
    one("legacy", "legacy", "1", 5, None)
    return store
