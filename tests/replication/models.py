"""Small real models and keys for replication and agent tests (shared with tests/agent).

A model is a folder with a safetensors file written with numpy plus a config; a new
version changes one tensor, so the registry's diff is a small part of the whole.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from safetensors.numpy import save_file

from fleetyard.registry import Store


def write_model(folder: Path, *, seed: int = 0, tensors: int = 8, rows: int = 128, edit: int = 0) -> Path:
    """`tensors` float32 tensors of rows x 1024 (512 KB each at 128 rows).

    `edit` > 0 rewrites the first `edit` tensors with other values (a new version).
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    data = {f"layers.{i}.weight": (rng.standard_normal((rows, 1024)) * 0.02).astype(np.float32) for i in range(tensors)}
    if edit:
        other = np.random.default_rng(seed + 1000)
        for i in range(edit):
            data[f"layers.{i}.weight"] = (other.standard_normal((rows, 1024)) * 0.02).astype(np.float32)
    save_file(data, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"hidden_size": 1024, "layers": tensors, "edit": edit}))
    return folder


def write_keys(folder: Path, name: str = "signing") -> tuple[Path, Path]:
    """An EC P-256 key pair as PEM files: (private, public)."""
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    priv, pub = folder / f"{name}.pem", folder / f"{name}.pub"
    priv.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    pub.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return priv, pub


def corrupt_chunk(store: Store, ref: str, which: int = 0, *, not_in: str | None = None) -> str:
    """Flip one byte inside a chunk of `ref` in a local store; returns the chunk's digest.

    `not_in` picks among the chunks that version `not_in` does not use (new ones).
    """
    manifest = store.resolve(ref)
    chunks = sorted(store.recipe(manifest).all_chunks())
    if not_in is not None:
        old = store.recipe(store.resolve(not_in)).all_chunks()
        chunks = [c for c in chunks if c not in old]
    index = store.index()
    loc = index.get(chunks[which])
    assert loc is not None
    path = Path(store.url) / "packs" / loc.pack_id[:2] / f"{loc.pack_id}.pack"
    with open(path, "r+b") as f:
        f.seek(loc.entry.offset + loc.entry.stored_size // 2)
        b = f.read(1)
        f.seek(loc.entry.offset + loc.entry.stored_size // 2)
        f.write(bytes([b[0] ^ 0xFF]))
    return chunks[which].hex()


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under a folder (relative path -> content), model.sig aside."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "model.sig"
    }
