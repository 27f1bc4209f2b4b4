"""Shared plumbing of `fleetyard registry …`: the Typer apps, options, errors and output.

The registry is a folder or an S3 bucket: `--registry PATH|s3://BUCKET[/PREFIX]`,
else the environment variable FLEETYARD_REGISTRY, else the default folder
`$XDG_DATA_HOME/fleetyard/registry` (`~/.local/share/fleetyard/registry`).
S3 endpoints and credentials come from the usual AWS settings (AWS_ENDPOINT_URL,
AWS_ACCESS_KEY_ID, …).

Exit codes (as for every fleetyard command):

* 0 - success
* 1 - unexpected error, storage failure (disk full, S3 unreachable), or the store
      stayed busy (a gc or push) longer than `--wait`
* 2 - invalid input: a bad name, reference, folder, key or password, a version that
      already exists or does not; nothing was changed
* 3 - verification failed: `verify` found problems, `pull` met a corrupted chunk, or
      `pull --public-key` refused an unsigned or wrongly signed version
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from fleetyard.cli.common import Format
from fleetyard.registry import (
    InvalidInputError,
    RegistryError,
    Store,
    VerificationError,
    open_store,
)
from fleetyard.services.http_backend import RemoteAuthError, RemoteTLSError

__all__ = ["Format", "FormatOpt", "JsonOpt", "RegistryOpt", "alias_app", "default_registry", "registry_app"]

registry_app = typer.Typer(
    name="registry",
    help="Content-addressed, deduplicated, signed model registry.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
alias_app = typer.Typer(
    help="Movable pointers to versions (prod, canary, …).", no_args_is_help=True
)
registry_app.add_typer(alias_app, name="alias")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
T = TypeVar("T")

RegistryOpt = Annotated[
    str | None,
    typer.Option(
        "--registry",
        "-r",
        envvar="FLEETYARD_REGISTRY",
        help="Registry folder or s3://BUCKET\\[/PREFIX] (default: ~/.local/share/fleetyard/registry)",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables (same as --format json).")]
FormatOpt = Annotated[Format, typer.Option("--format", "-o", help="Output: table, wide, json or yaml.")]


def default_registry() -> str:
    """The registry used when neither --registry nor FLEETYARD_REGISTRY is given."""
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return os.path.join(data, "fleetyard", "registry")


RegistryServerOpt = Annotated[str | None, typer.Option(
    "--server", envvar="FLEETYARD_SERVER", show_default=False,
    help="Use the control plane's registry over HTTP (default: the context's registry or server).")]
RegistryTokenOpt = Annotated[str | None, typer.Option(
    "--token", envvar="FLEETYARD_TOKEN", show_default=False, help="Bearer token for --server (or --token-file).")]


def open_registry(registry: str | None, *, create: bool = False) -> Store:
    """A folder or S3 store: --registry / FLEETYARD_REGISTRY, else the context's registry, else the default."""
    if not registry:
        from fleetyard.cli.contexts import connection_or_exit

        registry = connection_or_exit().registry
    return open_store(registry or default_registry(), create=create)


def registry_store(registry: str | None, server: str | None, token: str | None, *, create: bool = False) -> Store:
    """Where a registry command reads or writes, in order: --registry (FLEETYARD_REGISTRY),
    --server (FLEETYARD_SERVER, over HTTP), the context's registry, the context's server,
    the default folder (docs/contexts.md)."""
    from fleetyard.cli.contexts import connection_or_exit
    from fleetyard.services.http_backend import open_remote_store

    if registry:
        return open_store(registry, create=create)
    conn = connection_or_exit(server or None, token)
    if server:
        return open_remote_store(conn.server, conn.token or "", tls=conn.tls)
    if conn.registry:
        return open_store(conn.registry, create=create)
    if conn.context is not None and conn.server:
        return open_remote_store(conn.server, conn.token or "", tls=conn.tls)
    return open_store(default_registry(), create=create)


def trusted_key(given: Path | None) -> Path | None:
    """--public-key, else the context's first trusted key (None: no signature required)."""
    if given is not None:
        return given
    from fleetyard.cli.contexts import connection_or_exit

    keys = connection_or_exit().trusted_keys
    return keys[0] if keys else None


def fail(message: str, code: int) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def errors() -> Iterator[None]:
    """Turn registry errors into one-line messages and the documented exit codes."""
    try:
        yield
    except InvalidInputError as exc:
        raise fail(str(exc), 2) from None
    except VerificationError as exc:
        raise fail(str(exc), 3) from None
    except (RemoteAuthError, RemoteTLSError) as exc:  # token, role, site or TLS refused: fix the input
        raise fail(str(exc), 2) from None
    except RegistryError as exc:
        raise fail(str(exc), 1) from None
    except KeyboardInterrupt:
        raise fail(
            "interrupted; the store is unchanged (partial data is removed by gc)", 130
        ) from None
    except OSError as exc:
        raise fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), 1) from None


def human_size(n: float) -> str:
    """The CLI's one size format (cli/output.py)."""
    from fleetyard.cli.output import size

    return size(n)


@contextmanager
def progress_bars(enabled: bool) -> Iterator[Callable[[str, int, int], None]]:
    """A Rich progress bar fed by the engines' (phase, done, total) callbacks."""
    if not enabled or not err.is_terminal:
        yield lambda _phase, _done, _total: None
        return
    bar = Progress(
        TextColumn("{task.description:>8}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )
    tasks: dict[str, Any] = {}

    def update(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = bar.add_task(phase, total=total)
        bar.update(tasks[phase], completed=done, total=total)

    with bar:
        yield update


def parse_labels(items: list[str]) -> dict[str, str]:
    labels = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInputError(f"invalid --label {item!r}: expected KEY=VALUE")
        labels[key] = value
    return labels


def read_password(path: Path | None) -> str | None:
    if path is not None:
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise InvalidInputError(
                f"cannot read key password file {path}: {exc.strerror}"
            ) from exc
    return os.environ.get("FLEETYARD_KEY_PASSWORD")

