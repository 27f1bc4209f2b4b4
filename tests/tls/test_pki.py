"""`services/pki.py` and `fleetyard pki`: what the certificates say, file modes, refusals."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from fleetyard.services.errors import Forbidden
from fleetyard.services.identity import Principal
from fleetyard.services.pki import PkiError, issue_server, issue_site, load_ca, make_ca, site_of, write_pair
from fleetyard.services.tls import ClientTLS, PeerCertificate, TLSConfigError, check_agent_peer


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fleetyard", *args], capture_output=True, text=True, timeout=120)


def test_site_certificate_names_its_site_and_chains_to_the_ca() -> None:
    ca = make_ca("t")
    site = issue_site(ca, "fra-1")
    assert site_of(site.cert) == "fra-1"
    site.cert.verify_directly_issued_by(ca.cert)  # raises if the signature or issuer is wrong
    eku = site.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert isinstance(site.key, ec.EllipticCurvePrivateKey) and site.key.curve.name == "secp256r1"
    assert site.cert.not_valid_after_utc <= ca.cert.not_valid_after_utc
    server = issue_server(ca, dns=["localhost"], ips=["127.0.0.1"])
    assert site_of(server.cert) is None  # a server certificate names no site
    san = server.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(i) for i in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


@pytest.mark.parametrize("site", ["FRA-1", "-x", "a" * 64, ""])
def test_a_site_certificate_needs_a_site_name(site: str) -> None:
    with pytest.raises(PkiError, match="expected a site name"):
        issue_site(make_ca(), site)


def test_bad_server_names_are_refused() -> None:
    with pytest.raises(PkiError, match="at least one --dns"):
        issue_server(make_ca(), dns=[], ips=[])
    with pytest.raises(PkiError, match="--ip: expected an IPv4 or IPv6 address, got 'nope'"):
        issue_server(make_ca(), dns=[], ips=["nope"])


def test_keys_are_private_and_existing_files_are_kept(tmp_path: Path) -> None:
    ca = make_ca()
    cert_path, key_path = write_pair(tmp_path, "ca", ca)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cert_path.stat().st_mode) == 0o644
    before = key_path.read_bytes()
    with pytest.raises(PkiError, match="already exists; pass --force"):
        write_pair(tmp_path, "ca", make_ca())
    assert key_path.read_bytes() == before
    assert load_ca(tmp_path).cert == ca.cert
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ca.crt", "ca.key"]  # no temporary files left


def test_load_ca_names_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(PkiError, match=r"cannot read .*ca\.crt"):
        load_ca(tmp_path)
    ca = make_ca()
    leaf = issue_site(ca, "fra-1")
    write_pair(tmp_path / "leaf", "ca", leaf)
    with pytest.raises(PkiError, match="not a CA certificate"):
        load_ca(tmp_path / "leaf")
    write_pair(tmp_path / "mixed", "ca", ca)
    (tmp_path / "mixed" / "ca.key").write_bytes(leaf.key_pem())
    with pytest.raises(PkiError, match="is not the key of"):
        load_ca(tmp_path / "mixed")


def test_cli_makes_a_pki_and_refuses_mistakes_with_exit_2(tmp_path: Path) -> None:
    ok = _cli("pki", "init", "--out", str(tmp_path / "ca"))
    assert ok.returncode == 0, ok.stderr
    assert "ca.crt (valid until" in ok.stdout
    assert _cli("pki", "server-cert", "--ca", str(tmp_path / "ca"), "--dns", "localhost", "--ip", "127.0.0.1",
                "--out", str(tmp_path / "srv")).returncode == 0
    site = _cli("pki", "site-cert", "--ca", str(tmp_path / "ca"), "--site", "fra-1", "--out", str(tmp_path / "s"))
    assert site.returncode == 0, site.stderr
    cert = x509.load_pem_x509_certificate((tmp_path / "s" / "fra-1.crt").read_bytes())
    assert site_of(cert) == "fra-1"
    again = _cli("pki", "init", "--out", str(tmp_path / "ca"))
    assert again.returncode == 2 and "already exists; pass --force" in again.stderr
    assert "Traceback" not in again.stderr
    bad = _cli("pki", "site-cert", "--ca", str(tmp_path / "nope"), "--site", "fra-1", "--out", str(tmp_path))
    assert bad.returncode == 2 and "cannot read" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "fra-1.crt").exists()


def test_client_tls_files_are_checked_before_any_connection(tmp_path: Path) -> None:
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(TLSConfigError, match=r"--ca .*cannot read it"):
        ClientTLS(ca=tmp_path / "missing.pem").verify()
    with pytest.raises(TLSConfigError, match=r"expected PEM \(-----BEGIN ...\), found something else"):
        ClientTLS(ca=tmp_path / "junk.pem").verify()
    with pytest.raises(TLSConfigError, match="--cert and --key go together"):
        ClientTLS(cert=tmp_path / "junk.pem").verify()
    assert ClientTLS().verify() is True  # nothing given: the system's trust store


def test_an_agent_token_must_match_the_certificates_site() -> None:
    fra = Principal("tok_1", "agent", "fra-1")
    check_agent_peer(fra, PeerCertificate("CN=fra-1", "fra-1"))
    check_agent_peer(fra, None)  # no certificate presented (CERT_OPTIONAL): the token alone decides
    check_agent_peer(Principal("tok_2", "admin"), PeerCertificate("CN=fra-1", "fra-1"))
    with pytest.raises(Forbidden, match="the client certificate is for site par-1, but token tok_1 is the "
                                        "agent token of site fra-1"):
        check_agent_peer(fra, PeerCertificate("CN=par-1", "par-1"))
    with pytest.raises(Forbidden, match="names no site"):
        check_agent_peer(fra, PeerCertificate("CN=someone", None))
