"""Content-defined chunking (FastCDC) and chunk names (BLAKE3).

Chunk sizes: min 16 KiB, average 64 KiB, max 256 KiB (the casync defaults).
64 KiB keeps the per-chunk bookkeeping small (16k chunks per GB, ~36 bytes each in
a recipe) while an edit costs about one chunk of extra bytes; the minimum bounds
the index size for pathological data, the maximum bounds the cost of a one-byte
change and lets a chunk always fit a single read.

Large files are cut in segments that separate processes chunk in parallel. Each
segment is chunked a little past its end (`SEGMENT_OVERLAP`), and the next one is
spliced in at the first boundary both agree on: FastCDC's cut decisions depend only
on the bytes since the previous cut, so once two chunkers share a boundary they
agree forever after, and the result equals one sequential pass.

Only FastCDC's compiled (Cython) path is used; importing this module fails loudly
if the installed `fastcdc` lacks it rather than silently running at Python speed.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import blake3

try:
    from fastcdc.fastcdc_cy import fastcdc_cy as _fastcdc_compiled
except ImportError as exc:  # pragma: no cover - depends on the installed wheel
    raise ImportError(
        "fastcdc's compiled path (fastcdc.fastcdc_cy) is not available; "
        "reinstall fastcdc from a wheel built for this platform"
    ) from exc

__all__ = [
    "AVG_CHUNK",
    "MAX_CHUNK",
    "MIN_CHUNK",
    "SEGMENT_OVERLAP",
    "SEGMENT_SIZE",
    "Chunk",
    "Segment",
    "chunk_buffer",
    "chunk_id",
    "chunk_segment",
    "plan_segments",
    "splice_segments",
]

MIN_CHUNK = 16 * 1024
AVG_CHUNK = 64 * 1024
MAX_CHUNK = 256 * 1024
SEGMENT_SIZE = 128 * 1024 * 1024
SEGMENT_OVERLAP = 2 * 1024 * 1024

_cdc = cast(Callable[..., Iterator[Any]], _fastcdc_compiled)


def chunk_id(data: bytes | memoryview) -> bytes:
    """The 32-byte BLAKE3 digest that names a chunk."""
    return blake3.blake3(data).digest()


@dataclass(frozen=True)
class Chunk:
    """One chunk of a file: where it is and the hash that names it."""

    offset: int
    length: int
    digest: bytes


def chunk_buffer(data: bytes | bytearray | memoryview, base: int = 0) -> list[Chunk]:
    """Cut `data` into content-defined chunks and name each; offsets start at `base`."""
    view = memoryview(data)
    if len(view) == 0:
        return []
    out: list[Chunk] = []
    for c in _cdc(view, min_size=MIN_CHUNK, avg_size=AVG_CHUNK, max_size=MAX_CHUNK):
        off, length = int(c.offset), int(c.length)
        out.append(Chunk(base + off, length, chunk_id(view[off : off + length])))
    return out


@dataclass(frozen=True)
class Segment:
    """A slice of a file that one worker chunks: [start, end) plus an overlap."""

    path: str
    start: int
    end: int
    read_end: int
    file_size: int


def plan_segments(path: str, size: int, segment_size: int = SEGMENT_SIZE) -> list[Segment]:
    """Split a file of `size` bytes into segments for parallel chunking."""
    if size == 0:
        return [Segment(path, 0, 0, 0, 0)]
    # The last segment absorbs a remainder shorter than a quarter segment.
    cuts = list(range(0, size, segment_size))
    if len(cuts) > 1 and size - cuts[-1] < segment_size // 4:
        cuts.pop()
    segments = []
    for i, start in enumerate(cuts):
        end = cuts[i + 1] if i + 1 < len(cuts) else size
        read_end = size if end == size else min(size, end + SEGMENT_OVERLAP)
        segments.append(Segment(path, start, end, read_end, size))
    return segments


def chunk_segment(seg: Segment, use_mmap: bool = False) -> list[Chunk]:
    """Chunk one segment (with its overlap); runs in a worker process.

    With `use_mmap` the file's page-cache pages are hashed in place (no copy, about
    twice as fast); a file truncated meanwhile then kills the worker with SIGBUS,
    which the push reports as "changed while pushed", so only workers use it.
    """
    length = seg.read_end - seg.start
    if length == 0:
        return []
    with open(seg.path, "rb", buffering=0) as f:
        if use_mmap:
            page = mmap.ALLOCATIONGRANULARITY
            base = seg.start - seg.start % page
            flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
            with mmap.mmap(
                f.fileno(), seg.read_end - base, flags=flags, prot=mmap.PROT_READ, offset=base
            ) as m:
                view = memoryview(m)
                try:
                    return chunk_buffer(view[seg.start - base :], base=seg.start)
                finally:
                    view.release()
        buf = bytearray(length)
        view = memoryview(buf)
        got = 0
        while got < length:
            n = os.preadv(f.fileno(), [view[got:]], seg.start + got)
            if n == 0:
                raise OSError(f"{seg.path}: file shrank while reading (expected {length} bytes)")
            got += n
        return chunk_buffer(buf, base=seg.start)


def splice_segments(
    segments: list[Segment], parts: list[list[Chunk]], rehash: Callable[[int, int], bytes]
) -> list[Chunk]:
    """Join the chunk lists of consecutive segments into one sequential chunk list.

    `rehash(offset, length)` names a gap chunk in the rare case that two segments
    find no common boundary within the overlap (a forced cut, still correct).
    """
    if not parts:
        return []
    result = list(parts[0])
    for seg, part in zip(segments[1:], parts[1:], strict=True):
        starts = {c.offset: i for i, c in enumerate(part)}
        cut = None
        # Only complete chunks of the previous segment may be kept: drop a tail that
        # was truncated by the end of its read window.
        for j, c in enumerate(result):
            if c.offset < seg.start:
                continue
            if c.offset in starts:
                cut = (j, starts[c.offset])
                break
        if cut is not None:
            result = result[: cut[0]] + part[cut[1] :]
            continue
        # No shared boundary: keep previous chunks that end by seg.start, then one
        # forced chunk up to seg.start, then the next segment as it was cut.
        keep = [c for c in result if c.offset + c.length <= seg.start]
        tail = keep[-1].offset + keep[-1].length if keep else 0
        if tail < seg.start:
            keep.append(Chunk(tail, seg.start - tail, rehash(tail, seg.start - tail)))
        result = keep + part
    return result
