"""GPU telemetry from nvidia-smi (nulls without it), and the demo's safetensors files."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from fleetyard.agent.localfleet import write_model, write_safetensors
from fleetyard.agent.telemetry import GpuTelemetry, parse_nvidia_smi


def test_parse_nvidia_smi_sums_power_and_averages_use() -> None:
    t = parse_nvidia_smi("312.45, 87\n298.10, 91\n[N/A], [N/A]\n")
    assert t.gpu_power_w == 610.55 and t.gpu_utilization == 89.0 and t.gpus == 3
    empty = parse_nvidia_smi("")
    assert (empty.gpu_power_w, empty.gpu_utilization, empty.gpus) == (None, None, None)


def test_no_nvidia_smi_gives_nulls() -> None:
    t = GpuTelemetry(binary="nvidia-smi-that-does-not-exist").read()
    assert (t.gpu_power_w, t.gpu_utilization, t.gpus) == (None, None, None)


def test_reads_the_query_from_nvidia_smi(tmp_path: Path) -> None:
    # this machine has no GPU: a stand-in nvidia-smi prints what the real one prints
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\n"
                   '[ "$1" = "--query-gpu=power.draw,utilization.gpu,temperature.gpu,memory.used" ] && '
                   '[ "$2" = "--format=csv,noheader,nounits" ] && printf "250.5, 40, 61, 2048\\n" && exit 0\nexit 9\n')
    smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
    gpu = GpuTelemetry(binary=str(smi))
    t = gpu.read()
    assert (t.gpu_power_w, t.gpu_utilization, t.gpus) == (250.5, 40.0, 1)
    r = gpu.reading()
    assert (r.temperature_c, r.memory_used_bytes) == (61.0, 2048 * 1024 * 1024)


def test_hand_written_safetensors_load_with_the_safetensors_library(tmp_path: Path) -> None:
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    b = np.ones((2, 5), dtype=np.float16)
    write_safetensors(tmp_path / "x.safetensors", {"a": a, "b": b})
    loaded = load_file(str(tmp_path / "x.safetensors"))
    assert np.array_equal(loaded["a"], a) and np.array_equal(loaded["b"], b)
    write_model(tmp_path / "m1", version=1, tensors=4, rows=8)
    write_model(tmp_path / "m2", version=2, tensors=4, rows=8)
    t1 = load_file(str(tmp_path / "m1" / "model.safetensors"))
    t2 = load_file(str(tmp_path / "m2" / "model.safetensors"))
    assert not np.array_equal(t1["layers.0.weight"], t2["layers.0.weight"])
    assert all(np.array_equal(t1[f"layers.{i}.weight"], t2[f"layers.{i}.weight"]) for i in range(1, 4))
