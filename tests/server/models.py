"""Small real models (safetensors written with numpy) for registry tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file


def write_model(folder: Path, seed: int = 0, *, shards: int = 2, rows: int = 256) -> Path:
    """`shards` safetensors files of float32 weights, a config and a tokenizer."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for s in range(shards):
        tensors = {f"layers.{s}.{i}.weight": (rng.standard_normal((rows, 1024)) * 0.02).astype(np.float32)
                   for i in range(4)}
        save_file(tensors, str(folder / f"model-{s:05d}-of-{shards:05d}.safetensors"))
    (folder / "config.json").write_text(json.dumps({"hidden_size": 1024, "layers": shards * 4}))
    (folder / "tokenizer.json").write_text(json.dumps({"model": {"vocab": {f"t{i}": i for i in range(2000)}}}))
    return folder


def change_one_shard(folder: Path, seed: int) -> None:
    """Rewrite the last shard with new weights (a fine-tune touching one file)."""
    rng = np.random.default_rng(seed)
    shard = sorted(folder.glob("*.safetensors"))[-1]
    save_file({"head.weight": (rng.standard_normal((128, 1024)) * 0.02).astype(np.float32)}, str(shard))


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
