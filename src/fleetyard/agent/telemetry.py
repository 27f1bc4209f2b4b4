"""GPU telemetry from `nvidia-smi`, where it is installed; nulls where it is not.

    nvidia-smi --query-gpu=power.draw,utilization.gpu --format=csv,noheader,nounits

gives one line per GPU ("312.45, 87"); the report carries the power summed over the
GPUs, the mean utilization and the GPU count. Values nvidia-smi cannot read ("[N/A]",
"[Not Supported]") are left out; a missing binary, a failure or a timeout gives nulls.
Readings are cached for `every` seconds, so a fast heartbeat does not fork each time.
"""

from __future__ import annotations

import shutil
import subprocess
import time

from fleetyard.services.wire import Telemetry

__all__ = ["GpuTelemetry", "parse_nvidia_smi"]

QUERY = ["--query-gpu=power.draw,utilization.gpu", "--format=csv,noheader,nounits"]


def _number(text: str) -> float | None:
    try:
        return float(text.strip())
    except ValueError:
        return None


def parse_nvidia_smi(text: str) -> Telemetry:
    """Turn nvidia-smi's CSV lines into a Telemetry (nulls for what it could not read)."""
    powers: list[float] = []
    utils: list[float] = []
    gpus = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split(",")
        gpus += 1
        if len(parts) >= 1 and (p := _number(parts[0])) is not None:
            powers.append(p)
        if len(parts) >= 2 and (u := _number(parts[1])) is not None:
            utils.append(u)
    return Telemetry(
        gpu_power_w=round(sum(powers), 2) if powers else None,
        gpu_utilization=round(sum(utils) / len(utils), 2) if utils else None,
        gpus=gpus or None,
    )


class GpuTelemetry:
    """Cached nvidia-smi readings."""

    def __init__(self, binary: str | None = "nvidia-smi", every: float = 15.0) -> None:
        self.binary = shutil.which(binary) if binary else None
        self.every = every
        self._last = -1e9
        self._value = Telemetry()

    def read(self) -> Telemetry:
        """The latest reading (nulls without nvidia-smi)."""
        if self.binary is None:
            return Telemetry()
        now = time.monotonic()
        if now - self._last < self.every:
            return self._value
        self._last = now
        try:
            r = subprocess.run([self.binary, *QUERY], capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            self._value = Telemetry()
            return self._value
        self._value = parse_nvidia_smi(r.stdout) if r.returncode == 0 else Telemetry()
        return self._value
