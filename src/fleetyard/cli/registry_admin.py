"""`fleetyard registry alias | rm | verify | gc | export | import`: looking after a store.

See `registry_common` for the registry location and the exit codes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from fleetyard.cli.output import emit, structured
from fleetyard.cli.registry_common import (
    Format,
    FormatOpt,
    JsonOpt,
    RegistryOpt,
    alias_app,
    err,
    errors,
    human_size,
    open_registry,
    out,
    progress_bars,
    registry_app,
)
from fleetyard.registry import (
    InvalidInputError,
    export_versions,
    gc,
    import_versions,
    parse_ref,
    verify_store,
)


@alias_app.command("set")
def alias_set_cmd(
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias: Annotated[str, typer.Argument(help="Alias, e.g. prod or canary.")],
    version: Annotated[str, typer.Argument(help="Existing version to point at.")],
    registry: RegistryOpt = None,
) -> None:
    """Point NAME@ALIAS at NAME:VERSION (creating or moving the alias)."""
    with errors():
        previous = open_registry(registry).set_alias(name, alias, version)
        moved = f" (was {previous})" if previous and previous != version else ""
        out.print(f"{name}@{alias} -> {name}:{version}{moved}")


@alias_app.command("ls")
def alias_ls_cmd(
    name: Annotated[str | None, typer.Argument(help="Only this model.")] = None,
    registry: RegistryOpt = None,
) -> None:
    """List aliases and the versions they point at."""
    with errors():
        store = open_registry(registry)
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
    with errors():
        store = open_registry(registry)
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
    with errors():
        r = parse_ref(ref, allow_alias=False)
        assert r.version is not None
        removed = open_registry(registry).remove_version(r.name, r.version, force=force)
        extra = f" and alias(es) {', '.join(removed)}" if removed else ""
        out.print(f"removed {r}{extra}; run `fleetyard registry gc` to free its chunks")


@registry_app.command("verify")
def verify_cmd(
    registry: RegistryOpt = None,
    as_json: JsonOpt = False,
    output: FormatOpt = Format.table,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Check every chunk, pack, recipe and manifest of the store (exit 3 on problems)."""
    with errors():
        store = open_registry(registry)
        with progress_bars(not quiet) as progress:
            rep = verify_store(store, progress=lambda d, t: progress("verify", d, t))
        if as_json or structured(output):
            doc = {
                "ok": rep.ok,
                "versions": rep.versions,
                "packs": rep.packs,
                "chunks": rep.chunks,
                "bytes_checked": rep.bytes_checked,
                "problems": [p.__dict__ for p in rep.problems],
                "warnings": [p.__dict__ for p in rep.warnings],
            }
            emit(json.dumps(doc), output, out)
        else:
            for p in rep.problems:
                err.print(f"[red]{p.kind}:[/] {p.message}", soft_wrap=True)
            for p in rep.warnings:
                err.print(f"[yellow]warning {p.kind}:[/] {p.message}", soft_wrap=True)
            status = "ok" if rep.ok else f"{len(rep.problems)} problem(s)"
            out.print(
                f"verified {store.url}: {rep.versions} versions, {rep.packs} packs, "
                f"{rep.chunks} chunks, "
                f"{human_size(rep.bytes_checked)}: {status}"
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
    with errors():
        if not 0.0 <= repack_threshold <= 1.0:
            raise InvalidInputError(f"--repack-threshold {repack_threshold}: expected 0..1")
        store = open_registry(registry)
        res = gc(store, dry_run=dry_run, wait=wait, repack_threshold=repack_threshold)
        verb = "would free" if dry_run else "freed"
        out.print(
            f"gc {store.url}: {verb} {human_size(res.bytes_freed)} ({res.chunks_removed} chunks); "
            f"{res.packs_deleted} packs deleted, {res.packs_repacked} repacked into "
            f"{res.packs_written}; {res.orphans_removed} leftovers removed; "
            f"live {human_size(res.live_bytes)}; {res.seconds:.2f} s"
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
    with errors():
        store = open_registry(registry)
        with progress_bars(not quiet) as progress:
            res = export_versions(
                store, refs, dest, base=base, progress=lambda d, t: progress("export", d, t)
            )
        out.print(
            f"exported {', '.join(res.versions)} to {dest}: {human_size(res.bytes_copied)} "
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
    with errors():
        store = open_registry(registry, create=True)
        with progress_bars(not quiet) as progress:
            res = import_versions(
                store, src, refs or None, progress=lambda d, t: progress("import", d, t)
            )
        out.print(
            f"imported {', '.join(res.versions)} into {store.url}: {human_size(res.bytes_copied)} "
            f"in {res.chunks_copied} chunks"
        )
