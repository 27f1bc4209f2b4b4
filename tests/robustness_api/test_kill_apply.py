"""SIGKILL of the server mid-apply at seeded random points, on SQLite and PostgreSQL.

`KILLS` per database here (`FLEETYARD_KILLS` to change it); the full campaign of 50 per
database is `benchmarks/fault_bench.py --kills 50` (figures in docs/reliability.md).
What must hold after every restart is in tests/robustness_api/kills.py: nothing
acknowledged is lost, no apply is half there.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from tests.robustness_api import kills
from tests.server.conftest import BACKENDS, ServerProcess

KILLS = int(os.environ.get("FLEETYARD_KILLS", "10"))
SEED = 9


@pytest.mark.parametrize("backend", BACKENDS)
def test_kill_mid_apply_loses_nothing_acknowledged_and_never_half_applies(
        backend: str, new_database: Callable[[str], str | None],
        server_factory: Callable[..., ServerProcess]) -> None:
    db = new_database(backend)
    campaign = kills.run(server_factory(db), db, backend, KILLS, SEED + BACKENDS.index(backend))
    print(campaign.summary())
    assert len(campaign.kills) == KILLS
    assert campaign.lost == [] and campaign.partial == []
    outcomes = {k.outcome for k in campaign.kills}
    assert outcomes <= {"applied", "not applied"}
