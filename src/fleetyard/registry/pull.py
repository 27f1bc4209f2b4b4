"""Pulling a version into a model folder, verified, all or nothing.

The folder is assembled in a hidden sibling (`.DEST.partial-…`): every chunk is
checked against its BLAKE3 name before it is written, the signature (if any) is
written as `model.sig`, and with a public key the upstream verifier must accept
the folder (and the provenance, if recorded, must verify with that key); only
then is it renamed to DEST. A corrupted chunk, a refused signature
or a crash leaves DEST untouched and removes the partial folder.

An encrypted version (docs/encryption.md) needs the private key of a site its data key
is wrapped for; it is unwrapped before anything is written, and every chunk is
decrypted and checked against its chunk id before it reaches a file.
"""

from __future__ import annotations

import os
import shutil
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fleetyard.registry import encryption
from fleetyard.registry.errors import IntegrityError, InvalidInputError, SignatureError, StorageError
from fleetyard.registry.manifest import VersionManifest, stored_recipe
from fleetyard.registry.names import Ref
from fleetyard.registry.packs import CODEC_SEALED
from fleetyard.registry.paths import paths_problem
from fleetyard.registry.provenance import verify_provenance
from fleetyard.registry.sealing import ChunkSealer, SiteKey
from fleetyard.registry.signing import check_public_key, verify_folder
from fleetyard.registry.source import SIGNATURE_FILE
from fleetyard.registry.store import Store
from fleetyard.registry.transfer import missing_chunks, read_ranges

__all__ = ["PullResult", "pull"]


@dataclass(frozen=True)
class PullResult:
    """What a pull wrote."""

    manifest: VersionManifest
    dest: Path
    bytes_written: int
    bytes_read: int
    signature_verified: bool
    seconds: float


def _check_dest(dest: Path) -> None:
    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        raise InvalidInputError(
            f"destination {dest} exists and is not a folder: expected a new folder"
        )
    if dest.is_dir() and any(dest.iterdir()):
        raise InvalidInputError(f"destination {dest} is not empty: expected a new or empty folder")


def pull(
    store: Store,
    ref: str | Ref,
    dest: str | os.PathLike[str],
    *,
    public_key: str | os.PathLike[str] | None = None,
    site_key: str | os.PathLike[str] | SiteKey | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PullResult:
    """Write version `ref` into the new folder `dest`; see the module docstring.

    `site_key` opens an encrypted version (ignored for a plain one)."""
    started = time.perf_counter()
    manifest = store.resolve(ref)
    target = Path(dest).absolute()
    _check_dest(target)
    if public_key is not None:
        check_public_key(public_key)
        if not manifest.signed:
            raise SignatureError(
                f"{manifest.ref} is unsigned: refusing to pull it with --public-key "
                "(push it with --key to sign it)"
            )
        if manifest.provenance is not None:  # recorded provenance must verify with the same key
            verify_provenance(manifest, [Path(public_key)])
    sealer = None if manifest.encryption is None else encryption.open_version(store.backend, manifest, site_key)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.parent / f".{target.name}.partial-{os.urandom(4).hex()}"
        staging.mkdir()
    except OSError as exc:
        raise StorageError(f"cannot create {target}: {exc.strerror}") from exc
    try:
        read = _assemble(store, manifest, staging, progress, sealer)
        if manifest.signature is not None:
            (staging / SIGNATURE_FILE).write_text(manifest.signature, encoding="utf-8")
        if public_key is not None:
            verify_folder(staging, public_key, manifest.ref)
        for f in manifest.files:
            os.chmod(staging / f.path, f.mode)
        if target.is_dir():
            target.rmdir()
        os.rename(staging, target)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise StorageError(f"pull of {manifest.ref} into {target} failed: {exc}") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return PullResult(
        manifest=manifest,
        dest=target,
        bytes_written=manifest.size,
        bytes_read=read,
        signature_verified=public_key is not None,
        seconds=time.perf_counter() - started,
    )


def _assemble(
    store: Store,
    manifest: VersionManifest,
    staging: Path,
    progress: Callable[[int, int], None] | None,
    sealer: ChunkSealer | None = None,
) -> int:
    """Create the files of `manifest` under `staging`; returns stored bytes read."""
    content = store.content_recipe(manifest)
    recipe = stored_recipe(manifest, content)
    uses: dict[str, list[tuple[int, int]]] = defaultdict(list)
    chunk_of: dict[str, bytes] = {}  # stored name -> chunk id (they differ when sealed)
    for i, (chunks, ids) in enumerate(zip(recipe.files, content.files, strict=True)):
        pos = 0
        for (d, n), (cid, _) in zip(chunks, ids, strict=True):
            uses[d.hex()].append((i, pos))
            chunk_of[d.hex()] = cid
            pos += n
        if pos != manifest.files[i].size:
            raise InvalidInputError(
                f"{manifest.ref}: recipe of {manifest.files[i].path} has wrong size"
            )

    def describe(digest: str) -> str:
        places = uses.get(digest, [])
        shown = ", ".join(f"file {manifest.files[i].path} at offset {off}" for i, off in places[:2])
        return shown + (f" and {len(places) - 2} more" if len(places) > 2 else "")

    unsafe = paths_problem(f.path for f in manifest.files)  # the rule verify and the schema apply
    if unsafe is not None:
        raise InvalidInputError(f"{manifest.ref}: {unsafe}")
    fds: list[int] = []
    try:
        for f in manifest.files:
            path = staging / f.path
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            fds.append(fd)
            os.ftruncate(fd, f.size)
        plan = missing_chunks(store, manifest)
        written = 0
        for need, stored, raw in read_ranges(store, plan.ranges, describe=describe, check_sealed=sealer is None):
            if (need.codec == CODEC_SEALED) != (sealer is not None):
                raise IntegrityError(f"chunk {need.digest} of {manifest.ref} is stored "
                                     f"{'sealed' if sealer is None else 'in clear'}, unlike its version: refused")
            if sealer is not None:
                raw = _open(sealer, need.digest, stored, chunk_of[need.digest], need.raw_size, describe)
            for i, off in uses[need.digest]:
                os.pwrite(fds[i], raw, off)
                written += len(raw)
            if progress:
                progress(written, manifest.size)
        for fd in fds:
            os.fsync(fd)
        return plan.total_bytes
    finally:
        for fd in fds:
            os.close(fd)


def _open(sealer: ChunkSealer, digest: str, record: memoryview, chunk_id: bytes, size: int,
          describe: Callable[[str], str]) -> bytes:
    try:
        return sealer.open(bytes.fromhex(digest), record, chunk_id, size)
    except IntegrityError as exc:
        where = describe(digest)
        raise IntegrityError(f"{exc}{' (' + where + ')' if where else ''}: refused, nothing written") from None
