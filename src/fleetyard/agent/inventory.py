"""What GPUs this site really has (issue 14, item 5; docs/attestation.md).

    nvidia-smi --query-gpu=name,memory.total,uuid --format=csv,noheader,nounits

prints one line per physical GPU: "NVIDIA H100 80GB HBM3, 81559, GPU-5e0c...". Where there
is no nvidia-smi, `rocm-smi --showproductname --json` is asked ({"card0": {"Card series":
"AMD Instinct MI300X OAM", ...}}). A probe file (`--inventory-probe FILE`, or
FLEETYARD_INVENTORY_PROBE) holds the same CSV for a machine whose GPUs no tool on it lists
(and for tests); the agent reads it instead of running anything.

Parsing is strict where a wrong count would mislead: a header line is skipped, MIG
instances (a "MIG 1g.10gb Device 0: (UUID: MIG-...)" line, or a `MIG-` UUID) are parts of a
GPU already listed and are not counted, "No devices were found" is zero GPUs, and anything
else that is not three fields (a driver error, a truncated line) makes the whole probe an
error: an inventory with `error` set and no GPUs, which the server shows and never plans
with. A tool that does not answer within `timeout` seconds is an error too. Each probe runs
in a background thread, every `every` seconds, so a hung driver never holds the heartbeat.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from fleetyard.services.wire import FoundGpuOut, Inventory, InventorySource
from fleetyard.spec.inventory import FoundGpu, compare, count_found, identify

__all__ = ["PROBE_ENV", "InventoryProbe", "ProbeError", "parse_nvidia_smi_inventory", "parse_rocm_smi", "probe"]

PROBE_ENV = "FLEETYARD_INVENTORY_PROBE"
NVIDIA_QUERY = ["--query-gpu=name,memory.total,uuid", "--format=csv,noheader,nounits"]
ROCM_QUERY = ["--showproductname", "--json"]
MAX_GPUS = 1024
NO_DEVICES = "no devices were found"


class ProbeError(ValueError):
    """The probe's output cannot be trusted as a GPU list; the message says why, `source` who said it."""

    source: InventorySource = "nvidia-smi"


def _memory(text: str) -> float | None:
    t = text.strip().removesuffix("MiB").strip()
    try:
        v = float(t)
    except ValueError:
        return None  # "[N/A]", "[Not Supported]"
    return v if 0 <= v < 1e9 else None


def parse_nvidia_smi_inventory(text: str) -> list[FoundGpu]:
    """nvidia-smi's `name,memory.total,uuid` CSV as GPUs (ProbeError naming the line that is not)."""
    out: list[FoundGpu] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.lower().startswith("name,"):
            continue
        if line.lower().rstrip(".") == NO_DEVICES:
            return []
        if line.upper().startswith("MIG "):
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 3 or not parts[0] or not parts[2]:
            raise ProbeError(f"line {n}: expected 'name, memory.total, uuid', got {line[:120]!r}")
        name, memory, uuid = parts
        if uuid.upper().startswith("MIG-"):
            continue
        out.append(FoundGpu(name=name[:255], uuid=uuid[:255], memory_mib=_memory(memory)))
        if len(out) > MAX_GPUS:
            raise ProbeError(f"more than {MAX_GPUS} GPUs listed: not one site's inventory")
    return out


def parse_rocm_smi(text: str) -> list[FoundGpu]:
    """`rocm-smi --showproductname --json` as GPUs (ProbeError if it is not that JSON)."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ProbeError(f"rocm-smi: expected JSON, got {text.strip()[:120]!r} ({exc})") from None
    if not isinstance(doc, dict):
        raise ProbeError("rocm-smi: expected a JSON object of cards")
    out: list[FoundGpu] = []
    for card, info in sorted(doc.items()):
        if not card.lower().startswith("card") or not isinstance(info, dict):
            continue
        name = str(info.get("Card series") or info.get("Card model") or info.get("Card SKU") or "").strip()
        if not name:
            raise ProbeError(f"rocm-smi: {card} has no 'Card series'")
        uuid = str(info.get("Unique ID") or info.get("GUID") or card)
        out.append(FoundGpu(name=name[:255], uuid=uuid[:255]))
    if len(out) > MAX_GPUS:
        raise ProbeError(f"more than {MAX_GPUS} GPUs listed: not one site's inventory")
    return out


def _run(binary: str, args: list[str], timeout: float) -> str:
    try:
        r = subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ProbeError(f"{Path(binary).name} did not answer within {timeout:g} s") from None
    except OSError as exc:
        raise ProbeError(f"cannot run {binary}: {exc.strerror or exc}") from None
    if r.returncode != 0 and NO_DEVICES not in (r.stdout + r.stderr).lower():
        said = (r.stderr.strip() or r.stdout.strip()).splitlines()
        raise ProbeError(f"{Path(binary).name} exited {r.returncode}: {said[0][:200] if said else 'no output'}")
    return r.stdout if r.stdout.strip() else r.stderr


def probe(*, file: Path | None = None, timeout: float = 10.0,
          which: Mapping[str, str | None] | None = None) -> tuple[InventorySource, list[FoundGpu]] | None:
    """The GPUs found: from `file`, else nvidia-smi, else rocm-smi (None: no way to look;
    ProbeError: the way there is failed). `which`: tool name -> path, for tests."""
    source: InventorySource = "file"
    try:
        if file is not None:
            try:
                text = file.read_text(encoding="utf-8", errors="replace")
            except OSError as exc:
                raise ProbeError(f"--inventory-probe {file}: {exc.strerror or exc}") from None
            return source, parse_nvidia_smi_inventory(text)
        found = which if which is not None else {t: shutil.which(t) for t in ("nvidia-smi", "rocm-smi")}
        nvidia, rocm = found.get("nvidia-smi"), found.get("rocm-smi")
        if nvidia:
            source = "nvidia-smi"
            return source, parse_nvidia_smi_inventory(_run(nvidia, NVIDIA_QUERY, timeout))
        if rocm:
            source = "rocm-smi"
            return source, parse_rocm_smi(_run(rocm, ROCM_QUERY, timeout))
        return None
    except ProbeError as exc:
        exc.source = source
        raise


class InventoryProbe:
    """The site's latest inventory, probed in the background every `every` seconds."""

    def __init__(self, *, file: Path | None = None, every: float = 60.0, timeout: float = 10.0) -> None:
        self.file, self.every, self.timeout = file, every, timeout
        self._value: Inventory | None = None
        self._at = -1e18
        self._busy = False
        self._lock = threading.Lock()
        self.probes = 0

    def current(self, declared: Mapping[str, int] | None = None) -> Inventory | None:
        """The newest inventory (None before the first probe ends, or with no way to look), its
        drift against `declared` (the Site's GPUs per SKU from the desired state); starts a probe
        when the last one is older than `every`."""
        with self._lock:
            start = not self._busy and time.monotonic() - self._at >= self.every
            if start:
                self._busy, self._at = True, time.monotonic()
            value = self._value
        if start:
            threading.Thread(target=self._probe, name="inventory", daemon=True).start()
        if value is None or declared is None or value.error is not None:
            return value
        gpus = [FoundGpu(g.name, g.uuid, g.memory_mib) for g in value.gpus]
        drift = [d.describe()[:255] for d in compare(declared, count_found(gpus, declared))][:64]  # the wire's bounds
        return value.model_copy(update={"drift": drift})

    def _probe(self) -> None:
        now = datetime.now(UTC)
        value: Inventory | None
        try:
            got = probe(file=self.file, timeout=self.timeout)
            value = None if got is None else Inventory(source=got[0], probed_at=now, gpus=[
                FoundGpuOut(name=g.name, uuid=g.uuid, memory_mib=g.memory_mib, sku=identify(g.name, g.memory_mib))
                for g in got[1]])
        except ProbeError as exc:
            value = Inventory(source=exc.source, probed_at=now, error=str(exc)[:500])
        except Exception as exc:
            value = Inventory(source="file" if self.file else "nvidia-smi", probed_at=now,
                              error=f"probe failed: {exc!r}"[:500])
        with self._lock:
            self._value, self._busy = value, False
            self.probes += 1

    def wait(self, probes: int, timeout: float = 30.0) -> bool:
        """Tests: wait until `probes` probes ended (bounded)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                if self.probes >= probes:
                    return True
            time.sleep(0.01)
        return False
