"""A pilot PKI: a CA, server certificates and site client certificates (docs/tls.md).

    ca = make_ca("fleetyard pilot CA")
    write_pair(out, "ca", ca)                                   # ca.crt (0644), ca.key (0600)
    server = issue_server(ca, dns=["cp.example"], ips=["10.0.0.5"])
    site = issue_site(ca, "fra-1")                              # URI SAN fleetyard://site/fra-1

Keys are ECDSA P-256; certificates are X.509 v3 with the extensions a TLS stack
checks (basic constraints, key usage, extended key usage, subject and authority key
identifiers). A site certificate names its site in a URI subject alternative name
`fleetyard://site/NAME` (and in the common name, for people reading it); the server
trusts only the URI SAN (`site_of`). Files are written atomically, keys mode 0600.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fleetyard.spec.messages import found

__all__ = ["CA_DAYS", "LEAF_DAYS", "SITE_URI_PREFIX", "Issued", "PkiError", "issue_server", "issue_site",
           "load_ca", "make_ca", "site_of", "site_uri", "write_pair"]

CA_DAYS = 3650     # a pilot CA: ten years; its key stays offline
LEAF_DAYS = 397    # the CA/Browser Forum's ceiling for server certificates; sites renew yearly
SITE_URI_PREFIX = "fleetyard://site/"
_SITE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")  # as spec/models.py names a site
_BACKDATE = timedelta(minutes=5)  # clocks of sites and server drift a little


class PkiError(Exception):
    """A file is missing or not what it should be; the message says which and why."""


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())


def site_uri(site: str) -> str:
    return SITE_URI_PREFIX + site


def site_of(cert: x509.Certificate) -> str | None:
    """The site a certificate names in a `fleetyard://site/NAME` URI SAN, else None."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    sites = [u[len(SITE_URI_PREFIX):] for u in san.get_values_for_type(x509.UniformResourceIdentifier)
             if u.startswith(SITE_URI_PREFIX)]
    return sites[0] if len(sites) == 1 and sites[0] else None


def _validity(days: int, not_before: datetime | None) -> tuple[datetime, datetime]:
    if days < 1:
        raise PkiError(f"validity: expected at least 1 day, got {days}")
    start = not_before or (datetime.now(UTC) - _BACKDATE)
    return start, start + timedelta(days=days)


def make_ca(name: str = "fleetyard pilot CA", *, days: int = CA_DAYS, not_before: datetime | None = None) -> Issued:
    """A self-signed CA that may sign leaf certificates only (path length 0)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fleetyard")])
    start, end = _validity(days, not_before)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return Issued(cert, key)


def _leaf(ca: Issued, common_name: str, names: list[x509.GeneralName], usage: x509.ObjectIdentifier,
          days: int, not_before: datetime | None) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    start, end = _validity(days, not_before)
    ca_end = ca.cert.not_valid_after_utc
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(min(end, ca_end))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
            .sign(ca.key, hashes.SHA256()))
    return Issued(cert, key)


def issue_server(ca: Issued, *, dns: list[str], ips: list[str], days: int = LEAF_DAYS,
                 not_before: datetime | None = None) -> Issued:
    """A server certificate for these DNS names and IP addresses (at least one)."""
    if not dns and not ips:
        raise PkiError("expected at least one --dns NAME or --ip ADDRESS for the server certificate")
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    for ip in ips:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(ip)))
        except ValueError:
            raise PkiError(f"--ip: expected an IPv4 or IPv6 address, got {found(ip)}") from None
    return _leaf(ca, dns[0] if dns else ips[0], names, ExtendedKeyUsageOID.SERVER_AUTH, days, not_before)


def issue_site(ca: Issued, site: str, *, days: int = LEAF_DAYS, not_before: datetime | None = None) -> Issued:
    """A client certificate naming `site` (URI SAN `fleetyard://site/NAME`), for its agent."""
    if len(site) > 63 or not _SITE_NAME.fullmatch(site):
        raise PkiError(f"--site: expected a site name (lowercase letters, digits, '-', at most 63), got {found(site)}")
    return _leaf(ca, site, [x509.UniformResourceIdentifier(site_uri(site))], ExtendedKeyUsageOID.CLIENT_AUTH,
                 days, not_before)


def _atomic_write(path: Path, data: bytes, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_pair(out: Path, stem: str, issued: Issued, *, overwrite: bool = False) -> tuple[Path, Path]:
    """`out/STEM.crt` (0644) and `out/STEM.key` (0600); an existing file is refused unless `overwrite`.
    Both are checked before either is written, so a refusal leaves nothing half-written."""
    cert_path, key_path = out / f"{stem}.crt", out / f"{stem}.key"
    if not overwrite:
        for p in (cert_path, key_path):
            if p.exists():
                raise PkiError(f"{p} already exists; pass --force to replace it")
    try:
        out.mkdir(parents=True, exist_ok=True)
        _atomic_write(key_path, issued.key_pem(), 0o600)
        _atomic_write(cert_path, issued.cert_pem(), 0o644)
    except OSError as exc:
        raise PkiError(f"cannot write to {out}: {exc.strerror or exc}") from None
    return cert_path, key_path


def load_ca(folder: Path) -> Issued:
    """The CA that `fleetyard pki init --out FOLDER` made (ca.crt, ca.key)."""
    cert_path, key_path = folder / "ca.crt", folder / "ca.key"
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except OSError as exc:
        raise PkiError(f"--ca {folder}: cannot read {cert_path}: {exc.strerror or exc} "
                       "(expected the folder `fleetyard pki init --out` made)") from None
    except ValueError:
        raise PkiError(f"--ca {folder}: {cert_path} is not a PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except OSError as exc:
        raise PkiError(f"--ca {folder}: cannot read {key_path}: {exc.strerror or exc}") from None
    except (ValueError, TypeError):
        raise PkiError(f"--ca {folder}: {key_path} is not an unencrypted PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        raise PkiError(f"--ca {folder}: {key_path} is not the key of {cert_path}")
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise PkiError(f"--ca {folder}: {cert_path} is not a CA certificate (basic constraints CA:FALSE)")
    return Issued(cert, key)
