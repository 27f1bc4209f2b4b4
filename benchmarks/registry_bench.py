"""Registry benchmark: push throughput, re-push, and dedup against rsync and casync.

Run: `.venv/bin/python benchmarks/registry_bench.py [--size-mb 1024] [--workdir DIR]`

Builds a realistic model folder (safetensors shards written with numpy, a config
and tokenizer files), then measures:

1. push of the whole folder from page cache, into a store on tmpfs (CPU-bound:
   what the registry itself costs) and on the work disk (durable, fsynced);
   compared with plain BLAKE3 hashing of the same bytes (1 thread and all threads);
2. re-push of the unchanged folder: time and bytes added;
3. a realistic update (a few tensors changed, 4 KiB inserted early in a shard,
   config.json changed): bytes stored and bytes `diff` says a site must fetch,
   against the bytes that truly changed, side by side with `rsync --stats` (bytes
   sent, delta mode) and `casync make` (store growth) for the same update.

Prints every figure with the machine it ran on.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import blake3
import numpy as np
from machineinfo import machine
from safetensors.numpy import load_file, save_file

from fleetyard.registry import diff_versions, open_store, pull, push

INSERT_AT = 1 << 20
INSERT_BYTES = 4096


def write_model(folder: Path, size_mb: int, seed: int = 0) -> None:
    """Shards of ~256 MB: big projection matrices, medium ones and norm vectors."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    shards = max(1, size_mb // 256)
    per_shard = size_mb / shards
    big = int(per_shard * 0.75 / 64) or 1
    mid = int(per_shard * 0.25 / 16) or 1
    for s in range(shards):
        t = {}
        for i in range(big):
            t[f"layers.{s}.{i}.mlp.weight"] = rng.standard_normal((4096, 4096), dtype=np.float32) * 0.02
        for i in range(mid):
            t[f"layers.{s}.{i}.attn.weight"] = rng.standard_normal((1024, 4096), dtype=np.float32) * 0.02
        for i in range(4):
            t[f"layers.{s}.{i}.norm.weight"] = np.ones(4096, dtype=np.float32)
        save_file(t, str(folder / f"model-{s + 1:05d}-of-{shards:05d}.safetensors"))
    (folder / "config.json").write_text(json.dumps({"hidden_size": 4096, "num_layers": shards * 4}))
    vocab = {f"tok{i}": i for i in range(50_000)}
    (folder / "tokenizer.json").write_text(json.dumps({"model": {"type": "BPE", "vocab": vocab}}))
    (folder / "tokenizer_config.json").write_text(json.dumps({"bos_token": "<s>", "eos": "</s>"}))


def update_model(src: Path, dst: Path) -> int:
    """Fine-tune-like update; returns the bytes that truly changed."""
    shutil.copytree(src, dst)
    shards = sorted(dst.glob("*.safetensors"))
    changed = 0
    rng = np.random.default_rng(99)
    for shard in shards[1::2]:  # some tensors of every other shard change
        t = load_file(str(shard))
        for name in sorted(n for n in t if "attn" in n)[:2] + sorted(n for n in t if "norm" in n):
            t[name] = t[name] + rng.standard_normal(t[name].shape, dtype=np.float32) * 1e-3
            changed += t[name].nbytes
        save_file(t, str(shard))
    data = shards[0].read_bytes()  # bytes inserted early in a file shift the rest
    shards[0].write_bytes(data[:INSERT_AT] + os.urandom(INSERT_BYTES) + data[INSERT_AT:])
    changed += INSERT_BYTES
    cfg = dst / "config.json"  # one small file changes
    cfg.write_text(json.dumps({"hidden_size": 4096, "num_layers": 16, "rope_theta": 500000.0}))
    return changed + cfg.stat().st_size


def folder_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def hash_rates(folder: Path) -> tuple[float, float, int]:
    """GB/s of plain BLAKE3 over the folder's bytes: one thread, all threads."""
    data = folder_bytes(folder)
    best1 = bestn = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        blake3.blake3(data).digest()
        best1 = min(best1, time.perf_counter() - t)
        t = time.perf_counter()
        blake3.blake3(data, max_threads=blake3.blake3.AUTO).digest()
        bestn = min(bestn, time.perf_counter() - t)
    return len(data) / best1 / 1e9, len(data) / bestn / 1e9, len(data)


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run_rsync(v1: Path, v2: Path, work: Path) -> tuple[int, float] | str:
    if not shutil.which("rsync"):
        return "rsync not installed (apt-get install rsync)"
    dest = work / "rsync-dest"
    shutil.copytree(v1, dest)
    t = time.perf_counter()
    r = subprocess.run(
        ["rsync", "-a", "--no-whole-file", "--stats", f"{v2}/", f"{dest}/"],
        capture_output=True,
        text=True,
        check=True,
    )
    dt = time.perf_counter() - t
    sent = next(line for line in r.stdout.splitlines() if line.startswith("Total bytes sent"))
    return int(sent.split(":")[1].strip().replace(",", "")), dt


def run_casync(v1: Path, v2: Path, work: Path) -> tuple[int, float, float] | str:
    if not shutil.which("casync"):
        return "casync not installed (apt-get install casync)"
    store = work / "casync.castr"
    t = time.perf_counter()
    subprocess.run(
        ["casync", "make", f"--store={store}", str(work / "v1.caidx"), str(v1)], check=True, capture_output=True
    )
    t1 = time.perf_counter() - t
    before = du(store)
    t = time.perf_counter()
    subprocess.run(
        ["casync", "make", f"--store={store}", str(work / "v2.caidx"), str(v2)], check=True, capture_output=True
    )
    return du(store) - before, t1, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--workdir", default=None, help="Folder for models and the disk store.")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fy-bench-", dir=args.workdir))
    shm = Path(tempfile.mkdtemp(prefix="fy-bench-", dir="/dev/shm")) if Path("/dev/shm").is_dir() else work
    try:
        run(work, shm, args.size_mb)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(shm, ignore_errors=True)


def run(work: Path, shm: Path, size_mb: int) -> None:
    info = machine("blake3", "fastcdc", "zstandard")
    print("machine:", ", ".join(f"{k} {v}" for k, v in info.items()))
    v1, v2 = work / "v1", work / "v2"
    write_model(v1, size_mb)
    truly = update_model(v1, v2)
    h1, hn, total = hash_rates(v1)  # also warms the page cache
    print(f"model: {total / 1e9:.3f} GB in {len(list(v1.iterdir()))} files")
    print(f"plain BLAKE3 of the same bytes: {h1:.2f} GB/s (1 thread), {hn:.2f} GB/s (all threads)")

    rows = []
    for label, root in (("tmpfs (page cache)", shm / "reg"), ("disk, fsynced", work / "reg")):
        store = open_store(root, create=True)
        folder_bytes(v1)
        r = push(store, v1, "bench", "1")
        gbs = total / r.seconds / 1e9
        rows.append((label, r.seconds, gbs))
        print(
            f"push 1 -> {label}: {r.seconds:.2f} s, {gbs:.2f} GB/s, "
            f"{gbs / h1:.2f}x plain BLAKE3 1-thread, {gbs / hn:.2f}x all threads; "
            f"stored {r.stored_bytes_added / 1e9:.3f} GB"
        )
        again = push(store, v1, "bench", "1-again")
        print(
            f"re-push unchanged -> {label}: {again.seconds:.2f} s, "
            f"{again.raw_bytes_added} bytes added, {again.reused_chunks} chunks reused"
        )
        if root.parent == shm:
            t = time.perf_counter()
            pull(store, "bench:1", shm / "pulled")
            print(f"pull -> tmpfs: {time.perf_counter() - t:.2f} s")
            shutil.rmtree(shm / "pulled")
            t = time.perf_counter()
            up = push(store, v2, "bench", "2")
            d = diff_versions(store, "bench:1", "bench:2")
            print(f"push of the update: {up.seconds:.2f} s")
            ours = (up.raw_bytes_added, up.stored_bytes_added, d.fetch_bytes, up.seconds)
    rs = run_rsync(v1, v2, work)
    cs = run_casync(v1, v2, work)
    print()
    print(f"update: truly changed bytes {truly:,}")
    print(f"{'tool':<34}{'bytes':>14}{'x changed':>11}{'time s':>9}")
    print(f"{'fleetyard new chunk bytes (raw)':<34}{ours[0]:>14,}{ours[0] / truly:>11.3f}{ours[3]:>9.2f}")
    print(f"{'fleetyard bytes stored (zstd)':<34}{ours[1]:>14,}{ours[1] / truly:>11.3f}{'':>9}")
    print(f"{'fleetyard diff: site must fetch':<34}{ours[2]:>14,}{ours[2] / truly:>11.3f}{'':>9}")
    if isinstance(rs, str):
        print(f"{'rsync --stats bytes sent':<34}{rs}")
    else:
        print(f"{'rsync --stats bytes sent':<34}{rs[0]:>14,}{rs[0] / truly:>11.3f}{rs[1]:>9.2f}")
    if isinstance(cs, str):
        print(f"{'casync store growth':<34}{cs}")
    else:
        print(f"{'casync store growth':<34}{cs[0]:>14,}{cs[0] / truly:>11.3f}{cs[2]:>9.2f}")
        print(f"casync ingest of v1: {cs[1]:.2f} s ({total / cs[1] / 1e9:.2f} GB/s)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
