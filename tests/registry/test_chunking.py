"""Chunking: FastCDC's compiled path, chunk bounds, and parallel splicing."""

from __future__ import annotations

import os
from pathlib import Path

import blake3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetyard.registry import chunking
from fleetyard.registry.chunking import (
    MAX_CHUNK,
    MIN_CHUNK,
    chunk_buffer,
    chunk_segment,
    plan_segments,
    splice_segments,
)


def test_uses_compiled_fastcdc() -> None:
    import fastcdc.fastcdc_cy as compiled

    assert compiled.__file__.endswith((".so", ".pyd"))
    assert chunking._fastcdc_compiled is compiled.fastcdc_cy


def _check_cover(data: bytes, chunks: list[chunking.Chunk]) -> None:
    pos = 0
    for i, c in enumerate(chunks):
        assert c.offset == pos
        assert c.length <= MAX_CHUNK
        if i < len(chunks) - 1:
            assert c.length >= MIN_CHUNK
        assert c.digest == blake3.blake3(data[c.offset : c.offset + c.length]).digest()
        pos += c.length
    assert pos == len(data)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(0, 1_500_000))
def test_chunks_cover_data_within_bounds(seed: int, size: int) -> None:
    data = os.urandom(0) + __import__("random").Random(seed).randbytes(size)
    _check_cover(data, chunk_buffer(data))


def test_average_chunk_size_is_about_64k() -> None:
    data = __import__("random").Random(1).randbytes(16 * 1024 * 1024)
    chunks = chunk_buffer(data)
    mean = len(data) / len(chunks)
    assert 48 * 1024 < mean < 96 * 1024


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**16), segment_kib=st.sampled_from([300, 512, 1000]))
def test_parallel_segments_splice_to_sequential(
    tmp_path: Path, seed: int, segment_kib: int
) -> None:
    data = __import__("random").Random(seed).randbytes(5 * 1024 * 1024 + seed % 4096)
    path = tmp_path / f"f{seed}.bin"
    path.write_bytes(data)
    segs = plan_segments(str(path), len(data), segment_size=segment_kib * 1024)
    assert len(segs) > 1
    parts = [chunk_segment(s, use_mmap=bool(seed % 2)) for s in segs]

    def rehash(off: int, n: int) -> bytes:
        return blake3.blake3(data[off : off + n]).digest()

    assert splice_segments(segs, parts, rehash) == chunk_buffer(data)


def test_splice_without_common_boundary_still_covers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With no overlap, segments cannot resynchronise: the forced-cut fallback must
    # still produce a complete, correctly named chunk list.
    monkeypatch.setattr(chunking, "SEGMENT_OVERLAP", 0)
    data = __import__("random").Random(7).randbytes(3 * 1024 * 1024 + 123)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    segs = plan_segments(str(path), len(data), segment_size=1024 * 1024)
    parts = [chunk_segment(s) for s in segs]
    out = splice_segments(segs, parts, lambda o, n: blake3.blake3(data[o : o + n]).digest())
    pos = 0
    for c in out:
        assert c.offset == pos and c.digest == blake3.blake3(data[pos : pos + c.length]).digest()
        pos += c.length
    assert pos == len(data)


def test_empty_file_has_no_chunks(tmp_path: Path) -> None:
    path = tmp_path / "empty"
    path.write_bytes(b"")
    segs = plan_segments(str(path), 0)
    assert [chunk_segment(s) for s in segs] == [[]]
