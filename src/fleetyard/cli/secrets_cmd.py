"""`fleetyard secrets rotate-key`: reseal every stored Secret value under a new master key.

    fleetyard secrets rotate-key --new-key FILE [--key FILE] [--db URL] [--data DIR]

Run it with the servers stopped (or before they are restarted with the new key): it reads
the old key (`--key`, else DATA/secrets.key), makes the new key file when it does not
exist (mode 0600), opens every value with the old key and seals it with the new one in one
transaction - a value that does not open stops it with nothing written. Then start every
server with `--secrets-key` the new file; docs/secrets.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fleetyard.cli.backup_cmd import DataOpt, DbOpt
from fleetyard.cli.common import EXIT_ERROR, EXIT_INVALID, console, fail

__all__ = ["register"]

secrets_app = typer.Typer(help="Secrets for workloads: the master key (docs/secrets.md).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(secrets_app, name="secrets")


@secrets_app.command("rotate-key")
def rotate_key(
    new_key: Annotated[Path, typer.Option("--new-key", help="The new key file (made, mode 0600, if absent).",
                                          show_default=False)],
    key: Annotated[Path | None, typer.Option("--key", help="The current key (default: DATA/secrets.key).",
                                             show_default=False)] = None,
    db: DbOpt = None,
    data: DataOpt = None,
) -> None:
    """Reseal every stored Secret value under a new master key, in one transaction."""
    from fleetyard.server.settings import Settings
    from fleetyard.services.db import Database, DatabaseError, DatabaseUrlError
    from fleetyard.services.secret_box import SecretKeyError, SecretUnreadable, load_or_create_key
    from fleetyard.services.secrets import rotate_key as rotate

    given = {"db": db, "data": data, "secrets_key_file": key}
    settings = Settings.model_validate({k: v for k, v in given.items() if v is not None})
    try:
        old, _ = load_or_create_key(settings.secrets_key_path, create=False)
        new, made = load_or_create_key(new_key.expanduser().absolute(), create=True)
    except SecretKeyError as exc:
        fail(str(exc), EXIT_INVALID)
    if new.key_id == old.key_id:
        fail(f"--new-key {new_key} holds the current key {old.key_id}; give a new key file", EXIT_INVALID)
    try:
        database = Database(settings.db_url)
        try:
            with database.session() as s:
                secrets, values = rotate(s, old, new)
                s.commit()
        finally:
            database.dispose()
    except SecretUnreadable as exc:
        fail(f"{exc}; nothing was changed", EXIT_ERROR)
    except DatabaseError as exc:
        fail(str(exc), EXIT_INVALID if isinstance(exc, DatabaseUrlError) else EXIT_ERROR)
    console.print(f"resealed {values} value(s) of {secrets} Secret(s) from key {old.key_id} to key {new.key_id}"
                  f"{' (made ' + str(new_key) + ')' if made else ''}; start the servers with --secrets-key {new_key}",
                  highlight=False, soft_wrap=True)
