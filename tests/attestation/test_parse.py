"""The agent's GPU inventory parsers and probe, on real nvidia-smi and rocm-smi output (issue 14)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetyard.agent.inventory import (
    ProbeError,
    parse_nvidia_smi_inventory,
    parse_rocm_smi,
    probe,
)
from fleetyard.spec.inventory import count_found, identify
from tests.attestation import samples


def test_an_hgx_h100_is_eight_h100_sxm() -> None:
    gpus = parse_nvidia_smi_inventory(samples.HGX_H100)
    assert len(gpus) == 8 and len({g.uuid for g in gpus}) == 8
    assert gpus[0].memory_mib == 81559
    assert count_found(gpus) == {"H100-SXM": 8}


def test_product_names_map_to_catalog_skus_and_unknown_boards_keep_their_name() -> None:
    gpus = parse_nvidia_smi_inventory(samples.MIXED)
    assert [identify(g.name, g.memory_mib) for g in gpus] == [
        "L4", "L4", "L40S", "A100-80GB", None, "H100-PCIE", None, "H200", "A10G"]
    assert count_found(gpus) == {"A100-80GB": 1, "A10G": 1, "H100-PCIE": 1, "H200": 1, "L4": 2, "L40S": 1,
                                 "NVIDIA A100-SXM4-40GB": 1, "NVIDIA H100 NVL": 1}


def test_identify_uses_memory_for_an_a100_without_its_size_and_declared_custom_skus() -> None:
    assert identify("NVIDIA A100 PCIe", 81920) == "A100-80GB"
    assert identify("NVIDIA A100 PCIe", 40960) is None
    assert identify("AMD Instinct MI300X OAM") == "MI300X"
    assert identify("NVIDIA L40") is None  # not an L40S, and not an L4
    assert identify("NVIDIA GeForce RTX 4090", 24564, ["RTX-4090", "L4"]) == "RTX-4090"
    assert identify("NVIDIA GeForce RTX 4090", 24564) is None


def test_mig_instances_are_not_counted_as_gpus() -> None:
    gpus = parse_nvidia_smi_inventory(samples.MIG)
    assert [g.uuid[:8] for g in gpus] == ["GPU-3f9d", "GPU-4aae"]
    assert count_found(gpus) == {"A100-80GB": 2}


def test_header_units_and_not_available_memory() -> None:
    assert parse_nvidia_smi_inventory(samples.WITH_HEADER)[0].memory_mib == 23034
    g = parse_nvidia_smi_inventory(samples.NOT_AVAILABLE)[0]
    assert g.memory_mib is None and identify(g.name, g.memory_mib) == "L4"


def test_no_devices_is_zero_gpus() -> None:
    assert parse_nvidia_smi_inventory(samples.NO_DEVICES) == []
    assert parse_nvidia_smi_inventory("") == []


@pytest.mark.parametrize(("text", "where"), [(samples.DRIVER_ERROR, "line 1"), (samples.TRUNCATED, "line 2")])
def test_driver_errors_and_truncated_lines_make_the_whole_probe_an_error(text: str, where: str) -> None:
    with pytest.raises(ProbeError, match=f"{where}: expected 'name, memory.total, uuid'"):
        parse_nvidia_smi_inventory(text)


def test_rocm_smi_json() -> None:
    gpus = parse_rocm_smi(samples.ROCM_MI300X)
    assert [(g.name, g.uuid) for g in gpus] == [("AMD Instinct MI300X OAM", "28851"),
                                                ("AMD Instinct MI300X OAM", "52134")]
    assert count_found(gpus) == {"MI300X": 2}
    with pytest.raises(ProbeError, match="rocm-smi: expected JSON"):
        parse_rocm_smi("ERROR: No AMD GPUs specified")


# ---- the probe runs the real tool (a script standing in for it) ---------------------------------

def test_probe_runs_nvidia_smi_with_the_inventory_query(tmp_path: Path) -> None:
    tool = tmp_path / "nvidia-smi"
    tool.write_text("#!/bin/sh\necho \"$@\" > \"$0.args\"\necho 'NVIDIA L4, 23034, GPU-aaaa'\n", encoding="utf-8")
    tool.chmod(0o755)
    source, gpus = probe(which={"nvidia-smi": str(tool), "rocm-smi": None}) or ("", [])
    assert source == "nvidia-smi" and [g.name for g in gpus] == ["NVIDIA L4"]
    assert (tmp_path / "nvidia-smi.args").read_text().split() == [
        "--query-gpu=name,memory.total,uuid", "--format=csv,noheader,nounits"]


def test_probe_reports_a_failing_driver_with_its_exit_code_and_words(tmp_path: Path) -> None:
    tool = samples.fake_tool(tmp_path / "nvidia-smi", samples.DRIVER_ERROR, code=9)
    with pytest.raises(ProbeError, match="nvidia-smi exited 9: NVIDIA-SMI has failed because it couldn't"):
        probe(which={"nvidia-smi": str(tool)})


def test_probe_no_devices_exit_code_is_zero_gpus(tmp_path: Path) -> None:
    tool = samples.fake_tool(tmp_path / "nvidia-smi", samples.NO_DEVICES, code=6)
    assert probe(which={"nvidia-smi": str(tool)}) == ("nvidia-smi", [])


def test_probe_times_out(tmp_path: Path) -> None:
    tool = samples.fake_tool(tmp_path / "nvidia-smi", samples.HGX_H100, sleep=30)
    with pytest.raises(ProbeError, match=r"nvidia-smi did not answer within 0.5 s") as exc:
        probe(which={"nvidia-smi": str(tool)}, timeout=0.5)
    assert exc.value.source == "nvidia-smi"


def test_probe_falls_back_to_rocm_smi_and_none_without_tools(tmp_path: Path) -> None:
    tool = samples.fake_tool(tmp_path / "rocm-smi", samples.ROCM_MI300X)
    got = probe(which={"nvidia-smi": None, "rocm-smi": str(tool)})
    assert got is not None and got[0] == "rocm-smi" and len(got[1]) == 2
    assert probe(which={"nvidia-smi": None, "rocm-smi": None}) is None


def test_probe_file(tmp_path: Path) -> None:
    f = tmp_path / "gpus.csv"
    f.write_text(samples.MIXED, encoding="utf-8")
    got = probe(file=f)
    assert got is not None and got[0] == "file" and len(got[1]) == 9
    with pytest.raises(ProbeError, match=r"--inventory-probe .*missing\.csv"):
        probe(file=tmp_path / "missing.csv")
