"""`fleetyard keys create`: a signing key pair for `registry push --key`.

The private key (P-256, PKCS#8 PEM, mode 0600; encrypted with `--password-file`) signs
versions; the public key goes wherever signatures are checked: each agent's
`--trust-key`, `registry pull --public-key`, and a context's `trusted-keys`.

`fleetyard keys create --site NAME` makes a site key pair instead (X25519, docs/encryption.md):
NAME.site.pem stays at the site (mode 0600, the agent's `--site-key`), NAME.site.pub goes
to the publisher (`registry push --encrypt-for`, `registry grant --recipient`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated

import typer

from fleetyard.cli.common import console, fail

__all__ = ["register"]

keys_app = typer.Typer(help="Signing keys for the registry.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def create(
    out: Annotated[Path, typer.Option("--out", help="Folder for NAME.pem and NAME.pub.")] = Path("."),
    name: Annotated[str, typer.Option("--name", help="File name stem.")] = "signing",
    password_file: Annotated[Path | None, typer.Option(help="Encrypt the private key with the password "
                                                       "in this file.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
    site: Annotated[str | None, typer.Option("--site", help="Make the encryption key pair of this site instead: "
                                             "SITE.site.pem (private) and SITE.site.pub.")] = None,
) -> None:
    """Make a signing key pair (NAME.pem private, NAME.pub public), or with --site a site's
    encryption key pair, and say where each goes."""
    from fleetyard.registry.signing import new_key_pair

    if site is not None:
        _create_site(out, site, force)
        return
    if not name or "/" in name or name.startswith("."):
        fail(f"--name: expected a file name stem such as 'release', got {name!r}")
    private_path, public_path = out / f"{name}.pem", out / f"{name}.pub"
    existing = [p for p in (private_path, public_path) if p.exists()]
    if existing and not force:
        fail(f"{existing[0]} already exists; nothing was written (--force replaces it)")
    password = None
    if password_file is not None:
        try:
            password = password_file.read_text(encoding="utf-8").rstrip("\n")
        except OSError as exc:
            fail(f"--password-file: cannot read {password_file}: {exc.strerror or exc}")
        if not password:
            fail(f"--password-file: {password_file} is empty")
    private, public = new_key_pair(password)
    try:
        out.mkdir(parents=True, exist_ok=True)
        _write(private_path, private, 0o600)
        _write(public_path, public, 0o644)
    except OSError as exc:
        fail(f"cannot write the key pair in {out}: {exc.strerror or exc}")
    console.print(f"wrote {private_path} (private, mode 600) and {public_path} (public)", highlight=False)
    console.print(f"  sign:    fleetyard registry push DIR NAME:VERSION --key {private_path}", highlight=False)
    console.print(f"  trust:   fleetyard agent ... --trust-key {public_path}   (every site's agent)", highlight=False)
    console.print(f"  verify:  fleetyard registry pull NAME:VERSION DIR --public-key {public_path}", highlight=False)
    console.print(f"  context: fleetyard config set-context NAME --trusted-key {public_path}", highlight=False)


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _create_site(out: Path, site: str, force: bool) -> None:
    from fleetyard.registry.sealing import new_site_key

    if not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", site):
        fail(f"--site: expected a site name (lowercase letters, digits, '-'), got {site!r}")
    private_path, public_path = out / f"{site}.site.pem", out / f"{site}.site.pub"
    existing = [p for p in (private_path, public_path) if p.exists()]
    if existing and not force:
        fail(f"{existing[0]} already exists; nothing was written (--force replaces it)")
    private, public = new_site_key()
    try:
        out.mkdir(parents=True, exist_ok=True)
        _write(private_path, private, 0o600)
        _write(public_path, public, 0o644)
    except OSError as exc:
        fail(f"cannot write the key pair in {out}: {exc.strerror or exc}")
    console.print(f"wrote {private_path} (private, mode 600: keep it at {site}) and {public_path} (public)",
                  highlight=False)
    console.print(f"  agent:   fleetyard agent --site {site} ... --site-key {private_path}", highlight=False)
    console.print(f"  encrypt: fleetyard registry push DIR NAME:VERSION --encrypt-for {public_path}",
                  highlight=False)
    console.print(f"  grant:   fleetyard registry grant NAME --recipient {public_path} --site-key PUBLISHER.site.pem",
                  highlight=False)
