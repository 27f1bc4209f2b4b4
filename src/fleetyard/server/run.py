"""Start a server: migrate the database, make the first admin token, serve with uvicorn."""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import update

from fleetyard.server.settings import Settings
from fleetyard.services import tokens
from fleetyard.services.db import Database, FleetStateRow, migrate, safe_url
from fleetyard.services.identity import Principal
from fleetyard.services.secret_box import SecretKeyError, load_or_create_key
from fleetyard.services.secrets import stored_key_ids
from fleetyard.services.wire import TokenCreated

__all__ = ["Bootstrap", "bootstrap", "serve", "write_secret"]

SERVER = Principal("server", "admin")


@dataclass(frozen=True)
class Bootstrap:
    before: str | None
    after: str
    admin: TokenCreated | None
    secrets_key_made: bool = False


def bootstrap(settings: Settings) -> Bootstrap:
    """Upgrade the database to this package's schema; on a database without tokens,
    create the first admin token (under the fleet lock, so two servers make one). Read (or
    at the first start make) the secrets key, and refuse one that does not open the stored
    Secrets (SecretKeyError): a second server started without the first one's key."""
    box, made = load_or_create_key(settings.secrets_key_path, create=settings.secrets_key_file is None)
    db = Database(settings.db_url)
    try:
        before, after = migrate(db.engine)
        with db.session() as s:
            s.execute(update(FleetStateRow).where(FleetStateRow.id == 1)
                      .values(updated_at=FleetStateRow.updated_at))
            admin = tokens.ensure_first_admin(s, SERVER)
            s.commit()
            others = stored_key_ids(s) - {box.key_id}
    finally:
        db.dispose()
    if others:
        raise SecretKeyError(f"secrets key {settings.secrets_key_path} (key {box.key_id}) does not open the "
                             f"stored Secrets, sealed with key {', '.join(sorted(others))}: give every server "
                             "the same --secrets-key FILE (docs/secrets.md)")
    return Bootstrap(before, after, admin, made)


def write_secret(path: Path, secret: str) -> None:
    """Write a token to a file only its owner can read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")


def _check_listen(host: str, port: int) -> None:
    """Fail before touching the database if the address cannot be bound (OSError)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None


def serve(settings: Settings) -> None:
    """Bootstrap, then serve until interrupted (SIGINT/SIGTERM stop gracefully)."""
    import uvicorn

    from fleetyard.server.app import create_app
    from fleetyard.server.tls import uvicorn_tls_options

    _check_listen(settings.host, settings.port)
    tls = uvicorn_tls_options(settings)  # a wrong certificate file fails before the database is touched
    boot = bootstrap(settings)
    where = safe_url(settings.db_url)
    migrated = f"migrated from {boot.before or 'empty'}" if boot.before != boot.after else "up to date"
    print(f"fleetyard server: database {where} at schema {boot.after} ({migrated}); "
          f"registry {settings.registry_path}", file=sys.stderr, flush=True)
    if boot.secrets_key_made:
        print(f"fleetyard server: made the secrets key {settings.secrets_key_path} (mode 0600); back it up apart "
              "from the database: without it no stored Secret opens", file=sys.stderr, flush=True)
    if boot.admin is not None:
        print(f"first admin token (shown once, store it now): {boot.admin.token}", file=sys.stderr, flush=True)
        if settings.admin_token_file is not None:
            write_secret(settings.admin_token_file, boot.admin.token)
            print(f"first admin token written to {settings.admin_token_file}", file=sys.stderr, flush=True)
    app = create_app(settings)
    mtls = ""
    if settings.client_ca is not None:
        mtls = (f"; client certificates from {settings.client_ca} "
                f"{'required' if settings.require_client_cert else 'requested'}")
    print(f"fleetyard server: listening on {'https' if settings.tls else 'http'}://{settings.listen} "
          f"(OpenAPI at /docs){mtls}", file=sys.stderr, flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level, access_log=False,
                timeout_graceful_shutdown=10, **tls)
