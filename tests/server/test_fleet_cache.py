"""The stored fleet is loaded once per change (services/fleet_cache.py), and never served stale."""

from __future__ import annotations

from pathlib import Path

from fleetyard.registry import open_store
from fleetyard.services.apply import FleetService
from fleetyard.services.db import Database, migrate
from fleetyard.services.desired import workload_specs
from fleetyard.services.identity import Principal
from fleetyard.services.planning import PlanSettings
from fleetyard.services.showback import stored_fleet
from fleetyard.services.wire import ApplyRequest, SpecFile
from tests.server.conftest import fleet_files

ADMIN = Principal("tok_a", "admin")


def region(name: str) -> SpecFile:
    text = f"apiVersion: fleetyard/v1\nkind: Region\nmetadata: {{name: {name}}}\n"
    return SpecFile(name=f"{name}.yaml", content=text + "spec: {location: {lat: 1, lon: 2}}\n")


def test_the_same_documents_give_the_same_fleet_and_a_change_reloads_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/fleet.db"
    migrate(Database(url).engine)
    db = Database(url)
    service = FleetService(db, open_store(tmp_path / "registry", create=True), PlanSettings(time_limit=10))
    service.apply(ApplyRequest(files=fleet_files()), ADMIN)
    with db.session() as s:
        first = stored_fleet(s)
    with db.session() as s:
        assert stored_fleet(s) is first  # unchanged documents: loaded once
    service.apply(ApplyRequest(files=[*fleet_files(), region("zz-new")]), ADMIN)
    with db.session() as s:
        second = stored_fleet(s)
    assert second is not first and "zz-new" in second.regions and "zz-new" not in first.regions
    with db.session() as s:
        workloads = workload_specs(s)
        workloads.clear()  # a caller's copy: the cache keeps its own
        assert workload_specs(s) and set(workload_specs(s)) == set(second.workloads)
    service.delete("regions", "zz-new", ADMIN)  # the region deleted again
    with db.session() as s:
        assert "zz-new" not in stored_fleet(s).regions
    service.delete("workloads", sorted(second.workloads)[0], ADMIN)
    with db.session() as s:
        assert sorted(second.workloads)[0] not in workload_specs(s)
    other = Database(f"sqlite:///{tmp_path}/other.db")  # another database is never served this one's fleet
    migrate(other.engine)
    with other.session() as s:
        try:
            fleet = stored_fleet(s)
        except Exception:
            fleet = None
        assert fleet is None or not fleet.sites
