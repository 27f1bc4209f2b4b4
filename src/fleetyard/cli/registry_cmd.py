"""`fleetyard registry …`: push, pull and manage models in a registry.

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

import json
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
from rich.table import Table

from fleetyard.registry import (
    InvalidInputError,
    RegistryError,
    Store,
    VerificationError,
    diff_versions,
    export_versions,
    gc,
    import_versions,
    open_store,
    parse_ref,
    pull,
    push,
    verify_store,
)
from fleetyard.services.http_backend import open_remote_store

__all__ = ["default_registry", "registry_app"]

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
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def default_registry() -> str:
    """The registry used when neither --registry nor FLEETYARD_REGISTRY is given."""
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return os.path.join(data, "fleetyard", "registry")


def _open(registry: str | None, *, create: bool = False) -> Store:
    return open_store(registry or default_registry(), create=create)


def _fail(message: str, code: int) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def _errors() -> Iterator[None]:
    """Turn registry errors into one-line messages and the documented exit codes."""
    try:
        yield
    except InvalidInputError as exc:
        raise _fail(str(exc), 2) from None
    except VerificationError as exc:
        raise _fail(str(exc), 3) from None
    except RegistryError as exc:
        raise _fail(str(exc), 1) from None
    except KeyboardInterrupt:
        raise _fail(
            "interrupted; the store is unchanged (partial data is removed by gc)", 130
        ) from None
    except OSError as exc:
        raise _fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), 1) from None


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000
    return f"{n:.2f} TB"


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str, int, int], None]]:
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


def _labels(items: list[str]) -> dict[str, str]:
    labels = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInputError(f"invalid --label {item!r}: expected KEY=VALUE")
        labels[key] = value
    return labels


def _password(path: Path | None) -> str | None:
    if path is not None:
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise InvalidInputError(
                f"cannot read key password file {path}: {exc.strerror}"
            ) from exc
    return os.environ.get("FLEETYARD_KEY_PASSWORD")


@registry_app.command("push")
def push_cmd(
    folder: Annotated[Path, typer.Argument(help="Model folder to push.", show_default=False)],
    ref: Annotated[str, typer.Argument(metavar="NAME:VERSION", help="Name and new version.")],
    registry: RegistryOpt = None,
    key: Annotated[Path | None, typer.Option(help="PEM EC private key to sign with.")] = None,
    key_password_file: Annotated[
        Path | None,
        typer.Option(help="File holding the key's password (or set FLEETYARD_KEY_PASSWORD)."),
    ] = None,
    alias: Annotated[str | None, typer.Option(help="Also point this alias at the version.")] = None,
    parent: Annotated[
        str | None, typer.Option(help="Parent version (NAME:VERSION or NAME@ALIAS).")
    ] = None,
    label: Annotated[list[str], typer.Option(help="KEY=VALUE label (repeatable).")] = [],  # noqa: B006
    workers: Annotated[
        int | None, typer.Option(help="Chunking processes [default: cores].")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    server: Annotated[str | None, typer.Option(envvar="FLEETYARD_SERVER", show_default=False,
                                               help="Push to this server instead (only chunks it lacks).")] = None,
    token: Annotated[str | None, typer.Option(envvar="FLEETYARD_TOKEN", show_default=False,
                                              help="Bearer token for --server.")] = None,
) -> None:
    """Push a model folder as a new immutable version (only new chunks are stored)."""
    with _errors():
        r = parse_ref(ref, allow_alias=False)
        assert r.version is not None
        labels = _labels(label)
        store = open_remote_store(server, token or "") if server else _open(registry, create=True)
        with _progress(not quiet) as progress:
            res = push(
                store,
                folder,
                r.name,
                r.version,
                key=key,
                key_password=_password(key_password_file) if key else None,
                alias=alias,
                parent=parent,
                labels=labels,
                workers=workers,
                progress=progress,
            )
        m = res.manifest
        rate = m.size / res.seconds / 1e9 if res.seconds > 0 else 0.0
        out.print(
            f"pushed {m.ref} to {store.url}: {len(m.files)} files, {_size(m.size)}; "
            f"new {_size(res.raw_bytes_added)} (stored {_size(res.stored_bytes_added)}) "
            f"in {res.packs_written} packs, {res.reused_chunks} chunks reused; "
            f"{'signed; ' if m.signed else ''}{res.seconds:.2f} s ({rate:.2f} GB/s)"
        )


@registry_app.command("pull")
def pull_cmd(
    ref: Annotated[str, typer.Argument(metavar="NAME:VERSION|NAME@ALIAS")],
    dest: Annotated[Path, typer.Argument(help="New (or empty) folder to write.")],
    registry: RegistryOpt = None,
    public_key: Annotated[
        Path | None, typer.Option(help="Refuse the version unless signed by this key.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Write a version into a folder, every chunk verified, `model.sig` included."""
    with _errors():
        store = _open(registry)
        with _progress(not quiet) as progress:
            res = pull(
                store,
                ref,
                dest,
                public_key=public_key,
                progress=lambda d, t: progress("pull", d, t),
            )
        sig = (
            "signature verified"
            if res.signature_verified
            else ("signed (model.sig written)" if res.manifest.signed else "unsigned")
        )
        out.print(
            f"pulled {res.manifest.ref} into {res.dest}: {len(res.manifest.files)} files, "
            f"{_size(res.bytes_written)}; {sig}; {res.seconds:.2f} s"
        )


@registry_app.command("ls")
def ls_cmd(
    name: Annotated[str | None, typer.Argument(help="Only this model.")] = None,
    registry: RegistryOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List versions with their size, signature and aliases."""
    with _errors():
        store = _open(registry)
        versions = store.versions(name)
        aliases: dict[str, list[str]] = {}
        for key, version in store.aliases().items():
            model, _, alias = key.partition("@")
            aliases.setdefault(f"{model}:{version}", []).append(alias)
        rows: list[dict[str, Any]] = [
            {
                "ref": m.ref,
                "size": m.size,
                "files": len(m.files),
                "created": m.created,
                "signed": m.signed,
                "aliases": sorted(aliases.get(m.ref, [])),
            }
            for m in versions
        ]
        if as_json:
            out.print_json(json.dumps(rows))
            return
        table = Table("VERSION", "SIZE", "FILES", "CREATED", "SIGNED", "ALIASES", box=None)
        for row in rows:
            table.add_row(
                row["ref"],
                _size(row["size"]),
                str(row["files"]),
                row["created"][:19].replace("T", " "),
                "yes" if row["signed"] else "no",
                ", ".join(row["aliases"]),
            )
        out.print(table if rows else f"no versions in {store.url}")


@registry_app.command("show")
def show_cmd(
    ref: Annotated[str, typer.Argument(metavar="NAME:VERSION|NAME@ALIAS")],
    registry: RegistryOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a version's metadata and files."""
    with _errors():
        m = _open(registry).resolve(ref)
        if as_json:
            doc = json.loads(m.to_json())
            doc["signature"] = m.signed
            out.print_json(json.dumps(doc))
            return
        out.print(
            f"[bold]{m.ref}[/]  {_size(m.size)} in {len(m.files)} files, {m.chunk_count} chunks"
        )
        out.print(
            f"created {m.created}; parent {m.parent or '-'}; {'signed' if m.signed else 'unsigned'}"
        )
        if m.labels:
            out.print("labels " + ", ".join(f"{k}={v}" for k, v in sorted(m.labels.items())))
        table = Table("FILE", "SIZE", "MODE", box=None)
        for f in m.files:
            table.add_row(f.path, _size(f.size), oct(f.mode))
        out.print(table)


@registry_app.command("diff")
def diff_cmd(
    a: Annotated[str, typer.Argument(metavar="A", help="The version a site holds.")],
    b: Annotated[str, typer.Argument(metavar="B", help="The version it needs.")],
    registry: RegistryOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Files and bytes changed from A to B, and the bytes a site holding A must fetch."""
    with _errors():
        d = diff_versions(_open(registry), a, b)
        if as_json:
            doc = {
                "a": d.a,
                "b": d.b,
                "bytes_changed": d.bytes_changed,
                "new_chunk_bytes": d.new_chunk_bytes,
                "fetch_bytes": d.fetch_bytes,
                "fetch_chunks": d.fetch_chunks,
                "files": [f.__dict__ for f in d.files if f.status != "same"],
            }
            out.print_json(json.dumps(doc))
            return
        table = Table("STATUS", "FILE", f"SIZE {d.a}", f"SIZE {d.b}", box=None)
        for f in d.files:
            if f.status != "same":
                table.add_row(f.status, f.path, _size(f.size_a), _size(f.size_b))
        if table.row_count:
            out.print(table)
        out.print(
            f"{d.a} -> {d.b}: {d.count('added')} added, {d.count('removed')} removed, "
            f"{d.count('changed')} changed, {d.count('same')} unchanged files; "
            f"{_size(d.bytes_changed)} in changed files; "
            f"new chunk data {_size(d.new_chunk_bytes)}; "
            f"a site holding {d.a} fetches {_size(d.fetch_bytes)} ({d.fetch_chunks} chunks)"
        )


@alias_app.command("set")
def alias_set_cmd(
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias: Annotated[str, typer.Argument(help="Alias, e.g. prod or canary.")],
    version: Annotated[str, typer.Argument(help="Existing version to point at.")],
    registry: RegistryOpt = None,
) -> None:
    """Point NAME@ALIAS at NAME:VERSION (creating or moving the alias)."""
    with _errors():
        previous = _open(registry).set_alias(name, alias, version)
        moved = f" (was {previous})" if previous and previous != version else ""
        out.print(f"{name}@{alias} -> {name}:{version}{moved}")


@alias_app.command("ls")
def alias_ls_cmd(
    name: Annotated[str | None, typer.Argument(help="Only this model.")] = None,
    registry: RegistryOpt = None,
) -> None:
    """List aliases and the versions they point at."""
    with _errors():
        store = _open(registry)
        items = store.aliases(name)
        for alias, version in sorted(items.items()):
            label = f"{name}@{alias}" if name else alias
            out.print(f"{label} -> {label.split('@')[0]}:{version}")


@alias_app.command("rm")
def alias_rm_cmd(
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias: Annotated[str, typer.Argument(help="Alias to remove.")],
    registry: RegistryOpt = None,
) -> None:
    """Remove an alias (the version stays)."""
    with _errors():
        store = _open(registry)
        store.alias(name, alias)
        store.remove_alias(name, alias)
        out.print(f"removed {name}@{alias}")


@registry_app.command("rm")
def rm_cmd(
    ref: Annotated[str, typer.Argument(metavar="NAME:VERSION")],
    registry: RegistryOpt = None,
    force: Annotated[bool, typer.Option(help="Also remove aliases pointing at it.")] = False,
) -> None:
    """Remove a version; its chunks are freed by the next gc if nothing else uses them."""
    with _errors():
        r = parse_ref(ref, allow_alias=False)
        assert r.version is not None
        removed = _open(registry).remove_version(r.name, r.version, force=force)
        extra = f" and alias(es) {', '.join(removed)}" if removed else ""
        out.print(f"removed {r}{extra}; run `fleetyard registry gc` to free its chunks")


@registry_app.command("verify")
def verify_cmd(
    registry: RegistryOpt = None,
    as_json: JsonOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Check every chunk, pack, recipe and manifest of the store (exit 3 on problems)."""
    with _errors():
        store = _open(registry)
        with _progress(not quiet) as progress:
            rep = verify_store(store, progress=lambda d, t: progress("verify", d, t))
        if as_json:
            doc = {
                "ok": rep.ok,
                "versions": rep.versions,
                "packs": rep.packs,
                "chunks": rep.chunks,
                "bytes_checked": rep.bytes_checked,
                "problems": [p.__dict__ for p in rep.problems],
                "warnings": [p.__dict__ for p in rep.warnings],
            }
            out.print_json(json.dumps(doc))
        else:
            for p in rep.problems:
                err.print(f"[red]{p.kind}:[/] {p.message}", soft_wrap=True)
            for p in rep.warnings:
                err.print(f"[yellow]warning {p.kind}:[/] {p.message}", soft_wrap=True)
            status = "ok" if rep.ok else f"{len(rep.problems)} problem(s)"
            out.print(
                f"verified {store.url}: {rep.versions} versions, {rep.packs} packs, "
                f"{rep.chunks} chunks, "
                f"{_size(rep.bytes_checked)}: {status}"
            )
        if not rep.ok:
            raise typer.Exit(3)


@registry_app.command("gc")
def gc_cmd(
    registry: RegistryOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only report what would go.")] = False,
    wait: Annotated[float, typer.Option(help="Seconds to wait for running pushes.")] = 60.0,
    repack_threshold: Annotated[
        float, typer.Option(help="Repack packs whose live share is below this.")
    ] = 0.5,
) -> None:
    """Remove chunks no version references; safe while pushes run (it waits for them)."""
    with _errors():
        if not 0.0 <= repack_threshold <= 1.0:
            raise InvalidInputError(f"--repack-threshold {repack_threshold}: expected 0..1")
        store = _open(registry)
        res = gc(store, dry_run=dry_run, wait=wait, repack_threshold=repack_threshold)
        verb = "would free" if dry_run else "freed"
        out.print(
            f"gc {store.url}: {verb} {_size(res.bytes_freed)} ({res.chunks_removed} chunks); "
            f"{res.packs_deleted} packs deleted, {res.packs_repacked} repacked into "
            f"{res.packs_written}; {res.orphans_removed} leftovers removed; "
            f"live {_size(res.live_bytes)}; {res.seconds:.2f} s"
        )


@registry_app.command("export")
def export_cmd(
    dest: Annotated[Path, typer.Argument(help="Export folder (created, or added to).")],
    refs: Annotated[list[str], typer.Argument(metavar="REF...", help="Versions to export.")],
    registry: RegistryOpt = None,
    base: Annotated[
        str | None, typer.Option(help="Leave out chunks of this version (the site has it).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Copy versions into a folder to carry to an air-gapped site."""
    with _errors():
        store = _open(registry)
        with _progress(not quiet) as progress:
            res = export_versions(
                store, refs, dest, base=base, progress=lambda d, t: progress("export", d, t)
            )
        out.print(
            f"exported {', '.join(res.versions)} to {dest}: {_size(res.bytes_copied)} "
            f"in {res.chunks_copied} chunks"
        )


@registry_app.command("import")
def import_cmd(
    src: Annotated[Path, typer.Argument(help="Export folder to import from.")],
    refs: Annotated[
        list[str] | None, typer.Argument(metavar="[REF...]", help="Default: all.")
    ] = None,
    registry: RegistryOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Import versions from an export folder (every chunk verified)."""
    with _errors():
        store = _open(registry, create=True)
        with _progress(not quiet) as progress:
            res = import_versions(
                store, src, refs or None, progress=lambda d, t: progress("import", d, t)
            )
        out.print(
            f"imported {', '.join(res.versions)} into {store.url}: {_size(res.bytes_copied)} "
            f"in {res.chunks_copied} chunks"
        )
