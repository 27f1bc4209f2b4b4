"""Issue 9: an agent killed mid-rollout at random moments leaves nothing corrupt or half-written."""

from __future__ import annotations

import os
from pathlib import Path

from fleetyard.registry import Store
from tests.replication.agentkill import check_site, run

KILLS = int(os.environ.get("FLEETYARD_AGENT_KILLS", "12"))


def test_an_agent_killed_at_random_points_never_leaves_a_broken_site(center: Store, tmp_path: Path,
                                                                    signing_keys: dict[str, Path]) -> None:
    campaign = run(center, tmp_path / "site", signing_keys["pub"], KILLS, seed=9)
    print(f"{campaign.kills} kills in a {campaign.window:.1f} s rollout, {campaign.finished_before_kill} "
          f"finished first, active after each: {campaign.actives}")
    assert campaign.problems == []
    assert campaign.kills == KILLS  # every counted kill fell inside a rollout


def test_the_site_check_finds_a_half_written_version(center: Store, tmp_path: Path,
                                                     signing_keys: dict[str, Path]) -> None:
    """The campaign's check must be able to fail: a truncated file in a version folder is caught."""
    run(center, tmp_path / "site", signing_keys["pub"], 0, seed=1)
    folder = tmp_path / "site" / "models" / "m" / "2"
    victim = next(p for p in sorted(folder.rglob("*")) if p.is_file() and p.stat().st_size > 100)
    victim.write_bytes(victim.read_bytes()[:50])
    problems, active = check_site(tmp_path / "site", signing_keys["pub"])
    assert active == "2" and any("models/m/2 does not verify" in p for p in problems)
