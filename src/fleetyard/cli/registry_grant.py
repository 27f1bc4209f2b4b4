"""`fleetyard registry grant | recipients`, and the encryption options of push and pull (docs/encryption.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from fleetyard.cli.output import emit, structured, table
from fleetyard.cli.registry_common import (
    Format,
    FormatOpt,
    RegistryOpt,
    RegistryServerOpt,
    RegistryTokenOpt,
    errors,
    out,
    registry_app,
    registry_store,
)
from fleetyard.registry import layout
from fleetyard.registry.encryption import KeysDoc, grant, load_recipients, read_keys
from fleetyard.registry.errors import EncryptionError
from fleetyard.registry.names import check_name
from fleetyard.registry.store import utc_now

__all__ = ["EncryptForOpt", "SiteKeyOpt"]

EncryptForOpt = Annotated[list[Path], typer.Option(
    "--encrypt-for", metavar="PUB|DIR",
    help="Encrypt for this site public key (NAME.site.pub), or every *.site.pub of a folder (repeatable).")]
SiteKeyOpt = Annotated[Path | None, typer.Option(
    "--site-key", envvar="FLEETYARD_SITE_KEY",
    help="A site private key (NAME.site.pem) the model's data key is wrapped for.")]


def _show(doc: KeysDoc, output: Format) -> None:
    rows = [{"label": r.label, "fingerprint": r.fingerprint, "added": r.added} for r in doc.recipients]
    if structured(output):
        emit(json.dumps({"model": doc.model, "key_id": doc.key_id, "algorithm": doc.algorithm,
                         "recipients": rows}), output, out)
        return
    t = table(("RECIPIENT", {"no_wrap": True}), "FINGERPRINT", "ADDED")
    for row in rows:
        t.add_row(row["label"], row["fingerprint"][:16] + "…", row["added"][:19].replace("T", " "))
    out.print(t)
    out.print(f"{doc.model}: {doc.algorithm}, data key {doc.key_id[:16]}…, wrapped for {len(rows)} site key(s)")


@registry_app.command("grant")
def grant_cmd(
    name: Annotated[str, typer.Argument(help="Encrypted model.")],
    recipient: Annotated[list[Path], typer.Option(
        "--recipient", metavar="PUB|DIR", help="Site public key to add, or a folder of *.site.pub (repeatable).")],
    site_key: SiteKeyOpt = None,
    registry: RegistryOpt = None,
    output: FormatOpt = Format.table,
    server: RegistryServerOpt = None,
    token: RegistryTokenOpt = None,
) -> None:
    """Wrap an encrypted model's data key for more sites (no chunk is re-encrypted)."""
    with errors():
        check_name(name)
        if site_key is None:
            raise EncryptionError("--site-key is required: the private key of a site the data key is already "
                                  "wrapped for, to unwrap it")
        recipients = load_recipients(recipient)
        store = registry_store(registry, server, token)
        doc, added = grant(store.backend, name, recipients, site_key, utc_now())
        if not structured(output):
            out.print(f"granted {name} to {added} new site key(s) in {store.url}/{layout.key_doc_key(name)}")
        _show(doc, output)


@registry_app.command("recipients")
def recipients_cmd(
    name: Annotated[str, typer.Argument(help="Encrypted model.")],
    registry: RegistryOpt = None,
    output: FormatOpt = Format.table,
    server: RegistryServerOpt = None,
    token: RegistryTokenOpt = None,
) -> None:
    """List the site keys an encrypted model's data key is wrapped for."""
    with errors():
        store = registry_store(registry, server, token)
        doc = read_keys(store.backend, check_name(name))
        if doc is None:
            raise EncryptionError(f"model {name} is not encrypted in {store.url}")
        _show(doc, output)
