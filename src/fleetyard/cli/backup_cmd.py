"""`fleetyard backup` and `fleetyard restore`: the control plane's database and registry metadata.

    fleetyard backup  [--db URL] [--data DIR] -o FILE     safe while the server runs
    fleetyard restore [--db URL] [--data DIR] FILE        into an empty database and data folder

`--db` and `--data` mean what they mean for `fleetyard server` (and come from
FLEETYARD_DB and FLEETYARD_DATA the same way): the database (default
sqlite:///DATA/fleetyard.db) and the folder whose `registry/` holds the models. The
packs of chunk bytes are not in the file; copy `DATA/registry/packs/` alongside
(docs/operations.md). Exit codes: 0 done; 1 the database or the disk failed; 2 bad
input (a missing or corrupted backup, a target that is not empty, a bad URL).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from fleetyard.cli.common import EXIT_ERROR, EXIT_INVALID, console, fail

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from fleetyard.registry import Store
    from fleetyard.server.settings import Settings
    from fleetyard.services.backup import BackupSummary

__all__ = ["register"]

DbOpt = Annotated[str | None, typer.Option(help="Database URL, as for `server` (default: sqlite:///DATA/fleetyard.db).",
                                          show_default=False)]
DataOpt = Annotated[Path | None, typer.Option(help="The server's data folder (its registry/ holds the models) "
                                              "(default: ~/.local/share/fleetyard/server).", show_default=False)]


def register(app: typer.Typer) -> None:
    app.command("backup")(backup)
    app.command("restore")(restore)


def backup(
    output: Annotated[Path, typer.Option("--output", "-o", help="The backup file to write.", show_default=False)],
    db: DbOpt = None,
    data: DataOpt = None,
) -> None:
    """Write the database (one consistent snapshot) and the registry metadata to one file."""
    from fleetyard.services import backup as use_case

    settings = _settings(db, data)
    summary = _run(lambda engine, store: use_case.backup(engine, store, output), settings, create=False)
    console.print(summary.line("backed up to"), highlight=False, soft_wrap=True)


def restore(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="A file written by `fleetyard backup`.",
                                         show_default=False)],
    db: DbOpt = None,
    data: DataOpt = None,
) -> None:
    """Restore a backup into an empty database and data folder (then start the server on them)."""
    from fleetyard.services import backup as use_case

    settings = _settings(db, data)
    summary = _run(lambda engine, store: use_case.restore(engine, store, file), settings, create=True)
    console.print(summary.line("restored from"), highlight=False, soft_wrap=True)


def _settings(db: str | None, data: Path | None) -> Settings:
    from fleetyard.server.settings import Settings

    given = {k: v for k, v in (("db", db), ("data", data)) if v is not None}
    try:
        return Settings.model_validate(given)
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"--{'-'.join(str(x) for x in first['loc']).replace('_', '-')}: {first['msg']}")


def _run(action: Callable[[Engine, Store], BackupSummary], settings: Settings, *, create: bool) -> BackupSummary:
    """Open the database and the registry, run `action(engine, store)`, map errors to exit codes."""
    from fleetyard.registry import InvalidInputError, NotFoundError, RegistryError, open_store
    from fleetyard.services.backup import BackupError
    from fleetyard.services.db import DatabaseError, DatabaseUrlError, make_engine

    try:
        engine = make_engine(settings.db_url)
    except DatabaseError as exc:
        fail(str(exc), EXIT_INVALID if isinstance(exc, DatabaseUrlError) else EXIT_ERROR)
    try:
        store = open_store(settings.registry_path, create=create)
        return action(engine, store)
    except BackupError as exc:
        fail(exc.message)
    except NotFoundError as exc:
        fail(f"{exc}; give the server's data folder with --data")
    except DatabaseError as exc:
        fail(str(exc), EXIT_INVALID if isinstance(exc, DatabaseUrlError) else EXIT_ERROR)
    except RegistryError as exc:
        fail(str(exc), EXIT_INVALID if isinstance(exc, InvalidInputError) else EXIT_ERROR)
    except KeyboardInterrupt:
        fail("interrupted; nothing was written under the final name", 130)
    finally:
        engine.dispose()
