"""TLS for the clients of the control plane, and the mutual-TLS site check (docs/tls.md).

Clients (the CLI, the agent) verify the server against a CA bundle (`ClientTLS.ca`;
without one, the system's trust store) and may present a client certificate
(`cert`/`key`, an agent's site certificate). A TLS failure becomes one line that
says why (`tls_failure`): not signed by the CA given, expired, issued for another
host name, or refused by the server.

The server side (`check_agent_peer`): when an agent token comes over a connection that
presented a client certificate, the site the certificate names must be the token's.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from fleetyard.services.errors import Forbidden
from fleetyard.services.identity import Principal

__all__ = ["ClientTLS", "PeerCertificate", "TLSConfigError", "check_agent_peer", "closed_after_handshake",
           "tls_failure"]


class TLSConfigError(ValueError):
    """A CA bundle, certificate or key file cannot be used; the message names the option and file."""


@dataclass(frozen=True)
class ClientTLS:
    """How a client checks the server (`ca`) and proves who it is (`cert` + `key`)."""

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    ca_option: str = "--ca"

    def verify(self) -> ssl.SSLContext | bool:
        """What httpx takes as `verify`: True (system trust) or a context with the CA and client cert."""
        if self.ca is None and self.cert is None:
            return True
        if (self.cert is None) != (self.key is None):
            raise TLSConfigError("--cert and --key go together: expected both, got only "
                                 + ("--cert" if self.cert else "--key"))
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        if self.ca is not None:
            ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=_readable(self.ca, self.ca_option))
        if self.cert is not None and self.key is not None:
            try:
                ctx.load_cert_chain(_readable(self.cert, "--cert"), _readable(self.key, "--key"))
            except ssl.SSLError as exc:
                raise TLSConfigError(f"--cert {self.cert} / --key {self.key}: not a PEM certificate and its "
                                     f"private key ({exc.reason or exc})") from None
        return ctx


def _readable(path: Path, option: str) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TLSConfigError(f"{option} {path}: cannot read it: {exc.strerror or exc}") from None
    if b"-----BEGIN " not in data:
        raise TLSConfigError(f"{option} {path}: expected PEM (-----BEGIN ...), found something else")
    return str(path)


_UNKNOWN_ISSUER = {2, 18, 19, 20, 21}  # X509_V_ERR_*: the chain does not end in a trusted CA
_VERIFY_REASONS = {
    9: "the server's certificate is not yet valid",
    10: "the server's certificate has expired",
    62: "the server's certificate is for another host name",
    64: "the server's certificate is for another IP address",
}


def tls_failure(exc: BaseException, ca: Path | None = None) -> str | None:
    """One line saying why TLS failed, if `exc` (or what it wraps) is a TLS error; else None."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ssl.SSLCertVerificationError):
            if cur.verify_code in _UNKNOWN_ISSUER:
                where = f"the CA bundle {ca}" if ca is not None else "the system trust store (pass --ca FILE)"
                reason = f"the server's certificate is not signed by a CA in {where}"
            else:
                reason = _VERIFY_REASONS.get(cur.verify_code, "cannot verify the server's certificate")
            return f"TLS: {reason} ({cur.verify_message})"
        if isinstance(cur, ssl.SSLError):
            text = (cur.reason or str(cur)).lower()
            if "certificate_required" in text or "certificate required" in text:
                return "TLS: the server requires a client certificate (pass --cert and --key)"
            if "unknown_ca" in text or "bad_certificate" in text or "certificate_unknown" in text:
                return "TLS: the server refused the client certificate (not signed by its client CA?)"
            if "certificate_expired" in text:
                return "TLS: the server refused the client certificate: it has expired"
            if "wrong_version_number" in text or "record layer failure" in text:
                return "TLS: the server does not speak TLS there (try http://)"
            return f"TLS: {cur.reason or cur}"
        cur = cur.__cause__ or cur.__context__ or (cur.args[0] if cur.args and isinstance(cur.args[0],
                                                                                           BaseException) else None)
    return None


def closed_after_handshake(cert: Path | None) -> str:
    """Why an https:// server may hang up before answering (TLS 1.3 checks client certificates late)."""
    if cert is None:
        return ("TLS: the server closed the connection without answering; it may require a client certificate "
                "(pass --cert and --key)")
    return (f"TLS: the server closed the connection without answering; it may have refused the client "
            f"certificate {cert} (not signed by its client CA, or expired?)")


@dataclass(frozen=True)
class PeerCertificate:
    """The client certificate a connection presented (already verified against the client CA)."""

    subject: str
    site: str | None  # from the URI SAN fleetyard://site/NAME


def check_agent_peer(principal: Principal, peer: PeerCertificate | None) -> None:
    """An agent token over a connection with a client certificate must be for the certificate's site.

    Forbidden (403) names both sites. Other roles, and connections without a client
    certificate (`--client-ca` asks but does not demand; `--require-client-cert`
    demands one at the TLS layer), pass."""
    if peer is None or principal.role != "agent":
        return
    if peer.site is None:
        raise Forbidden(f"the client certificate ({peer.subject}) names no site: expected a URI SAN "
                        f"fleetyard://site/{principal.site} for the agent token {principal.token_id}")
    if peer.site != principal.site:
        raise Forbidden(f"the client certificate is for site {peer.site}, but token {principal.token_id} "
                        f"is the agent token of site {principal.site}")
