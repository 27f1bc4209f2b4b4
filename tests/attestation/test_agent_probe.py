"""The agent's background probe and its settings (agent/inventory.py, agent/config.py; issue 14)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fleetyard.agent.inventory import InventoryProbe
from tests.attestation import samples


def test_the_probe_compares_with_the_declared_gpus(tmp_path: Path) -> None:
    f = tmp_path / "gpus.csv"
    f.write_text(samples.MIXED, encoding="utf-8")
    p = InventoryProbe(file=f, every=3600)
    assert p.current({"L4": 4}) is None  # the first probe has only started
    assert p.wait(1)
    inv = p.current({"L4": 4, "H100-SXM": 8})
    assert inv is not None and inv.source == "file" and inv.error is None and len(inv.gpus) == 9
    assert inv.gpus[0].sku == "L4" and inv.gpus[4].sku is None
    assert inv.drift[:3] == ["A100-80GB: 1 found, none declared", "A10G: 1 found, none declared",
                             "H100-PCIE: 1 found, none declared"]
    assert "H100-SXM: declared 8, found 0" in inv.drift and "L4: declared 4, found 2" in inv.drift
    assert p.current() is not None and p.probes == 1  # `every` not over: no second probe


def test_a_failed_probe_is_an_error_inventory_without_gpus(tmp_path: Path) -> None:
    f = tmp_path / "gpus.csv"
    f.write_text(samples.DRIVER_ERROR, encoding="utf-8")
    p = InventoryProbe(file=f, every=3600)
    p.current()
    assert p.wait(1)
    inv = p.current({"L4": 4})
    assert inv is not None and inv.gpus == [] and inv.drift == []
    assert inv.error is not None and inv.error.startswith("line 1: expected 'name, memory.total, uuid', got")


def test_a_missing_probe_file_is_exit_2_and_one_line(tmp_path: Path) -> None:
    key = tmp_path / "key.pub"
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pub = ec.generate_private_key(ec.SECP256R1()).public_key()
    key.write_bytes(pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    r = subprocess.run([sys.executable, "-m", "fleetyard", "agent", "--site", "fra-1", "--server", "http://127.0.0.1:9",
                        "--token", "t", "--data-dir", str(tmp_path / "d"), "--trust-key", str(key),
                        "--inventory-probe", str(tmp_path / "nope.csv")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"--inventory-probe {tmp_path / 'nope.csv'}: no such file" in r.stderr
