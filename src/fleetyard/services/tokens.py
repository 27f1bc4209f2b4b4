"""Bearer tokens: created with a role (agents: a site), stored as SHA-256, shown once.

A secret is `fy_` + 43 URL-safe characters (32 random bytes). Only its SHA-256 is
kept, so a leaked database gives no usable token; lookups are by hash. A token
is refused (401) when unknown, past `expires_at`, or revoked.

No lockout: at least one active admin token that never expires always remains, so a
revoke that would leave none is refused (409, saying why and what to do first), and
an admin token with a ttl is only ever an extra one: it cannot expire into a lockout.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session

from fleetyard.services import audit
from fleetyard.services.db import TokenRow
from fleetyard.services.errors import Conflict, InvalidRequest, NotFound, Unauthorized
from fleetyard.services.identity import Principal
from fleetyard.services.wire import Role, TokenCreate, TokenCreated, TokenOut

__all__ = ["authenticate", "create_token", "ensure_first_admin", "hash_token", "list_tokens", "revoke_token"]

PREFIX = "fy_"
SITE_NAME_MAX = 63


def hash_token(secret: str) -> str:
    """The stored form of a secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _out(row: TokenRow) -> TokenOut:
    role: Role = row.role  # type: ignore[assignment]
    return TokenOut(id=row.id, role=role, site=row.site, created_at=row.created_at, expires_at=row.expires_at,
                    description=row.description)


def create_token(session: Session, request: TokenCreate, actor: Principal, *,
                 now: datetime | None = None) -> TokenCreated:
    """Add a token (the caller commits); the answer holds the secret, never stored."""
    if request.role == "agent" and not request.site:
        raise InvalidRequest("an agent token needs --site: the site whose agent uses it")
    if request.role != "agent" and request.site:
        raise InvalidRequest(f"--site is only for agent tokens; role {request.role} covers every site")
    if request.site and len(request.site) > SITE_NAME_MAX:
        raise InvalidRequest(f"site name is longer than {SITE_NAME_MAX} characters")
    if request.ttl_hours is not None and request.ttl_hours <= 0:
        raise InvalidRequest(f"ttl_hours must be > 0, got {request.ttl_hours:g}")
    at = now or datetime.now(UTC)
    secret = PREFIX + secrets.token_urlsafe(32)
    row = TokenRow(
        id="tok_" + secrets.token_hex(4), token_hash=hash_token(secret), role=request.role, site=request.site,
        description=request.description[:200], created_by=actor.actor, created_at=at,
        expires_at=at + timedelta(hours=request.ttl_hours) if request.ttl_hours else None, revoked_at=None,
    )
    session.add(row)
    out = _out(row)
    audit.record(session, actor, "token.create", f"token/{row.id}", after=out.model_dump(mode="json"), at=at)
    return TokenCreated(**out.model_dump(), token=secret)


def list_tokens(session: Session, *, include_revoked: bool = False) -> list[TokenOut]:
    q = select(TokenRow).order_by(TokenRow.created_at, TokenRow.id)
    if not include_revoked:
        q = q.where(TokenRow.revoked_at.is_(None))
    return [_out(r) for r in session.scalars(q)]


def revoke_token(session: Session, token_id: str, actor: Principal, *, now: datetime | None = None) -> None:
    """Revoke a token (the caller commits); 404 if unknown or already revoked, 409 if it
    would leave no active admin token without expiry."""
    row = session.get(TokenRow, token_id)
    if row is None or row.revoked_at is not None:
        raise NotFound(f"no active token {token_id!r}")
    at = now or datetime.now(UTC)
    if row.role == "admin":
        _keep_an_admin(session, row, at)
    before = _out(row).model_dump(mode="json")
    row.revoked_at = at
    audit.record(session, actor, "token.revoke", f"token/{token_id}", before=before, after=None, at=at)


def _keep_an_admin(session: Session, row: TokenRow, at: datetime) -> None:
    """Conflict unless another active admin token that never expires remains. The admin
    rows are locked (PostgreSQL) so two revokes at once cannot both pass; SQLite has one
    writer at a time and refuses a write on a stale snapshot."""
    q = (select(TokenRow.id, TokenRow.expires_at)
         .where(TokenRow.role == "admin", TokenRow.revoked_at.is_(None)).with_for_update())
    admins = session.execute(q).all()
    if any(tid != row.id and expires is None for tid, expires in admins):
        return
    others = sum(1 for tid, expires in admins if tid != row.id and expires is not None and expires > at)
    also = (f"; the other {others} active admin token{'s' if others != 1 else ''} expire, so they do not count"
            if others else "")
    raise Conflict(f"token {row.id} is the last active admin token without expiry: revoking it would lock "
                   f"every admin out{also}. Create another admin token first "
                   "(fleetyard token create --role admin), then revoke this one")


def authenticate(session: Session, authorization: str | None, *, now: datetime | None = None) -> Principal:
    """The caller of an `Authorization: Bearer <secret>` header, or Unauthorized."""
    if not authorization:
        raise Unauthorized("missing bearer token: send Authorization: Bearer <token>")
    scheme, _, secret = authorization.partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise Unauthorized("malformed Authorization header: expected 'Bearer <token>'")
    row = session.connection().execute(_lookup(), {"h": hash_token(secret)}).first()
    if row is None:
        raise Unauthorized("unknown token")
    token_id, role, site, expires_at, revoked_at = row
    at = now or datetime.now(UTC)
    if revoked_at is not None:
        raise Unauthorized(f"token {token_id} was revoked")
    if expires_at is not None and expires_at <= at:
        raise Unauthorized(f"token {token_id} expired")
    return Principal(token_id, cast(Role, role), site)


@functools.cache
def _lookup() -> Select[str, str, str | None, datetime | None, datetime | None]:
    """The token lookup of every request, built once (a Core select: no ORM objects)."""
    t = TokenRow
    q = select(t.id, t.role, t.site, t.expires_at, t.revoked_at)
    return q.where(t.token_hash == bindparam("h"))


def ensure_first_admin(session: Session, actor: Principal) -> TokenCreated | None:
    """On a database without any token, create the first admin token (the caller commits)."""
    if session.scalar(select(func.count()).select_from(TokenRow)):
        return None
    return create_token(session, TokenCreate(role="admin", description="first admin token"), actor)
