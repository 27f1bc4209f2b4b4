"""Syncing a version into a site store: only what is missing, verified, from the best source."""

from __future__ import annotations

import shutil
from pathlib import Path

from fleetyard.registry import Store, copy_version, diff_versions, missing_chunks, open_store, pull, verify_store
from fleetyard.registry.backends import LocalBackend
from fleetyard.replication import ByteLedger, MeteredBackend, Source, SyncProgress, sync_version
from tests.replication.models import corrupt_chunk, tree


def metered(store: Store, name: str, ledger: ByteLedger) -> Source:
    return Source(name, MeteredBackend(store.backend, name, ledger), "center" if name == "center" else "peer")


def chunk_bytes_held(store: Store, ref: str) -> int:
    plan = missing_chunks(store, ref)
    return plan.total_bytes


def test_full_sync_fetches_exactly_the_missing_chunks_and_pulls_identical(
    center: Store, local: Store, tmp_path: Path, signing_keys: dict[str, Path]
) -> None:
    ledger = ByteLedger()
    need = missing_chunks(center, "m:1").total_bytes
    seen: list[SyncProgress] = []
    result = sync_version("m:1", [metered(center, "center", ledger)], local, progress=seen.append)
    assert result.outcome == "synced", result.error
    assert result.chunk_bytes == need == result.bytes_needed
    assert seen and seen[-1].bytes_done == need and seen[-1].chunks_done == result.chunks_needed
    # every byte received is chunk data plus a little metadata (manifest, recipe, index)
    assert need <= ledger.total <= need * 1.02 + 16_384
    assert verify_store(local).ok
    pull(local, "m:1", tmp_path / "out", public_key=signing_keys["pub"])
    pull(center, "m:1", tmp_path / "ref")
    assert tree(tmp_path / "out") == tree(tmp_path / "ref")
    # a second sync is a no-op
    again = ByteLedger()
    assert sync_version("m:1", [metered(center, "center", again)], local).outcome == "synced"
    assert again.total == 0


def test_update_is_a_delta_within_ten_percent_of_the_diff(center: Store, local: Store) -> None:
    assert sync_version("m:1", [metered(center, "center", ByteLedger())], local).outcome == "synced"
    diff = diff_versions(center, "m:1", "m:2")
    ledger = ByteLedger()
    result = sync_version("m:2", [metered(center, "center", ledger)], local)
    assert result.outcome == "synced"
    assert result.chunk_bytes == diff.fetch_bytes
    assert ledger.total <= 1.1 * diff.fetch_bytes
    assert diff.fetch_bytes < 0.4 * center.manifest("m", "2").size


def test_peer_first_and_fallback_to_center_for_chunks_the_peer_lacks(
    center: Store, local: Store, tmp_path: Path
) -> None:
    peer = open_store(tmp_path / "peer", create=True)
    seeded = sync_version("m:2", [metered(center, "center", ByteLedger())], peer, pack_size=512 * 1024)
    assert seeded.outcome == "synced"
    # the peer loses one of its packs: it still has the version, but not those chunks
    victim = sorted(o.key for o in peer.backend.list("packs/") if o.key.endswith(".idx"))[0]
    lost = len(peer.index().packs[victim.rsplit("/", 1)[1].split(".")[0]])
    peer.backend.delete(victim)
    ledger = ByteLedger()
    result = sync_version("m:2", [metered(peer, "fra-1", ledger), metered(center, "center", ledger)], local)
    assert result.outcome == "synced", result.error
    by = ledger.snapshot()
    assert by["fra-1"] > by["center"] > 0
    assert any(f.source == "fra-1" and f"lacks {lost} chunk" in f.message for f in result.failures)
    assert verify_store(local).ok


def test_unreachable_peer_falls_back_to_center(center: Store, local: Store, tmp_path: Path) -> None:
    ledger = ByteLedger()
    gone = Source("fra-2", MeteredBackend(LocalBackend(tmp_path / "nowhere"), "fra-2", ledger), "peer")
    result = sync_version("m:1", [gone, metered(center, "center", ledger)], local)
    assert result.outcome == "synced"
    assert set(ledger.snapshot()) == {"center"}
    assert [f.source for f in result.failures] == ["fra-2"]


def test_bytes_by_source_with_a_good_peer(center: Store, local: Store, tmp_path: Path) -> None:
    peer = open_store(tmp_path / "peer", create=True)
    copy_version(center, peer, "m:1")
    ledger = ByteLedger()
    result = sync_version("m:1", [metered(peer, "fra-1", ledger), metered(center, "center", ledger)], local)
    assert result.outcome == "synced"
    assert set(ledger.snapshot()) == {"fra-1"}
    assert ledger.snapshot()["fra-1"] >= result.chunk_bytes


def test_corrupted_chunk_is_refused_reported_and_never_stored(center: Store, local: Store) -> None:
    bad = corrupt_chunk(center, "m:1", which=3)
    result = sync_version("m:1", [metered(center, "center", ByteLedger())], local)
    assert result.outcome == "failed"
    assert [(r.digest, r.source) for r in result.rejected] == [(bad, "center")]
    assert result.error is not None and bad in result.error and "center" in result.error
    assert bytes.fromhex(bad) not in local.index()
    assert not local.has_version("m", "1")
    # every other chunk was kept: fixing the source costs only the one chunk
    assert result.chunks_fetched == result.chunks_needed - 1


def test_corrupted_chunk_is_fetched_again_from_the_next_source(
    center: Store, local: Store, tmp_path: Path
) -> None:
    good = open_store(tmp_path / "good", create=True)
    copy_version(center, good, "m:1")
    bad = corrupt_chunk(center, "m:1", which=0)
    ledger = ByteLedger()
    result = sync_version("m:1", [metered(center, "center", ledger), metered(good, "fra-1", ledger)], local)
    assert result.outcome == "synced", result.error
    assert [r.digest for r in result.rejected] == [bad]
    assert ledger.snapshot()["fra-1"] > 0
    assert verify_store(local).ok


def test_pause_when_the_window_closes_then_resume_without_refetching(center: Store, local: Store) -> None:
    calls = {"n": 0}

    def window_open() -> bool:
        calls["n"] += 1
        return calls["n"] <= 4  # the window closes after a few ranges

    ledger = ByteLedger()
    first = sync_version("m:1", [metered(center, "center", ledger)], local, may_continue=window_open,
                         max_range=256 * 1024, threads=1)
    assert first.outcome == "paused"
    assert 0 < first.chunk_bytes < first.bytes_needed
    assert not local.has_version("m", "1")
    second = sync_version("m:1", [metered(center, "center", ledger)], local, max_range=256 * 1024)
    assert second.outcome == "synced"
    assert first.chunk_bytes + second.chunk_bytes == first.bytes_needed
    assert second.bytes_needed == first.bytes_needed - first.chunk_bytes


def test_closed_window_fetches_nothing(center: Store, local: Store) -> None:
    ledger = ByteLedger()
    result = sync_version("m:1", [metered(center, "center", ledger)], local, may_continue=lambda: False)
    assert result.outcome == "paused"
    assert ledger.total == 0


def test_no_source_has_the_version(center: Store, local: Store, tmp_path: Path) -> None:
    empty = open_store(tmp_path / "empty", create=True)
    sources = [metered(empty, "fra-1", ByteLedger()), metered(center, "center", ByteLedger())]
    result = sync_version("m:9", sources, local)
    assert result.outcome == "failed"
    assert result.error is not None and "fra-1" in result.error and "center" in result.error
    shutil.rmtree(tmp_path / "empty")
