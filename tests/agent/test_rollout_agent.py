"""Rollouts at the site with a real agent process, real replicas and a real signed registry.

The agent is told its desired state directly (tests/agent/rollout_site.py): these
tests are the agent's half of issue 10 - switch without a gap, never let an
unhealthy or unvalidated version replace a good one, roll back at once, survive a
SIGKILL mid-switch.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agent.rollout_site import Site, site_fixture, wait_until

PROBE = {"http": "/healthz", "timeout_s": 2, "period_s": 0.3}
HEALTH = {"probe": PROBE, "metrics": {"url_path": "/metrics", "max_error_ratio": 0.1, "max_p95_ms": 500}}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    yield from site_fixture(tmp_path)


def serving(site: Site, ref: str, n: int) -> bool:
    """`n` replicas of `ref` alive and each past its first healthy probe."""
    alive = site.lives.alive(ref)
    return len(alive) == n and all(r["ready"] is not None for r in alive)


def on(site: Site, ref: str, n: int = 2) -> dict[str, Any] | None:
    """The reported health once `n` replicas of `ref` are ready and nothing else runs."""
    h = site.health()
    if h and h["model"] == ref and h["ready"] == n and h["total"] == n and serving(site, ref, n) \
            and len(site.lives.alive()) == n:
        return h
    return None


def test_a_healthy_switch_keeps_serving_and_stops_old_replicas_only_after_new_ones_are_ready(site: Site) -> None:
    v1 = site.push("1", requests=100, errors=0, latency_s=0.04)
    v2 = site.push("2", requests=100, errors=5, latency_s=0.2)
    site.want(v1, replicas=3, health=HEALTH)
    site.start_agent()
    wait_until(lambda: on(site, v1, 3), "m:1 serving on 3 replicas")
    site.want(v2, replicas=3, health=HEALTH, max_unavailable=1, keep=[v1])
    h = wait_until(lambda: on(site, v2, 3), "m:2 serving on 3 replicas")
    # the gates' inputs are about m:2 alone: 5 of 100 requests failed, p95 inside the 0.1-0.25 s bucket
    assert h["error_ratio"] == pytest.approx(0.05) and h["p95_ms"] == pytest.approx(242.5)
    assert h["last_error"] is None and h["validation"] == "none"
    lives = site.lives.all()
    old = sorted((r for r in lives if r["model"] == v1), key=lambda r: r["stopped"])
    new = sorted((r for r in lives if r["model"] == v2), key=lambda r: r["started"])
    assert len(old) == 3 and len(new) == 3
    for k, gone in enumerate(old):
        # when the k-th old replica stopped, k+1 new ones had already answered a healthy probe
        assert sum(1 for r in new if r["ready"] is not None and r["ready"] < gone["stopped"]) >= k + 1
    for k in range(1, 3):
        # max_unavailable 1: the next new replica starts only after an old one made way
        assert new[k]["started"] > old[k - 1]["stopped"]
    good = json.loads((site.data / "state" / "known_good.json").read_text())
    assert good == {"chat": [v2, v1]}


def test_an_unhealthy_version_never_replaces_the_old_one_and_the_report_says_why(site: Site) -> None:
    v1 = site.push("1")
    v2 = site.push("2", healthz=500)
    site.want(v1, replicas=2, health=HEALTH)
    site.start_agent()
    wait_until(lambda: on(site, v1), "m:1 serving on 2 replicas")
    site.want(v2, replicas=2, health=HEALTH, max_unavailable=1, keep=[v1])

    def stuck() -> dict[str, Any] | None:
        h = site.health()
        ok = (h and h["model"] == v2 and h["total"] == 1 and h["ready"] == 0
              and h["last_error"] == "GET /healthz returned 500")
        return h if ok else None

    wait_until(stuck, "m:2 reported unhealthy")
    # keep watching for ten more failed probes of m:2 (not a sleep): m:1 serves on both replicas throughout
    seen = site.lives.probes(v2)
    wait_until(lambda: site.lives.probes(v2) >= seen + 10, "ten more probes of m:2")
    assert serving(site, v1, 2) and len(site.lives.alive(v2)) == 1
    w = site.workload()
    assert w is not None and "switching to m:2: 0/2 ready (GET /healthz returned 500)" in (w["error"] or "")
    assert w["replicas"]["healthy"] == 2
    # the server rolls back mid-switch: the replica of m:2 goes at once, the old ones never stopped
    first = {r["pid"] for r in site.lives.alive(v1)}
    site.want(v1, replicas=2, health=HEALTH, keep=[v2])
    wait_until(lambda: on(site, v1), "back on m:1")
    assert {r["pid"] for r in site.lives.alive(v1)} == first


def test_rollback_to_the_kept_version_is_immediate_and_fetches_nothing(site: Site) -> None:
    v1, v2 = site.push("1"), site.push("2")
    site.want(v1, replicas=2, health=HEALTH)
    site.start_agent()
    wait_until(lambda: on(site, v1), "m:1 serving")
    site.want(v2, replicas=2, health=HEALTH, max_unavailable=1, keep=[v1])
    wait_until(lambda: on(site, v2), "m:2 serving")
    v1_folder = site.data / "models" / "m" / "1"
    inode = v1_folder.stat().st_ino
    served = site.relay.metrics.bytes_served._value.get()  # type: ignore[attr-defined]
    site.want(v1, replicas=2, health=HEALTH, max_unavailable=1, keep=[v2])
    wait_until(lambda: on(site, v1), "rolled back to m:1")
    assert site.relay.metrics.bytes_served._value.get() == served  # type: ignore[attr-defined]
    assert v1_folder.stat().st_ino == inode
    # a known-good version switches every replica at once, not max_unavailable at a time
    back = [r for r in site.lives.all() if r["model"] == v1 and r["stopped"] is None]
    gone = [r for r in site.lives.all() if r["model"] == v2]
    assert len(back) == 2 and all(b["started"] < min(g["stopped"] for g in gone) for b in back)


def test_a_kept_version_is_not_pruned_and_serves_a_rollback_two_versions_back(site: Site) -> None:
    v1, v2, v3 = site.push("1"), site.push("2"), site.push("3")
    site.want(v1, replicas=1, health=HEALTH)
    site.start_agent()
    wait_until(lambda: on(site, v1, 1), "m:1 serving")
    inode = (site.data / "models" / "m" / "1").stat().st_ino
    site.want(v2, replicas=1, health=HEALTH, keep=[v1])
    wait_until(lambda: on(site, v2, 1), "m:2 serving")
    # on m:3 the agent's own rule keeps active (m:3) and previous (m:2); m:1 stays only because of `keep`
    site.want(v3, replicas=1, health=HEALTH, keep=[v1])
    wait_until(lambda: on(site, v3, 1), "m:3 serving")
    served = site.relay.metrics.bytes_served._value.get()  # type: ignore[attr-defined]
    site.want(v1, replicas=1, health=HEALTH, keep=[v3])
    wait_until(lambda: on(site, v1, 1), "back on m:1")
    assert (site.data / "models" / "m" / "1").stat().st_ino == inode  # the same folder, not materialized again
    assert site.relay.metrics.bytes_served._value.get() == served  # type: ignore[attr-defined]
