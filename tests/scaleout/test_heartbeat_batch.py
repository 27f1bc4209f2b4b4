"""Heartbeats in batches (server/heartbeats.py): one commit for many, each caller its own answer."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from fleetyard.server.heartbeats import HeartbeatWriter, Pending
from fleetyard.services.db import Database
from fleetyard.services.errors import InvalidRequest, Unauthorized
from fleetyard.services.wire import SiteReport
from tests.server.conftest import ServerProcess


def _db(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'beats.db'}")
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE beats (site TEXT PRIMARY KEY)"))
    return db


def _run(writer: HeartbeatWriter, sites: list[str]) -> list[BaseException | None]:
    async def main() -> list[BaseException | None]:
        results = await asyncio.gather(*(writer.submit(None, s, b"{}") for s in sites), return_exceptions=True)
        return [r if isinstance(r, BaseException) else None for r in results]

    try:
        return asyncio.run(main())
    finally:
        writer.close()


def test_a_batch_commits_once_and_a_callers_error_answers_only_that_caller(tmp_path: Path) -> None:
    db = _db(tmp_path)
    gate = threading.Event()
    sessions: set[int] = set()

    def store(session: Session, p: Pending) -> None:
        if p.site == "first":
            gate.wait(timeout=60)  # hold the first batch until every other report is queued behind it
        sessions.add(id(session))
        if p.site.startswith("bad"):
            raise Unauthorized("unknown token")
        if p.site.startswith("wrong"):
            raise InvalidRequest("report is for another site")
        session.execute(text("INSERT INTO beats VALUES (:s)"), {"s": p.site})

    writer = HeartbeatWriter(db, store, max_batch=64, writers=1)
    sites = ["first"] + [f"{kind}-{i}" for i in range(10) for kind in ("ok", "bad", "wrong")]
    threading.Timer(0.5, gate.set).start()
    results = _run(writer, sites)
    by_site = dict(zip(sites, results, strict=True))
    assert all(by_site[s] is None for s in sites if s.startswith(("ok", "first")))
    assert all(isinstance(by_site[s], Unauthorized) for s in sites if s.startswith("bad"))
    assert all(isinstance(by_site[s], InvalidRequest) for s in sites if s.startswith("wrong"))
    with db.engine.connect() as conn:
        stored = {r[0] for r in conn.execute(text("SELECT site FROM beats"))}
    assert stored == {s for s in sites if s.startswith(("ok", "first"))}
    # the first report alone or with some queued already; the rest, queued behind it, in one more
    assert writer.batches in (1, 2) and len(sessions) == writer.batches
    db.dispose()


def test_a_failing_batch_is_written_again_one_by_one(tmp_path: Path) -> None:
    db = _db(tmp_path)
    gate = threading.Event()

    def store(session: Session, p: Pending) -> None:
        if p.site == "first":
            gate.wait(timeout=60)
        session.execute(text("INSERT INTO beats VALUES (:s)"), {"s": p.site.split("#")[0]})  # dup: IntegrityError

    writer = HeartbeatWriter(db, store, max_batch=64, writers=1)
    sites = ["first", "a", "b", "a#again", "c"]
    threading.Timer(0.5, gate.set).start()
    results = _run(writer, sites)
    assert [r is None for r in results] == [True, True, True, False, True]
    with db.engine.connect() as conn:
        assert {r[0] for r in conn.execute(text("SELECT site FROM beats"))} == {"first", "a", "b", "c"}
    db.dispose()


@pytest.mark.parametrize("batch", ["1", "64"])
def test_a_real_server_answers_each_heartbeat_of_a_burst(batch: str, server_factory: object) -> None:
    server: ServerProcess = server_factory(FLEETYARD_HEARTBEAT_BATCH=batch)  # type: ignore[operator]
    from tests.server.conftest import fleet_files

    with server.client() as api:
        api.apply(fleet_files())
        sites = [s.site for s in api.status().sites]
        tokens = {s: api.create_token("agent", site=s).token for s in sites}
    body = {s: SiteReport(site=s, agent_version="t", revision=1).model_dump_json() for s in sites}

    def put(site: str, token: str) -> int:
        r = httpx.put(f"{server.url}/api/v1/sites/{site}/status", content=body[site],
                      headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}, timeout=60)
        return r.status_code

    calls = [(s, tokens[s], 204) for s in sites] * 5 + [(sites[0], "nope", 401), (sites[0], tokens[sites[1]], 403)]
    out: list[tuple[int, int]] = []
    threads = [threading.Thread(target=lambda c=c: out.append((put(c[0], c[1]), c[2]))) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(out) == sorted((want, want) for _s, _t, want in calls)
    with server.client() as api:
        assert all(s.last_heartbeat is not None for s in api.status().sites)
