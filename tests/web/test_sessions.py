"""Dashboard sessions (services/web_sessions.py) on a real SQLite database."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from fleetyard.services import tokens
from fleetyard.services.db import Database, migrate
from fleetyard.services.db.tables import WebSessionRow
from fleetyard.services.errors import Unauthorized
from fleetyard.services.identity import LOCAL_ADMIN
from fleetyard.services.web_sessions import MAX_AGE, csrf_matches, end_session, resolve_session, start_session
from fleetyard.services.wire import TokenCreate

NOW = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Database:
    d = Database(f"sqlite:///{tmp_path}/web.db")
    migrate(d.engine)
    return d


def _token(db: Database, role: str, ttl_hours: float | None = None, site: str | None = None) -> tuple[str, str]:
    with db.session() as s:
        made = tokens.create_token(s, TokenCreate(role=role, ttl_hours=ttl_hours, site=site),  # type: ignore[arg-type]
                                   LOCAL_ADMIN, now=NOW)
        s.commit()
    return made.id, made.token


def _count(db: Database) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(WebSessionRow)) or 0)


def test_login_stores_only_a_hash_and_lasts_at_most_12_hours(db: Database) -> None:
    token_id, secret = _token(db, "viewer")
    with db.session() as s:
        cookie, made = start_session(s, secret, now=NOW)
        s.commit()
    with db.session() as s:
        row = s.scalars(select(WebSessionRow)).one()
        assert row.id == hashlib.sha256(cookie.encode()).hexdigest() and cookie not in (row.id, row.csrf)
        assert row.token_id == token_id
    assert made.expires_at == NOW + MAX_AGE and made.principal.role == "viewer"
    with db.session() as s:
        found = resolve_session(s, cookie, now=NOW + timedelta(hours=11))
        assert found is not None and found.csrf == made.csrf and found.principal.token_id == token_id
        assert resolve_session(s, cookie + "x", now=NOW) is None
        assert resolve_session(s, None, now=NOW) is None
    with db.session() as s:
        assert resolve_session(s, cookie, now=NOW + MAX_AGE) is None
        s.commit()
    assert _count(db) == 0  # the dead session's row is gone


def test_a_session_ends_with_its_token_expiry(db: Database) -> None:
    _id, secret = _token(db, "operator", ttl_hours=2)
    with db.session() as s:
        cookie, made = start_session(s, secret, now=NOW)
        s.commit()
    assert made.expires_at == NOW + timedelta(hours=2)
    with db.session() as s:
        assert resolve_session(s, cookie, now=NOW + timedelta(hours=1, minutes=59)) is not None
        assert resolve_session(s, cookie, now=NOW + timedelta(hours=2)) is None


def test_revoking_the_token_ends_the_session(db: Database) -> None:
    _token(db, "admin")  # the one that must remain
    token_id, secret = _token(db, "admin")
    with db.session() as s:
        cookie, _made = start_session(s, secret, now=NOW)
        s.commit()
    with db.session() as s:
        tokens.revoke_token(s, token_id, LOCAL_ADMIN, now=NOW + timedelta(minutes=1))
        s.commit()
    with db.session() as s:
        assert resolve_session(s, cookie, now=NOW + timedelta(minutes=2)) is None
        s.commit()
    assert _count(db) == 0


def test_wrong_expired_and_agent_tokens_make_no_session(db: Database) -> None:
    _id, expiring = _token(db, "viewer", ttl_hours=1)
    _id, agent = _token(db, "agent", site="fra-1")
    cases = {"fy_unknown": "unknown token", expiring: "expired", agent: "has role agent"}
    for secret, why in cases.items():
        with db.session() as s, pytest.raises(Unauthorized, match=why):
            start_session(s, secret, now=NOW + timedelta(hours=1))
    assert _count(db) == 0


def test_logout_deletes_the_row_and_csrf_compares_exactly(db: Database) -> None:
    _id, secret = _token(db, "viewer")
    with db.session() as s:
        cookie, made = start_session(s, secret, now=NOW)
        s.commit()
    with db.session() as s:
        end_session(s, cookie)
        s.commit()
    assert _count(db) == 0
    assert csrf_matches(made.csrf, made.csrf)
    assert not csrf_matches(made.csrf, made.csrf[:-1]) and not csrf_matches(made.csrf, None)
    assert not csrf_matches(made.csrf, "")
