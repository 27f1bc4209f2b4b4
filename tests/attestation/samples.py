"""nvidia-smi and rocm-smi output as the tools print it, for the parser tests (issue 14).

Lines are `nvidia-smi --query-gpu=name,memory.total,uuid --format=csv,noheader,nounits` on
the boards named; the error texts are the driver's own."""

from __future__ import annotations

HGX_H100 = "\n".join(f"NVIDIA H100 80GB HBM3, 81559, GPU-{i:08x}-1b2c-3d4e-5f60-718293a4b5c6" for i in range(8)) + "\n"
MIXED = """NVIDIA L4, 23034, GPU-0c6a5b1e-7d1f-4a55-9a0b-2b8d0c1e2f30
NVIDIA L4, 23034, GPU-1d7b6c2f-8e2a-4b66-8b1c-3c9e1d2f3a41
NVIDIA L40S, 46068, GPU-2e8c7d3a-9f3b-4c77-9c2d-4daf2e3a4b52
NVIDIA A100-SXM4-80GB, 81920, GPU-3f9d8e4b-a04c-4d88-ad3e-5eb03f4b5c63
NVIDIA A100-SXM4-40GB, 40960, GPU-40ae9f5c-b15d-4e99-be4f-6fc1405c6d74
NVIDIA H100 PCIe, 81559, GPU-51bfa06d-c26e-4faa-8f50-70d2516d7e85
NVIDIA H100 NVL, 95830, GPU-62c0b17e-d37f-40bb-9061-81e3627e8f96
NVIDIA H200, 143771, GPU-73d1c28f-e480-41cc-a172-92f4738f90a7
NVIDIA A10G, 23028, GPU-84e2d390-f591-42dd-b283-a3058490a1b8
"""
# MIG mode on: `nvidia-smi -L`-style lines about the instances of GPU 0 beside the physical GPUs
MIG = """NVIDIA A100-SXM4-80GB, 81920, GPU-3f9d8e4b-a04c-4d88-ad3e-5eb03f4b5c63
  MIG 3g.40gb     Device  0: (UUID: MIG-5c89e1ba-8f7d-5d2e-b5a3-1f8e9c0d2b3a)
  MIG 3g.40gb     Device  1: (UUID: MIG-6d9af2cb-9a8e-5e3f-c6b4-2a9fad1e3c4b)
NVIDIA A100-SXM4-80GB, [N/A], MIG-7eab03dc-ab9f-5f4a-d7c5-3bafbe2f4d5c
NVIDIA A100-SXM4-80GB, 81920, GPU-4aae9f5c-b15d-4e99-be4f-6fc1405c6d74
"""
NOT_AVAILABLE = "NVIDIA L4, [N/A], GPU-0c6a5b1e-7d1f-4a55-9a0b-2b8d0c1e2f30\n"
WITH_HEADER = "name, memory.total [MiB], uuid\nNVIDIA L4, 23034 MiB, GPU-0c6a5b1e-7d1f-4a55-9a0b-2b8d0c1e2f30\n"
NO_DEVICES = "No devices were found\n"
DRIVER_ERROR = ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that "
                "the latest NVIDIA driver is installed and running.\n")
TRUNCATED = "NVIDIA L4, 23034, GPU-0c6a5b1e-7d1f-4a55-9a0b-2b8d0c1e2f30\nNVIDIA L4, 230\n"
ROCM_MI300X = """{"card0": {"Card series": "AMD Instinct MI300X OAM", "Card model": "0x74a1",
 "Card vendor": "Advanced Micro Devices, Inc. [AMD/ATI]", "Card SKU": "M3000100", "GUID": "28851",
 "GFX Version": "gfx942"},
 "card1": {"Card series": "AMD Instinct MI300X OAM", "Card model": "0x74a1",
 "Card vendor": "Advanced Micro Devices, Inc. [AMD/ATI]", "Card SKU": "M3000100", "GUID": "52134",
 "GFX Version": "gfx942"}}"""


def fake_tool(path, stdout: str, *, code: int = 0, sleep: float = 0.0, stderr: str = ""):  # type: ignore[no-untyped-def]
    """An executable at `path` that prints `stdout` (and `stderr`), optionally after `sleep` s, and exits `code`."""
    import sys

    path.write_text(f"#!{sys.executable}\nimport sys, time\ntime.sleep({sleep!r})\n"
                    f"sys.stdout.write({stdout!r})\nsys.stderr.write({stderr!r})\nsys.exit({code})\n",
                    encoding="utf-8")
    path.chmod(0o755)
    return path
