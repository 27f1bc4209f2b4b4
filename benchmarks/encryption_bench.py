"""Encryption-at-rest benchmark: push and pull throughput with and without encryption, same run.

Run: `.venv/bin/python benchmarks/encryption_bench.py [--size-mb 512] [--rounds 3] [--workdir DIR]`

Builds a model folder of float32 safetensors shards (numpy), then, alternating plain
and encrypted so machine noise hits both alike, `rounds` times each:

* push of the folder into a new store (a fresh model name each round, so every chunk
  is new: the worst case for encryption, which seals every byte stored);
* pull of that version into a new folder (every chunk read, checked, and for the
  encrypted model opened with the site key).

Stores and pulled folders live on tmpfs (/dev/shm) when it has room, so the figures
are what the registry and the cryptography cost, not the disk. Prints the median of
each, the encryption overhead in percent (target: <= 15%), and the machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from machineinfo import machine
from safetensors.numpy import save_file

from fleetyard.registry import open_store, pull, push
from fleetyard.registry.encryption import load_recipients
from fleetyard.registry.sealing import new_site_key


def write_model(folder: Path, size_mb: int) -> int:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    shards = max(1, size_mb // 128)
    for s in range(shards):
        n = size_mb * (1 << 20) // shards // 4 // 4096
        save_file({f"layers.{s}.weight": rng.standard_normal((n, 4096), dtype=np.float32) * 0.02},
                  str(folder / f"model-{s:05d}.safetensors"))
    (folder / "config.json").write_text('{"hidden_size": 4096}' + " " * 4000)
    return sum(p.stat().st_size for p in folder.iterdir())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="encbench-", dir=args.workdir))
    shm_ok = Path("/dev/shm").is_dir() and shutil.disk_usage("/dev/shm").free > args.size_mb * (1 << 20) * 5
    fast = Path(tempfile.mkdtemp(prefix="encbench-", dir="/dev/shm" if shm_ok else work))
    try:
        run(work, fast, args.size_mb, args.rounds, shm_ok)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(fast, ignore_errors=True)


def cpu() -> float:
    """CPU seconds of this process and its finished children (push's chunking pool)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def run(work: Path, fast: Path, size_mb: int, rounds: int, shm: bool) -> None:
    print(machine())
    size = write_model(work / "model", size_mb)
    priv, pub = new_site_key()
    (work / "site.site.pem").write_bytes(priv)
    (work / "site.site.pub").write_bytes(pub)
    recipients = load_recipients([work / "site.site.pub"])
    times: dict[str, list[float]] = {"push plain": [], "push encrypted": [], "pull plain": [], "pull encrypted": []}
    cpus: dict[str, list[float]] = {k: [] for k in times}
    stored: dict[str, int] = {}
    for r in range(rounds):
        for mode in ("plain", "encrypted"):
            store = open_store(fast / f"store-{mode}-{r}", create=True)
            enc = mode == "encrypted"
            t0, c0 = time.perf_counter(), cpu()
            res = push(store, work / "model", "bench", "1", encrypt_for=recipients if enc else None)
            times[f"push {mode}"].append(time.perf_counter() - t0)
            cpus[f"push {mode}"].append(cpu() - c0)
            stored[mode] = res.stored_bytes_added
            dest = fast / f"pull-{mode}-{r}"
            t0, c0 = time.perf_counter(), cpu()
            pull(store, "bench:1", dest, site_key=work / "site.site.pem" if enc else None)
            times[f"pull {mode}"].append(time.perf_counter() - t0)
            cpus[f"pull {mode}"].append(cpu() - c0)
            shutil.rmtree(dest)
            shutil.rmtree(Path(store.url))
    print(f"model {size / 1e6:.0f} MB, {rounds} rounds, stores on {'tmpfs' if shm else 'disk'}, "
          f"{os.cpu_count()} cores; stored plain {stored['plain'] / 1e6:.1f} MB, "
          f"encrypted {stored['encrypted'] / 1e6:.1f} MB")
    med = {k: statistics.median(v) for k, v in times.items()}
    for op in ("push", "pull"):
        plain, enc = size / med[f"{op} plain"] / 1e9, size / med[f"{op} encrypted"] / 1e9
        cost = (1 - enc / plain) * 100
        print(f"{op}: plain {plain:.2f} GB/s, encrypted {enc:.2f} GB/s: encryption costs {cost:.1f}% "
              f"(median of {rounds}; all s: plain {[round(x, 3) for x in times[f'{op} plain']]}, "
              f"encrypted {[round(x, 3) for x in times[f'{op} encrypted']]})")
        cp, ce = (statistics.median(cpus[f"{op} {m}"]) for m in ("plain", "encrypted"))
        print(f"{op} CPU: plain {cp:.2f} s, encrypted {ce:.2f} s per {size / 1e9:.2f} GB: "
              f"encryption costs {(ce / cp - 1) * 100:.1f}% of CPU time (less sensitive to a busy machine)")


if __name__ == "__main__":
    main()
