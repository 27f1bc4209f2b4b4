"""GPU telemetry from `nvidia-smi` or a DCGM exporter, where there is one; nulls where not.

    nvidia-smi --query-gpu=power.draw,utilization.gpu,temperature.gpu,memory.used \\
               --format=csv,noheader,nounits

gives one line per GPU ("312.45, 87, 64, 40321"; memory in MiB). A DCGM exporter
(`--dcgm-url`, Prometheus text) gives the same as DCGM_FI_DEV_POWER_USAGE (W),
DCGM_FI_DEV_GPU_UTIL (%), DCGM_FI_DEV_GPU_TEMP (C) and DCGM_FI_DEV_FB_USED (MiB), one
sample per GPU (`gpu` label). Either way a reading is the power summed over the GPUs,
the mean utilization, the hottest temperature, the memory used summed (bytes) and the
GPU count. Values that cannot be read ("[N/A]", "[Not Supported]", NaN) are left out;
a missing binary, a failure or a timeout gives nulls. When a DCGM URL is set and it
answers, its reading is used; otherwise nvidia-smi's.

Readings are cached for `every` seconds, so a fast heartbeat does not fork each time;
the DCGM exporter is scraped in a background thread (2 s timeout, 1 MiB at most), so a
slow exporter never holds the agent loop.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

from fleetyard.services.wire import Telemetry

__all__ = ["DCGM_NAMES", "GpuReading", "GpuTelemetry", "fetch_text", "parse_dcgm", "parse_nvidia_smi",
           "read_nvidia_smi"]

QUERY = ["--query-gpu=power.draw,utilization.gpu,temperature.gpu,memory.used", "--format=csv,noheader,nounits"]
MIB = 1024 * 1024
DCGM_NAMES = {"DCGM_FI_DEV_POWER_USAGE": "power", "DCGM_FI_DEV_GPU_UTIL": "util",
              "DCGM_FI_DEV_GPU_TEMP": "temp", "DCGM_FI_DEV_FB_USED": "mem"}
DCGM_TIMEOUT_S = 2.0
MAX_TEXT_BYTES = 1024 * 1024


@dataclass(frozen=True)
class GpuReading:
    """The site's GPUs at one moment; None where nothing could be read."""

    power_w: float | None = None
    utilization: float | None = None  # mean %, 0-100
    temperature_c: float | None = None  # the hottest GPU
    memory_used_bytes: float | None = None
    gpus: int | None = None

    @property
    def empty(self) -> bool:
        return self.gpus is None

    def telemetry(self) -> Telemetry:
        """The heartbeat's `telemetry` field (power, utilization, count)."""
        return Telemetry(gpu_power_w=self.power_w, gpu_utilization=self.utilization, gpus=self.gpus)


def _number(text: str) -> float | None:
    try:
        v = float(text.strip())
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _reading(gpus: int, power: list[float], util: list[float], temp: list[float], mem: list[float]) -> GpuReading:
    return GpuReading(
        power_w=round(sum(power), 2) if power else None,
        utilization=round(sum(util) / len(util), 2) if util else None,
        temperature_c=max(temp) if temp else None,
        memory_used_bytes=sum(mem) * MIB if mem else None,
        gpus=gpus or None,
    )


def read_nvidia_smi(text: str) -> GpuReading:
    """nvidia-smi's CSV lines (the QUERY columns) as one reading."""
    cols: list[list[float]] = [[], [], [], []]
    gpus = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        gpus += 1
        for i, part in enumerate(line.split(",")[:4]):
            if (v := _number(part)) is not None:
                cols[i].append(v)
    return _reading(gpus, *cols)


def parse_nvidia_smi(text: str) -> Telemetry:
    """Turn nvidia-smi's CSV lines into a Telemetry (nulls for what it could not read)."""
    return read_nvidia_smi(text).telemetry()


def parse_dcgm(text: str) -> GpuReading:
    """A DCGM exporter's Prometheus text as one reading (empty if it has none of DCGM_NAMES;
    ValueError if it is not Prometheus text)."""
    by: dict[str, dict[str, float]] = {k: {} for k in DCGM_NAMES.values()}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            kind = DCGM_NAMES.get(s.name)
            if kind is None or not math.isfinite(s.value):
                continue
            gpu = s.labels.get("gpu", s.labels.get("UUID", str(len(by[kind]))))
            by[kind][gpu] = s.value
    gpus = set().union(*(v.keys() for v in by.values()))
    return _reading(len(gpus), *(list(by[k].values()) for k in ("power", "util", "temp", "mem")))


def fetch_text(http: httpx.Client, url: str, timeout: float, max_bytes: int = MAX_TEXT_BYTES) -> str | None:
    """GET `url` as text: None unless it answers 200 within `timeout` seconds in all (a slow
    trickle is cut off) with at most `max_bytes`."""
    deadline = time.monotonic() + timeout
    try:
        with http.stream("GET", url, timeout=timeout) as r:
            if r.status_code != 200:
                return None
            body = bytearray()
            for chunk in r.iter_bytes():
                body += chunk
                if len(body) > max_bytes or time.monotonic() > deadline:
                    return None
            return body.decode("utf-8", errors="replace")
    except httpx.HTTPError:
        return None


class GpuTelemetry:
    """Cached GPU readings: DCGM when `dcgm_url` answers, else nvidia-smi."""

    def __init__(self, binary: str | None = "nvidia-smi", every: float = 15.0, dcgm_url: str | None = None) -> None:
        self.binary = shutil.which(binary) if binary else None
        self.every = every
        self.dcgm_url = dcgm_url
        self._last = -1e9
        self._value = GpuReading()
        self._dcgm = GpuReading()
        self._dcgm_at = -1e9
        self._dcgm_busy = False
        self._lock = threading.Lock()
        self.dcgm_scrapes = 0

    def read(self) -> Telemetry:
        """The latest reading as the heartbeat's telemetry (nulls without a source)."""
        return self.reading().telemetry()

    def reading(self) -> GpuReading:
        """The latest reading (empty without nvidia-smi or DCGM)."""
        if self.dcgm_url is not None:
            self._refresh_dcgm()
            with self._lock:
                if not self._dcgm.empty:
                    return self._dcgm
        return self._smi()

    def _smi(self) -> GpuReading:
        if self.binary is None:
            return GpuReading()
        now = time.monotonic()
        if now - self._last < self.every:
            return self._value
        self._last = now
        try:
            r = subprocess.run([self.binary, *QUERY], capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            self._value = GpuReading()
            return self._value
        self._value = read_nvidia_smi(r.stdout) if r.returncode == 0 else GpuReading()
        return self._value

    def _refresh_dcgm(self) -> None:
        """Start a scrape in the background if the last one is older than `every`."""
        with self._lock:
            now = time.monotonic()
            if self._dcgm_busy or now - self._dcgm_at < self.every:
                return
            self._dcgm_busy, self._dcgm_at = True, now
        threading.Thread(target=self._scrape_dcgm, name="dcgm", daemon=True).start()

    def _scrape_dcgm(self) -> None:
        reading = GpuReading()
        try:
            assert self.dcgm_url is not None
            with httpx.Client(trust_env=False, follow_redirects=False) as http:
                text = fetch_text(http, self.dcgm_url, DCGM_TIMEOUT_S)
            if text is not None:
                reading = parse_dcgm(text)
        except Exception:  # hostile text must not kill the thread: no reading
            pass
        finally:
            with self._lock:
                self._dcgm, self._dcgm_busy = reading, False
                self.dcgm_scrapes += 1

    def wait_dcgm(self, scrapes: int, timeout: float = 10.0) -> bool:
        """Tests: wait until `scrapes` DCGM scrapes finished (bounded)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                if self.dcgm_scrapes >= scrapes:
                    return True
            time.sleep(0.01)
        return False
