"""`fleetyard pki`: a pilot CA, server and site certificates (docs/tls.md).

    fleetyard pki init --out pki/ca                                       ca.crt, ca.key
    fleetyard pki server-cert --ca pki/ca --dns localhost --ip 127.0.0.1 --out pki/server
    fleetyard pki site-cert --ca pki/ca --site fra-1 --out pki/sites      fra-1.crt, fra-1.key

ECDSA P-256 keys (mode 0600), written atomically; an existing file is refused unless
`--force`. For production, the equivalent openssl commands (or your own CA) are in
docs/tls.md: the server only needs PEM files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fleetyard.cli.common import console, fail

__all__ = ["register"]

pki_app = typer.Typer(help="A pilot PKI: CA, server and site certificates for TLS and mutual TLS.",
                      no_args_is_help=True)

OutOpt = Annotated[Path, typer.Option("--out", help="Folder to write the certificate and key to.",
                                      show_default=False)]
CaOpt = Annotated[Path, typer.Option("--ca", help="The CA folder `fleetyard pki init` made.", show_default=False)]
DaysOpt = Annotated[int, typer.Option("--days", min=1, max=36_500, help="Validity in days.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Replace existing files.")]


def register(app: typer.Typer) -> None:
    app.add_typer(pki_app, name="pki")


def _show(what: str, cert_path: Path, key_path: Path, not_after: str) -> None:
    console.print(f"{what}: {cert_path} (valid until {not_after} UTC), key {key_path} (mode 0600)",
                  highlight=False, soft_wrap=True)


@pki_app.command("init")
def init(out: OutOpt, name: Annotated[str, typer.Option("--name", help="The CA's common name.")]
         = "fleetyard pilot CA", days: DaysOpt = 3650, force: ForceOpt = False) -> None:
    """Make a CA (ca.crt, ca.key) that signs server and site certificates."""
    from fleetyard.services.pki import PkiError, make_ca, write_pair

    try:
        ca = make_ca(name, days=days)
        cert_path, key_path = write_pair(out, "ca", ca, overwrite=force)
    except PkiError as exc:
        fail(str(exc))
    _show("CA", cert_path, key_path, f"{ca.cert.not_valid_after_utc:%Y-%m-%d}")


@pki_app.command("server-cert")
def server_cert(
    ca: CaOpt, out: OutOpt,
    dns: Annotated[list[str] | None, typer.Option("--dns", help="DNS name clients use (repeatable).",
                                                  show_default=False)] = None,
    ip: Annotated[list[str] | None, typer.Option("--ip", help="IP address clients use (repeatable).",
                                                 show_default=False)] = None,
    days: DaysOpt = 397, force: ForceOpt = False,
) -> None:
    """A server certificate (server.crt, server.key) for `fleetyard server --tls-cert --tls-key`."""
    from fleetyard.services.pki import PkiError, issue_server, load_ca, write_pair

    try:
        issued = issue_server(load_ca(ca), dns=dns or [], ips=ip or [], days=days)
        cert_path, key_path = write_pair(out, "server", issued, overwrite=force)
    except PkiError as exc:
        fail(str(exc))
    _show("server certificate", cert_path, key_path, f"{issued.cert.not_valid_after_utc:%Y-%m-%d}")


@pki_app.command("site-cert")
def site_cert(
    ca: CaOpt, out: OutOpt,
    site: Annotated[str, typer.Option("--site", help="The site the certificate names (its agent's token "
                                      "must be this site's).", show_default=False)],
    days: DaysOpt = 397, force: ForceOpt = False,
) -> None:
    """A client certificate for a site's agent (SITE.crt, SITE.key; URI SAN fleetyard://site/SITE)."""
    from fleetyard.services.pki import PkiError, issue_site, load_ca, write_pair

    try:
        issued = issue_site(load_ca(ca), site, days=days)
        cert_path, key_path = write_pair(out, site, issued, overwrite=force)
    except PkiError as exc:
        fail(str(exc))
    _show(f"site certificate for {site}", cert_path, key_path, f"{issued.cert.not_valid_after_utc:%Y-%m-%d}")
