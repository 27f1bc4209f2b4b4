"""A flapping agent (stopped and started again and again) moves work out at most once and back at most once."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.failover.helpers import GRACE, HOLD_OFF, by_site, chat_sites, failover_fleet, runs_chat

pytestmark = pytest.mark.timeout(400)
FLAPS = 4


def test_a_flapping_site_does_not_flap_the_fleet(tmp_path: Path) -> None:
    with failover_fleet(tmp_path) as (fleet, _receiver):
        st = fleet.wait_for(lambda st: bool(chat_sites(st)) and all(
            runs_chat(by_site(st)[s], n) for s, n in chat_sites(st).items()), "chat running", timeout=120)
        victim = max(chat_sites(st), key=lambda s: chat_sites(st)[s])
        for _ in range(FLAPS):
            fleet.kill_agent(victim, signal.SIGKILL)
            # silent long enough to be a miss (stale: no heartbeat for 3 intervals), the first time past the grace
            fleet.wait_for(lambda st: not by_site(st)[victim].available and by_site(st)[victim].stale,
                           f"{victim} unavailable and silent", timeout=120)
            fleet.restart_agent(victim)
            fleet.wait_for(lambda st: not by_site(st)[victim].stale, f"{victim} heartbeating", timeout=120)
            time.sleep(min(GRACE, HOLD_OFF / 4))  # up for a while, less than the hold-off (a flap, not a return)
        fleet.wait_for(lambda st: by_site(st)[victim].available, f"{victim} available again", timeout=240)
        kinds = [e.kind for e in fleet.client.events(limit=1000, subject=victim)]
        assert kinds.count("site.down") == 1 and kinds.count("site.up") == 1, kinds
        assert kinds.count("site.returning") >= FLAPS  # every return seen, none moved work
        replans = [e for e in fleet.client.events(limit=1000, kind="plan.replanned")]
        assert len(replans) == 2, [e.message for e in replans]
