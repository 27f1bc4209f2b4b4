"""Pack files and their indexes: how chunks are laid out in storage.

A pack is `FYPACK01` followed by chunk records back to back (raw or zstd), tens of
MB each, so a 100 GB model is a few thousand objects instead of millions and a site
fetches it with a few thousand range reads. A pack's index (a separate small
object, written after the pack) lists each chunk's BLAKE3 name, offset, stored and
raw size and codec, and ends with a BLAKE3 checksum of itself. An index exists only
for a complete pack, so "pack without index" always means leftover garbage.

Compression is zstd level 1, applied per file when a sample of its chunks shrinks by
at least 10% (config, tokenizer, bf16 weights), and kept per chunk only if that
chunk shrank; float32 noise-like weights are stored raw at copy speed.

An encrypted version's chunks are sealed records (`CODEC_SEALED`, `registry.sealing`):
compressed (if that pays) then encrypted, with a keyless checksum that `decode_chunk`
checks, so a corrupted record is caught without the key; opening it needs the key.
"""

from __future__ import annotations

import os
import secrets
import struct
from dataclasses import dataclass

import blake3
import zstandard

from fleetyard.registry.errors import IntegrityError
from fleetyard.registry.sealing import ChunkSealer, check_record

__all__ = [
    "CODEC_RAW",
    "CODEC_SEALED",
    "CODEC_ZSTD",
    "PACK_MAGIC",
    "TARGET_PACK_SIZE",
    "Extent",
    "PackBuilder",
    "PackEntry",
    "PackResult",
    "decode_chunk",
    "decode_index",
    "encode_index",
    "new_pack_id",
    "sample_compressible",
    "write_pack",
]

PACK_MAGIC = b"FYPACK01"
INDEX_MAGIC = b"FYIDX001"
TARGET_PACK_SIZE = 32 * 1024 * 1024
CODEC_RAW = 0
CODEC_ZSTD = 1
CODEC_SEALED = 2
ZSTD_LEVEL = 1
COMPRESS_IF_RATIO_BELOW = 0.90
_ENTRY = struct.Struct("<32sQIIB3x")
_HEAD = struct.Struct("<8sI")


@dataclass(frozen=True, slots=True)
class PackEntry:
    """Where one chunk lives inside a pack, and how it is encoded."""

    digest: bytes
    offset: int
    stored_size: int
    raw_size: int
    codec: int


@dataclass(frozen=True, slots=True)
class Extent:
    """A chunk to copy from a source file into a new pack."""

    path: str
    offset: int
    length: int
    digest: bytes
    compress: bool


@dataclass(frozen=True)
class PackResult:
    """A pack file written to local staging, ready for the backend to take."""

    pack_id: str
    path: str
    size: int
    entries: tuple[PackEntry, ...]


def new_pack_id() -> str:
    """A random 128-bit pack name; packs are immutable, never overwritten."""
    return secrets.token_hex(16)


def encode_index(entries: tuple[PackEntry, ...] | list[PackEntry]) -> bytes:
    """Serialize a pack index with a trailing BLAKE3 checksum."""
    body = bytearray(_HEAD.pack(INDEX_MAGIC, len(entries)))
    for e in entries:
        body += _ENTRY.pack(e.digest, e.offset, e.stored_size, e.raw_size, e.codec)
    return bytes(body) + blake3.blake3(body).digest()


def decode_index(data: bytes, where: str) -> list[PackEntry]:
    """Parse a pack index, checking its checksum; `where` names it in errors."""
    if len(data) < _HEAD.size + 32:
        raise IntegrityError(f"pack index {where}: truncated ({len(data)} bytes)")
    body, checksum = data[:-32], data[-32:]
    if blake3.blake3(body).digest() != checksum:
        raise IntegrityError(f"pack index {where}: checksum mismatch (index is corrupted)")
    magic, count = _HEAD.unpack_from(body, 0)
    if magic != INDEX_MAGIC or len(body) != _HEAD.size + count * _ENTRY.size:
        raise IntegrityError(f"pack index {where}: bad header or length")
    out = []
    for i in range(count):
        d, off, stored, raw, codec = _ENTRY.unpack_from(body, _HEAD.size + i * _ENTRY.size)
        out.append(PackEntry(d, off, stored, raw, codec))
    return out


def decode_chunk(stored: bytes | memoryview, entry: PackEntry, *, check_sealed: bool = True) -> bytes | memoryview:
    """Decode a stored chunk record and check it against its name.

    Raises IntegrityError (without the pack/file context, which callers add) when
    the bytes do not decode or hash to the chunk's name. A sealed record is checked
    by its keyless checksum (unless `check_sealed` is false: the caller opens it with the
    key, whose tag is the stronger check) and returned as it is (`ChunkSealer.open`).
    """
    raw: bytes | memoryview
    if entry.codec == CODEC_SEALED:
        if check_sealed:
            check_record(stored, entry.digest)
        return stored
    try:
        if entry.codec == CODEC_ZSTD:
            raw = zstandard.ZstdDecompressor().decompress(stored, max_output_size=entry.raw_size)
        else:
            raw = stored
    except zstandard.ZstdError as exc:
        raise IntegrityError(f"chunk {entry.digest.hex()} does not decompress: {exc}") from exc
    if len(raw) != entry.raw_size or blake3.blake3(raw).digest() != entry.digest:
        raise IntegrityError(f"chunk {entry.digest.hex()} does not match its hash")
    return raw


def sample_compressible(path: str, size: int, samples: int = 8) -> bool:
    """Whether zstd pays for this file: compress a few spread-out 64 KiB samples."""
    if size == 0:
        return False
    step = max(size // samples, 1)
    raw = packed = 0
    comp = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    with open(path, "rb") as f:
        for off in range(0, size, step):
            data = os.pread(f.fileno(), 64 * 1024, off)
            raw += len(data)
            packed += len(comp.compress(data))
    return raw > 0 and packed < raw * COMPRESS_IF_RATIO_BELOW


def _copy_range(src: int, dst: int, offset: int, length: int) -> None:
    """Copy bytes file-to-file inside the kernel when possible, else by read/write."""
    done = 0
    try:
        while done < length:
            n = os.copy_file_range(src, dst, length - done, offset + done)
            if n == 0:
                raise OSError(f"source ended early at offset {offset + done}")
            done += n
        return
    except OSError as exc:
        if done or exc.errno not in (18, 22, 38, 95):  # EXDEV, EINVAL, ENOSYS, EOPNOTSUPP
            raise
    try:  # across filesystems: sendfile still copies inside the kernel
        while done < length:
            n = os.sendfile(dst, src, offset + done, length - done)
            if n == 0:
                raise OSError(f"source ended early at offset {offset + done}")
            done += n
        return
    except OSError as exc:
        if done or exc.errno not in (22, 38, 95):
            raise
    while done < length:
        data = os.pread(src, min(length - done, 8 << 20), offset + done)
        if not data:
            raise OSError(f"source ended early at offset {offset + done}")
        os.write(dst, data)
        done += len(data)


def write_pack(staging_dir: str, extents: list[Extent], sealer: ChunkSealer | None = None) -> PackResult:
    """Write the given chunks into one new pack file in `staging_dir`, fsynced.

    Runs of consecutive raw chunks from the same file are copied in one kernel call.
    With a `sealer`, every chunk is sealed (extent digests are then scoped ids).
    """
    if sealer is not None:
        return _write_sealed(staging_dir, extents, sealer)
    pack_id = new_pack_id()
    path = os.path.join(staging_dir, f"{pack_id}.pack")
    comp = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    entries: list[PackEntry] = []
    fds: dict[str, int] = {}
    out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(out, PACK_MAGIC)
        pos = len(PACK_MAGIC)
        i = 0
        while i < len(extents):
            ext = extents[i]
            src = fds.get(ext.path)
            if src is None:
                src = fds[ext.path] = os.open(ext.path, os.O_RDONLY)
            if ext.compress:
                data = os.pread(src, ext.length, ext.offset)
                packed = comp.compress(data)
                if len(packed) < len(data):
                    os.write(out, packed)
                    entries.append(PackEntry(ext.digest, pos, len(packed), ext.length, CODEC_ZSTD))
                    pos += len(packed)
                else:
                    os.write(out, data)
                    entries.append(PackEntry(ext.digest, pos, ext.length, ext.length, CODEC_RAW))
                    pos += ext.length
                i += 1
                continue
            j, run = i, 0
            while (
                j < len(extents)
                and not extents[j].compress
                and extents[j].path == ext.path
                and extents[j].offset == ext.offset + run
            ):
                e = extents[j]
                entries.append(PackEntry(e.digest, pos + run, e.length, e.length, CODEC_RAW))
                run += e.length
                j += 1
            _copy_range(src, out, ext.offset, run)
            pos += run
            i = j
        os.fsync(out)
    except BaseException:
        os.close(out)
        _unlink_quietly(path)
        raise
    finally:
        for fd in fds.values():
            os.close(fd)
    os.close(out)
    return PackResult(pack_id, path, pos, tuple(entries))


def _write_sealed(staging_dir: str, extents: list[Extent], sealer: ChunkSealer) -> PackResult:
    pack_id = new_pack_id()
    path = os.path.join(staging_dir, f"{pack_id}.pack")
    entries: list[PackEntry] = []
    fds: dict[str, int] = {}
    out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        buf: list[bytes] = [PACK_MAGIC]
        pos = len(PACK_MAGIC)
        for ext in extents:
            src = fds.get(ext.path)
            if src is None:
                src = fds[ext.path] = os.open(ext.path, os.O_RDONLY)
            data = os.pread(src, ext.length, ext.offset)
            if len(data) != ext.length:
                raise OSError(f"{ext.path} ended early at offset {ext.offset + len(data)}")
            record = sealer.seal(ext.digest, data, compress=ext.compress)
            buf.append(record)
            entries.append(PackEntry(ext.digest, pos, len(record), ext.length, CODEC_SEALED))
            pos += len(record)
            if len(buf) >= 64:
                _write_all(out, buf)
                buf = []
        _write_all(out, buf)
        os.fsync(out)
    except BaseException:
        os.close(out)
        _unlink_quietly(path)
        raise
    finally:
        for fd in fds.values():
            os.close(fd)
    os.close(out)
    return PackResult(pack_id, path, pos, tuple(entries))


def _write_all(fd: int, parts: list[bytes]) -> None:
    data = b"".join(parts) if len(parts) > 1 else (parts[0] if parts else b"")
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class PackBuilder:
    """Appends already-encoded chunk records into new staged packs of ~`pack_size`.

    Used when chunks move between stores (export, import, replication) or are
    repacked by gc: their stored encoding is kept, nothing is recompressed.
    """

    def __init__(self, staging_dir: str, pack_size: int = TARGET_PACK_SIZE) -> None:
        self._dir = staging_dir
        self._limit = pack_size
        self._fd: int | None = None
        self._id = ""
        self._path = ""
        self._pos = 0
        self._entries: list[PackEntry] = []

    def add(
        self, digest: bytes, stored: bytes | memoryview, raw_size: int, codec: int
    ) -> PackResult | None:
        """Append one record; returns a finished pack when this one filled up."""
        if self._fd is None:
            self._id = new_pack_id()
            self._path = os.path.join(self._dir, f"{self._id}.pack")
            self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(self._fd, PACK_MAGIC)
            self._pos = len(PACK_MAGIC)
            self._entries = []
        view = memoryview(stored)
        while view:
            view = view[os.write(self._fd, view) :]
        self._entries.append(PackEntry(digest, self._pos, len(stored), raw_size, codec))
        self._pos += len(stored)
        return self.finish() if self._pos >= self._limit else None

    def finish(self) -> PackResult | None:
        """Close and fsync the current pack, if any."""
        if self._fd is None:
            return None
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = None
        return PackResult(self._id, self._path, self._pos, tuple(self._entries))

    def abort(self) -> None:
        """Drop the pack being built."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            _unlink_quietly(self._path)
