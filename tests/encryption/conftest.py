"""Fixtures for encryption at rest: site key pairs made by the real CLI code, a model with a marker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fleetyard.registry.sealing import new_site_key

MARKER = b"FLEETYARD-PLAINTEXT-MARKER-7f3a9c"


def write_site_keys(folder: Path, *sites: str) -> dict[str, Path]:
    """NAME.site.pem (0600) and NAME.site.pub for each site; returns {site: pem, site.pub: pub}."""
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for site in sites:
        priv, pub = new_site_key()
        out[site] = folder / f"{site}.site.pem"
        out[site].write_bytes(priv)
        os.chmod(out[site], 0o600)
        out[f"{site}.pub"] = folder / f"{site}.site.pub"
        out[f"{site}.pub"].write_bytes(pub)
    return out


def write_marked_model(folder: Path, *, shards: int = 3, shard_bytes: int = 1 << 20, seed: int = 1) -> Path:
    """Shards of random bytes each holding the marker every 64 KiB (so every chunk holds one),
    a compressible config with the marker in it too."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = __import__("random").Random(seed)
    for s in range(shards):
        data = bytearray(rng.randbytes(shard_bytes))
        for off in range(0, shard_bytes - len(MARKER), 16 * 1024):
            data[off : off + len(MARKER)] = MARKER
        (folder / f"shard-{s}.bin").write_bytes(bytes(data))
    (folder / "config.json").write_bytes(b'{"note": "' + MARKER + b'", "pad": "' + b"a" * 20000 + b'"}')
    return folder


@pytest.fixture(scope="session")
def site_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_site_keys(tmp_path_factory.mktemp("sitekeys"), "fra-1", "ams-1", "publisher")
