"""`fleetyard registry push | pull | ls | show | diff | lineage`: moving and inspecting versions.

See `registry_common` for the registry location and the exit codes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from fleetyard.cli.output import emit, structured, table
from fleetyard.cli.registry_common import (
    Format,
    FormatOpt,
    JsonOpt,
    RegistryOpt,
    RegistryServerOpt,
    RegistryTokenOpt,
    err,
    errors,
    human_size,
    out,
    parse_labels,
    progress_bars,
    read_password,
    registry_app,
    registry_store,
    trusted_key,
)
from fleetyard.cli.registry_grant import EncryptForOpt, SiteKeyOpt
from fleetyard.cli.registry_lineage import DatasetOpt, provenance_input
from fleetyard.registry import (
    diff_versions,
    parse_ref,
    pull,
    push,
)
from fleetyard.registry.encryption import load_recipients
from fleetyard.registry.provenance import read_provenance

__all__ = ["register", "registry_app"]


def register(app: typer.Typer) -> None:
    app.add_typer(registry_app, name="registry")


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
    provenance: Annotated[Path | None, typer.Option(
        "--provenance", help="YAML: base_model, datasets, code, run_id, builder (docs/provenance.md).")] = None,
    base_model: Annotated[str | None, typer.Option(
        help="Model it was trained from: NAME:VERSION here, or NAME@sha256:HEX from elsewhere.")] = None,
    dataset: DatasetOpt = [],  # noqa: B006
    code_repo: Annotated[str | None, typer.Option(help="Training code repository URL.")] = None,
    code_commit: Annotated[str | None, typer.Option(help="Training code git commit.")] = None,
    run_id: Annotated[str | None, typer.Option(help="Training run id.")] = None,
    encrypt_for: EncryptForOpt = [],  # noqa: B006
    site_key: SiteKeyOpt = None,
    workers: Annotated[
        int | None, typer.Option(help="Chunking processes [default: cores].")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    server: RegistryServerOpt = None,
    token: RegistryTokenOpt = None,
) -> None:
    """Push a model folder as a new immutable version (only new chunks are stored);
    with --encrypt-for or --site-key its chunks are encrypted (docs/encryption.md)."""
    with errors():
        r = parse_ref(ref, allow_alias=False)
        assert r.version is not None
        labels = parse_labels(label)
        store = registry_store(registry, server, token, create=True)  # a server stores only chunks it lacks
        given = provenance_input(store, provenance, base_model, dataset, code_repo, code_commit, run_id)
        recipients = load_recipients(encrypt_for)
        with progress_bars(not quiet) as progress:
            res = push(
                store,
                folder,
                r.name,
                r.version,
                key=key,
                key_password=read_password(key_password_file) if key else None,
                alias=alias,
                parent=parent,
                labels=labels,
                provenance=given,
                encrypt_for=recipients,
                site_key=site_key,
                workers=workers,
                progress=progress,
            )
        m = res.manifest
        rate = m.size / res.seconds / 1e9 if res.seconds > 0 else 0.0
        out.print(
            f"pushed {m.ref} to {store.url}: {len(m.files)} files, {human_size(m.size)}; "
            f"new {human_size(res.raw_bytes_added)} (stored {human_size(res.stored_bytes_added)}) "
            f"in {res.packs_written} packs, {res.reused_chunks} chunks reused; "
            f"{'signed; ' if m.signed else ''}{'provenance recorded; ' if m.provenance else ''}"
            f"{'encrypted; ' if m.encryption else ''}"
            f"{res.seconds:.2f} s ({rate:.2f} GB/s)"
        )


@registry_app.command("pull")
def pull_cmd(
    ref: Annotated[str, typer.Argument(metavar="NAME:VERSION|NAME@ALIAS")],
    dest: Annotated[Path, typer.Argument(help="New (or empty) folder to write.")],
    registry: RegistryOpt = None,
    public_key: Annotated[
        Path | None, typer.Option(help="Refuse the version unless signed by this key.")
    ] = None,
    site_key: SiteKeyOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    server: RegistryServerOpt = None,
    token: RegistryTokenOpt = None,
) -> None:
    """Write a version into a folder, every chunk verified, `model.sig` included."""
    with errors():
        store = registry_store(registry, server, token)
        public_key = trusted_key(public_key)
        with progress_bars(not quiet) as progress:
            res = pull(
                store,
                ref,
                dest,
                public_key=public_key,
                site_key=site_key,
                progress=lambda d, t: progress("pull", d, t),
            )
        sig = (
            "signature verified"
            if res.signature_verified
            else ("signed (model.sig written)" if res.manifest.signed else "unsigned")
        )
        out.print(
            f"pulled {res.manifest.ref} into {res.dest}: {len(res.manifest.files)} files, "
            f"{human_size(res.bytes_written)}; {sig}; {res.seconds:.2f} s"
        )


@registry_app.command("ls")
def ls_cmd(
    name: Annotated[str | None, typer.Argument(help="Only this model.")] = None,
    registry: RegistryOpt = None,
    as_json: JsonOpt = False,
    output: FormatOpt = Format.table,
    server: RegistryServerOpt = None,
    token: RegistryTokenOpt = None,
) -> None:
    """List versions with their size, signature and aliases (an unreadable object is a warning)."""
    with errors():
        store = registry_store(registry, server, token)
        listing = store.listing(name)
        for bad in listing.problems:
            err.print(f"[yellow]warning:[/] skipped {bad.key}: {bad.message}", soft_wrap=True)
        versions = listing.versions
        aliases: dict[str, list[str]] = {}
        for key, version in listing.aliases.items():
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
        if as_json or structured(output):
            emit(json.dumps(rows), output, out)
            return
        rows_table = table("VERSION", "SIZE", "FILES", "CREATED", "SIGNED", "ALIASES")
        for row in rows:
            rows_table.add_row(
                row["ref"],
                human_size(row["size"]),
                str(row["files"]),
                row["created"][:19].replace("T", " "),
                "yes" if row["signed"] else "no",
                ", ".join(row["aliases"]),
            )
        out.print(rows_table if rows else f"no versions in {store.url}")


@registry_app.command("show")
def show_cmd(
    ref: Annotated[str, typer.Argument(metavar="NAME:VERSION|NAME@ALIAS")],
    registry: RegistryOpt = None,
    as_json: JsonOpt = False,
    output: FormatOpt = Format.table,
    server: RegistryServerOpt = None,
    token: RegistryTokenOpt = None,
) -> None:
    """Show a version's metadata and files."""
    with errors():
        m = registry_store(registry, server, token).resolve(ref)
        if as_json or structured(output):
            doc = json.loads(m.to_json())
            doc["signature"] = m.signed
            prov = read_provenance(m)
            doc["provenance"] = prov.as_dict() if prov else None
            emit(json.dumps(doc), output, out)
            return
        out.print(
            f"[bold]{m.ref}[/]  {human_size(m.size)} in {len(m.files)} files, {m.chunk_count} chunks"
        )
        out.print(
            f"created {m.created}; parent {m.parent or '-'}; {'signed' if m.signed else 'unsigned'}"
        )
        if m.labels:
            out.print("labels " + ", ".join(f"{k}={v}" for k, v in sorted(m.labels.items())))
        prov = read_provenance(m)
        if prov is not None:
            base = prov.base_model.ref if prov.base_model else "-"
            data = ", ".join(f"{d.label} ({d.digest})" for d in prov.datasets) or "-"
            out.print(f"provenance: base model {base}; datasets {data}; run {prov.run_id or '-'}; "
                      f"code {prov.code_commit or '-'}; pushed by {prov.pushed_by}")
        rows_table = table("FILE", "SIZE", "MODE")
        for f in m.files:
            rows_table.add_row(f.path, human_size(f.size), oct(f.mode))
        out.print(rows_table)


@registry_app.command("diff")
def diff_cmd(
    a: Annotated[str, typer.Argument(metavar="A", help="The version a site holds.")],
    b: Annotated[str, typer.Argument(metavar="B", help="The version it needs.")],
    registry: RegistryOpt = None,
    as_json: JsonOpt = False,
    output: FormatOpt = Format.table,
    server: RegistryServerOpt = None,
    token: RegistryTokenOpt = None,
) -> None:
    """Files and bytes changed from A to B, and the bytes a site holding A must fetch."""
    with errors():
        d = diff_versions(registry_store(registry, server, token), a, b)
        if as_json or structured(output):
            doc = {
                "a": d.a,
                "b": d.b,
                "bytes_changed": d.bytes_changed,
                "new_chunk_bytes": d.new_chunk_bytes,
                "fetch_bytes": d.fetch_bytes,
                "fetch_chunks": d.fetch_chunks,
                "files": [f.__dict__ for f in d.files if f.status != "same"],
            }
            emit(json.dumps(doc), output, out)
            return
        rows_table = table("STATUS", "FILE", f"SIZE {d.a}", f"SIZE {d.b}")
        for f in d.files:
            if f.status != "same":
                rows_table.add_row(f.status, f.path, human_size(f.size_a), human_size(f.size_b))
        if rows_table.row_count:
            out.print(rows_table)
        out.print(
            f"{d.a} -> {d.b}: {d.count('added')} added, {d.count('removed')} removed, "
            f"{d.count('changed')} changed, {d.count('same')} unchanged files; "
            f"{human_size(d.bytes_changed)} in changed files; "
            f"new chunk data {human_size(d.new_chunk_bytes)}; "
            f"a site holding {d.a} fetches {human_size(d.fetch_bytes)} ({d.fetch_chunks} chunks)"
        )


# The store-keeping commands (alias, rm, verify, gc, export, import) register on the
# same app; imported last so that `--help` lists them after the everyday ones.
from fleetyard.cli import registry_admin  # noqa: E402, F401
