"""Dashboard sessions (issue 12): logging in with a token makes one, the token's fate ends it.

    cookie  = a random secret (32 bytes, URL-safe), sent as `fleetyard_session`
    row id  = SHA-256 of the cookie (a leaked database gives no usable cookie)
    expires = min(the token's expiry, created + 12 h)

Every request re-reads the session and its token: a revoked or expired token, or a
session past its expiry, is no session (and its row is deleted). Logging out deletes
the row. `csrf` is the session's anti-forgery token, sent back by the page on writes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import delete
from sqlalchemy.orm import Session

from fleetyard.services import tokens
from fleetyard.services.db import TokenRow
from fleetyard.services.db.tables import WebSessionRow
from fleetyard.services.errors import Unauthorized
from fleetyard.services.identity import READERS, Principal
from fleetyard.services.wire import Role

__all__ = ["MAX_AGE", "WebSession", "csrf_matches", "end_session", "resolve_session", "start_session"]

MAX_AGE = timedelta(hours=12)


@dataclass(frozen=True)
class WebSession:
    """A live session: who (the token's principal), its csrf token, and until when."""

    principal: Principal
    csrf: str
    expires_at: datetime


def _id(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def start_session(session: Session, secret: str, *, now: datetime | None = None) -> tuple[str, WebSession]:
    """Log in with a token secret: (the cookie value, the session), or Unauthorized saying why
    (unknown, revoked or expired token, or an agent token: the dashboard is for people).
    The caller commits."""
    at = now or datetime.now(UTC)
    principal = tokens.authenticate(session, f"Bearer {secret.strip()}", now=at)
    if principal.role not in READERS:
        raise Unauthorized(f"token {principal.token_id} has role {principal.role}; the dashboard needs a "
                           "viewer, operator or admin token")
    row = session.get(TokenRow, principal.token_id)
    assert row is not None
    expires = at + MAX_AGE
    if row.expires_at is not None:
        expires = min(expires, _utc(row.expires_at))
    cookie = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    session.add(WebSessionRow(id=_id(cookie), token_id=principal.token_id, csrf=csrf, created_at=at,
                              expires_at=expires))
    return cookie, WebSession(principal, csrf, expires)


def resolve_session(session: Session, cookie: str | None, *, now: datetime | None = None) -> WebSession | None:
    """The live session of a cookie, or None: no such session, past its expiry, or its token
    revoked or expired since (then the row is deleted; the caller commits)."""
    if not cookie:
        return None
    at = now or datetime.now(UTC)
    row = session.get(WebSessionRow, _id(cookie))
    if row is None:
        return None
    token = session.get(TokenRow, row.token_id)
    dead = (_utc(row.expires_at) <= at or token is None or token.revoked_at is not None
            or (token.expires_at is not None and _utc(token.expires_at) <= at))
    if dead or token is None:
        session.delete(row)
        return None
    return WebSession(Principal(token.id, cast(Role, token.role), token.site), row.csrf, _utc(row.expires_at))


def end_session(session: Session, cookie: str | None) -> None:
    """Log out: delete the session's row (the caller commits)."""
    if cookie:
        session.execute(delete(WebSessionRow).where(WebSessionRow.id == _id(cookie)))


def csrf_matches(expected: str, sent: str | None) -> bool:
    """Constant-time comparison of the session's csrf token with the one a request sent."""
    return bool(sent) and hmac.compare_digest(expected.encode(), (sent or "").encode())
