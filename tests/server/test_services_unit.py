"""Unit tests of the services: no server process (SQLite files where a database is needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from fleetyard.services import tokens
from fleetyard.services.db import Database, ResourceRow, migrate
from fleetyard.services.desired import relay_sources, site_needs
from fleetyard.services.errors import Forbidden, InvalidRequest, NotFound, RangeNotSatisfiable, Unauthorized
from fleetyard.services.identity import Principal
from fleetyard.services.objects import ObjectService, parse_range
from fleetyard.services.planning import plan_changes
from fleetyard.services.resources import declared_keys, kind_of, stored_sources
from fleetyard.services.wire import ModelStatus, SiteReport, TokenCreate
from fleetyard.spec import Site, load_fleet_sources
from fleetyard.spec.plan import Assignment, Bound, Plan, Totals

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_parse_range() -> None:
    assert parse_range(None, 100) is None
    r = parse_range("bytes=0-9", 100)
    assert r is not None and (r.start, r.end, r.length) == (0, 9, 10)
    r = parse_range("bytes=90-", 100)
    assert r is not None and (r.start, r.end) == (90, 99)
    r = parse_range("bytes=-10", 100)
    assert r is not None and (r.start, r.end) == (90, 99)
    r = parse_range("bytes=-500", 100)
    assert r is not None and (r.start, r.end) == (0, 99)
    r = parse_range("bytes=95-200", 100)
    assert r is not None and (r.start, r.end) == (95, 99)
    assert parse_range("bytes=0-1,5-6", 100) is None  # several ranges: the whole object
    assert parse_range("items=0-1", 100) is None
    assert parse_range("bytes=9-3", 100) is None
    for bad in ("bytes=100-", "bytes=150-160", "bytes=-0"):
        with pytest.raises(RangeNotSatisfiable):
            parse_range(bad, 100)
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=0-", 0)


def test_object_keys() -> None:
    assert ObjectService.check_key("packs/ab/ab12.pack") == "packs/ab/ab12.pack"
    assert ObjectService.check_key("versions/org/model/3.json")
    assert ObjectService.check_key("fleetyard-registry.json")
    with pytest.raises(Forbidden):
        ObjectService.check_key("fleetyard-registry.json", write=True)
    for bad in ("../etc/passwd", "packs/../../x", "/packs/x", "packs//x", "packs/a b"):
        with pytest.raises(InvalidRequest):
            ObjectService.check_key(bad)
    with pytest.raises(NotFound):
        ObjectService.check_key("tmp/upload-1")


def _site(name: str, lat: float, lon: float) -> Site:
    return Site.model_validate({
        "apiVersion": "fleetyard/v1", "kind": "Site", "metadata": {"name": name},
        "spec": {"type": "small-dc", "country": "DE", "location": {"lat": lat, "lon": lon},
                 "gpus": [{"sku": "L4", "count": 1}], "power": {"it_capacity_kw": 1},
                 "energy": {"price_per_kwh": 0.1, "carbon_g_per_kwh": 1}}})


def _report(site: str, state: str, peer: str | None = "http://peer") -> SiteReport:
    return SiteReport(site=site, agent_version="t", revision=1, peer_url=peer and f"{peer}/{site}",
                      models=[ModelStatus(ref="m:1", state=state)])  # type: ignore[arg-type]


def test_relay_sources_nearest_fresh_serving_peers_then_center() -> None:
    sites = {s.name: s for s in (_site("fra-1", 50.11, 8.68), _site("par-1", 48.86, 2.35),
                                 _site("ams-1", 52.37, 4.90), _site("sin-1", 1.35, 103.82),
                                 _site("waw-1", 52.23, 21.01), _site("lon-1", 51.5, -0.13))}
    fresh, old = NOW - timedelta(seconds=4), NOW - timedelta(seconds=16)
    reports = {
        "sin-1": (fresh, _report("sin-1", "active")),
        "par-1": (fresh, _report("par-1", "synced")),
        "ams-1": (old, _report("ams-1", "synced")),  # stale: 16 s > 3 x 5 s
        "waw-1": (fresh, _report("waw-1", "syncing")),  # does not hold it yet
        "lon-1": (fresh, _report("lon-1", "active", peer=None)),  # does not relay
        "fra-1": (fresh, _report("fra-1", "active")),  # itself
        "ghost-1": (fresh, _report("ghost-1", "synced")),  # not in the fleet: no location, last of the peers
    }
    out = relay_sources("fra-1", "m:1", sites, reports, "http://center", now=NOW, interval=5.0)
    assert [(s.kind, s.site) for s in out] == [("peer", "par-1"), ("peer", "sin-1"), ("peer", "ghost-1"),
                                               ("center", None)]
    assert out[0].latency_ms == 9.2 and out[2].latency_ms is None and out[3].url == "http://center"
    assert out[0].url == "http://peer/par-1"
    assert relay_sources("fra-1", "m:2", sites, reports, "http://c", now=NOW, interval=5.0)[0].kind == "center"


def _plan(*rows: tuple[str, str, str, int], cost: float = 1.0) -> Plan:
    return Plan(assignments=[Assignment(workload=w, site=s, gpu_sku=k, replicas=n) for w, s, k, n in rows],
                routes=[], unplaced=[], sites=[],
                totals=Totals(cost_per_hour=cost, power_kw=0, carbon_kg_per_hour=0),
                bound=Bound(cost_per_hour_lower_bound=0, gap=0))


def test_plan_changes() -> None:
    before = _plan(("a", "fra-1", "L4", 2), ("b", "par-1", "L4", 1))
    after = _plan(("a", "fra-1", "L4", 3), ("a", "ams-1", "L4", 1), ("b", "par-1", "L4", 1))
    assert [(c.workload, c.site, c.before, c.after) for c in plan_changes(before, after)] == [
        ("a", "ams-1", 0, 1), ("a", "fra-1", 2, 3)]
    assert [(c.site, c.before, c.after) for c in plan_changes(None, before)] == [("fra-1", 0, 2), ("par-1", 0, 1)]


@pytest.fixture
def db(tmp_path: Path) -> Database:
    d = Database(f"sqlite:///{tmp_path}/unit.db")
    migrate(d.engine)
    return d


def test_tokens_hash_expire_and_revoke(db: Database) -> None:
    admin = Principal("tok_root", "admin")
    with db.session() as s:
        assert tokens.ensure_first_admin(s, admin) is not None
        assert tokens.ensure_first_admin(s, admin) is None
        agent = tokens.create_token(s, TokenCreate(role="agent", site="fra-1"), admin, now=NOW)
        brief = tokens.create_token(s, TokenCreate(role="viewer", ttl_hours=1), admin, now=NOW)
        s.commit()
        stored = {r for (r,) in s.execute(text("SELECT token_hash FROM tokens"))}
    assert agent.token.startswith("fy_") and len(agent.token) >= 46
    assert tokens.hash_token(agent.token) in stored and agent.token not in stored
    with db.session() as s:
        p = tokens.authenticate(s, f"Bearer {agent.token}", now=NOW)
        assert (p.role, p.site, p.actor) == ("agent", "fra-1", f"{agent.id} (agent fra-1)")
        assert tokens.authenticate(s, f"bearer {brief.token}", now=NOW + timedelta(minutes=59)).role == "viewer"
        for header, words in ((None, "missing"), ("Basic x", "malformed"), ("Bearer fy_nope", "unknown"),
                              (f"Bearer {brief.token}", "expired")):
            with pytest.raises(Unauthorized, match=words):
                tokens.authenticate(s, header, now=NOW + timedelta(hours=2))
        tokens.revoke_token(s, agent.id, admin)
        s.commit()
        with pytest.raises(Unauthorized, match="revoked"):
            tokens.authenticate(s, f"Bearer {agent.token}")
        with pytest.raises(NotFound):
            tokens.revoke_token(s, agent.id, admin)
        with pytest.raises(InvalidRequest, match="needs --site"):
            tokens.create_token(s, TokenCreate(role="agent"), admin)
        with pytest.raises(InvalidRequest, match="only for agent"):
            tokens.create_token(s, TokenCreate(role="viewer", site="fra-1"), admin)


def test_roles() -> None:
    agent = Principal("t", "agent", "fra-1")
    agent.require_site_reader("fra-1")
    agent.require_site_writer("fra-1")
    agent.require_object_reader()
    for check in (agent.require_reader, agent.require_writer, agent.require_admin,
                  lambda: agent.require_site_reader("par-1"), lambda: agent.require_site_writer("par-1")):
        with pytest.raises(Forbidden):
            check()
    viewer = Principal("v", "viewer")
    viewer.require_reader()
    viewer.require_site_reader("any")
    with pytest.raises(Forbidden, match="operator or admin"):
        viewer.require_writer()
    with pytest.raises(Forbidden):
        viewer.require_site_writer("fra-1")
    Principal("a", "admin").require_site_writer("fra-1")


WORKLOAD = """apiVersion: fleetyard/v1
kind: Workload
metadata: {name: w}
spec: {type: batch, model: m@prod, replica: {gpus: 2}, replicas: {min: 3}, command: [run], env: {A: b}}
"""


def test_site_needs_sums_skus_and_keeps_requested(db: Database) -> None:
    doc = load_fleet_sources([("w.yaml", WORKLOAD), ("s.yaml", SITE)]).fleet.origins[("Workload", "w")].document.data
    with db.session() as s:
        s.add(ResourceRow(kind="Workload", name="w", document=doc, source="w.yaml", created_at=NOW, updated_at=NOW))
        s.commit()
        plan = _plan(("w", "fra-1", "L4", 1), ("w", "fra-1", "L40S", 2))
        needs = site_needs(s, plan, {"m@prod": "m:7"})
    w = needs["fra-1"].workloads[0]
    assert (w.replicas, w.gpu_sku, w.model, w.gpus_per_replica, w.command, w.env) == (
        3, "L40S", "m:7", 2, ["run"], {"A": "b"})
    assert needs["fra-1"].requested == {"m:7": "m@prod"}


SITE = """apiVersion: fleetyard/v1
kind: Site
metadata: {name: fra-1}
spec: {type: small-dc, country: DE, location: {lat: 50, lon: 8}, gpus: [{sku: L4, count: 4}],
       power: {it_capacity_kw: 5}, energy: {price_per_kwh: 0.1, carbon_g_per_kwh: 1}}
"""


def test_resource_helpers() -> None:
    assert kind_of("sites") == kind_of("site") == kind_of("Site") == "Site"
    with pytest.raises(NotFound):
        kind_of("gadgets")
    assert declared_keys([("a.yaml", SITE + "---\n" + WORKLOAD + "---\n[not, a, resource]\n")]) == {
        ("Site", "fra-1"), ("Workload", "w")}
    row = ResourceRow(kind="Site", name="fra-1", document={"kind": "Site"}, source="fleet/s.yaml")
    assert stored_sources([row]) == [("stored:fleet/s.yaml", "kind: Site\n")]
    assert stored_sources([row], skip={("Site", "fra-1")}) == []


def test_two_servers_applying_at_once_both_land_in_order(tmp_path: Path) -> None:
    """Two FleetService instances (two server processes) on one database, both reading the
    fleet before either writes: the conditional revision bump makes the loser re-read and
    re-plan, so neither change is lost and revisions stay consecutive."""
    import threading

    from fleetyard.registry import open_store
    from fleetyard.services.apply import FleetService, _Snapshot
    from fleetyard.services.planning import PlanSettings
    from fleetyard.services.wire import ApplyRequest, SpecFile
    from tests.server.conftest import fleet_files

    barrier = threading.Barrier(2, timeout=30)
    snapshots: list[int] = []

    class Racing(FleetService):
        def _snapshot(self) -> _Snapshot:
            snap = super()._snapshot()
            snapshots.append(snap.revision)
            if len(snapshots) <= 2:
                barrier.wait()  # both have read revision 1 before either writes
            return snap

    url = f"sqlite:///{tmp_path}/shared.db"
    migrate(Database(url).engine)
    store = open_store(tmp_path / "registry", create=True)
    settings = PlanSettings(time_limit=10, resilience=False)
    admin = Principal("tok_a", "admin")
    FleetService(Database(url), store, settings).apply(ApplyRequest(files=fleet_files()), admin)
    services = [Racing(Database(url), store, settings) for _ in range(2)]

    def region(name: str) -> SpecFile:
        text = f"apiVersion: fleetyard/v1\nkind: Region\nmetadata: {{name: {name}}}\n"
        return SpecFile(name=f"{name}.yaml", content=text + "spec: {location: {lat: 1, lon: 2}}\n")

    results: list[int] = []
    errors: list[BaseException] = []

    def run(k: int) -> None:
        try:
            results.append(services[k].apply(ApplyRequest(files=[region(f"r{k}")]), admin).revision)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert snapshots == [1, 1, 2]  # the loser read again
    assert sorted(results) == [2, 3]
    with services[0].db.session() as s:
        names = {r.name for r in s.query(ResourceRow).filter(ResourceRow.kind == "Region")}
    assert {"r0", "r1"} <= names
