"""`registry lineage` walks both ways across versions, through the engine and the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from fleetyard.registry import Store
from fleetyard.registry.lineage import lineage

CLI = [sys.executable, "-m", "fleetyard"]


def _rows(nodes: tuple) -> list[tuple[str, str, int, str | None]]:  # type: ignore[type-arg]
    return [(n.ref, n.relation, n.depth, n.via) for n in nodes]


def test_walks_ancestors_and_descendants_recursively(lineage_store: Store) -> None:
    mid = lineage(lineage_store, "support-llm:2")
    assert _rows(mid.ancestors) == [("support-llm:1", "parent", 1, "support-llm:2"),
                                    ("llama-base:1", "base-model", 2, "support-llm:1")]
    assert _rows(mid.descendants) == [("support-llm-eu:1", "derived", 1, "support-llm:2")]
    assert [d.label for d in mid.subject.datasets] == ["faq:v3"]
    assert [d.label for d in mid.ancestors[1].datasets] == ["web-crawl:2023"]

    root = lineage(lineage_store, "llama-base:1")
    assert root.ancestors == ()
    assert _rows(root.descendants) == [("support-llm:1", "derived", 1, "llama-base:1"),
                                       ("support-llm:2", "child", 2, "support-llm:1"),
                                       ("support-llm-eu:1", "derived", 3, "support-llm:2")]
    leaf = lineage(lineage_store, "support-llm-eu:1")
    assert [n.ref for n in leaf.ancestors] == ["support-llm:2", "support-llm:1", "llama-base:1"]
    assert leaf.descendants == ()
    legacy = lineage(lineage_store, "legacy:1")  # no provenance: alone, and said so
    assert (legacy.ancestors, legacy.descendants, legacy.provenance) == ((), (), None)


def test_cli_lineage_json_and_table(lineage_store: Store, tmp_path: Path) -> None:
    reg = str(lineage_store.backend.root)  # type: ignore[attr-defined]
    run = subprocess.run([*CLI, "registry", "lineage", "support-llm:1", "-r", reg, "-o", "json"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert [(a["ref"], a["relation"]) for a in doc["ancestors"]] == [("llama-base:1", "base-model")]
    assert [(d["ref"], d["relation"], d["depth"]) for d in doc["descendants"]] == \
        [("support-llm:2", "child", 1), ("support-llm-eu:1", "derived", 2)]
    assert doc["provenance"]["run_id"] == "run-2024-06-12-001"
    assert doc["provenance"]["datasets"][0]["name"] == "support-tickets"

    table = subprocess.run([*CLI, "registry", "lineage", "support-llm:1", "-r", reg], capture_output=True,
                           text=True, timeout=120, check=False, env={"COLUMNS": "120", "PATH": "/usr/bin:/bin"})
    assert table.returncode == 0, table.stderr
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in table.stdout.splitlines() if "│" in line]
    assert [r[:3] for r in rows] == [["base-model", "llama-base:1", "1"], ["self", "support-llm:1", "0"],
                                     ["child", "support-llm:2", "1"], ["derived", "support-llm-eu:1", "2"]]
    assert rows[1][4] == "support-tickets:2024-06"

    missing = subprocess.run([*CLI, "registry", "lineage", "nope:1", "-r", reg], capture_output=True, text=True,
                             timeout=120, check=False)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr and "nope:1" in missing.stderr


def test_cli_push_records_provenance_from_file_and_options(tmp_path: Path, signing_keys: dict[str, Path]) -> None:
    from tests.replication.models import write_model

    reg = tmp_path / "reg"
    prov = tmp_path / "prov.yaml"
    prov.write_text("datasets:\n  - {name: tickets, version: '1', digest: 'sha256:" + "e" * 64 + "'}\n"
                    "code: {repository: https://git.example.com/t, commit: abcdef1}\nrun_id: r-1\n")
    push = subprocess.run([*CLI, "registry", "push", str(write_model(tmp_path / "m", tensors=1)), "m:1", "-r", str(reg),
                           "--key", str(signing_keys["key"]), "--provenance", str(prov), "-q",
                           "--dataset", "faq:2@sha256:" + "f" * 64], capture_output=True, text=True, timeout=120,
                          check=False)
    assert push.returncode == 0, push.stderr
    assert "provenance recorded" in push.stdout
    show = subprocess.run([*CLI, "registry", "show", "m:1", "-r", str(reg), "-o", "json"], capture_output=True,
                          text=True, timeout=120, check=False)
    doc = json.loads(show.stdout)["provenance"]
    assert [d["name"] for d in doc["datasets"]] == ["tickets", "faq"]
    assert (doc["run_id"], doc["code"]["commit"]) == ("r-1", "abcdef1")

    prov.write_text("datasets:\n  - {name: tickets, version: '1'}\n")
    bad = subprocess.run([*CLI, "registry", "push", str(tmp_path / "m"), "m:2", "-r", str(reg), "--provenance",
                          str(prov), "-q"], capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 2 and "datasets.0.digest: Field required" in bad.stderr
    assert "Traceback" not in bad.stderr
    bad = subprocess.run([*CLI, "registry", "push", str(tmp_path / "m"), "m:2", "-r", str(reg), "--dataset",
                          "tickets@sha256:12", "-q"], capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 2 and "expected NAME:VERSION@ALGO:HEX" in bad.stderr
    assert not (reg / "versions" / "m" / "2.json").exists()
