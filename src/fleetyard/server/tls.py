"""HTTPS and mutual TLS for uvicorn, and the client certificate of each request (docs/tls.md).

uvicorn (0.29 to 0.55 at least) verifies client certificates but does not put them in
the ASGI scope (no `extensions.tls`). Its HTTP protocol objects live one per connection
and copy their `app_state` into every request's `scope["state"]`, and asyncio calls
`connection_made` only once the TLS handshake is done. So `peer_aware(protocol)` is a
subclass that reads the verified peer certificate there, once per connection, and adds
it to that connection's copy of `app_state`; `peer_of(request)` reads it back.
"""

from __future__ import annotations

import asyncio
import ssl
import sys
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from starlette.requests import Request

from fleetyard.server.settings import Settings
from fleetyard.services.pki import site_of
from fleetyard.services.tls import PeerCertificate, TLSConfigError

__all__ = ["PEER_KEY", "peer_aware", "peer_of", "uvicorn_tls_options"]

PEER_KEY = "fleetyard.peer_certificate"


def _peer(transport: asyncio.BaseTransport) -> PeerCertificate | None:
    ssl_object = transport.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if not der:
        return None
    cert = x509.load_der_x509_certificate(der)
    return PeerCertificate(subject=cert.subject.rfc4514_string(), site=site_of(cert))


def peer_aware(base: Any) -> Any:
    """`base` (a uvicorn HTTP protocol class) that records each connection's client certificate."""

    class PeerAware(base):  # type: ignore[misc]
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            state: dict[str, Any] = getattr(self, "app_state", {})
            self.app_state = {**state, PEER_KEY: _peer(transport)}

    PeerAware.__name__ = PeerAware.__qualname__ = f"PeerAware{base.__name__}"
    return PeerAware


def peer_of(request: Request) -> PeerCertificate | None:
    """The verified client certificate of the request's connection (None without one)."""
    state = request.scope.get("state") or {}
    peer = state.get(PEER_KEY)
    return peer if isinstance(peer, PeerCertificate) else None


def _check_files(settings: Settings) -> None:
    """Load what uvicorn will load, so a wrong file is one line naming it (TLSConfigError)."""
    assert settings.tls_cert is not None and settings.tls_key is not None
    for option, path in (("--tls-cert", settings.tls_cert), ("--tls-key", settings.tls_key),
                         ("--client-ca", settings.client_ca)):
        if path is None:
            continue
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise TLSConfigError(f"{option} {path}: cannot read it: {exc.strerror or exc}") from None
        if b"-----BEGIN " not in data:
            raise TLSConfigError(f"{option} {path}: expected PEM (-----BEGIN ...), found something else")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(settings.tls_cert, settings.tls_key)
    except ssl.SSLError as exc:
        raise TLSConfigError(f"--tls-cert {settings.tls_cert} / --tls-key {settings.tls_key}: not a certificate "
                             f"and its private key ({exc.reason or exc})") from None
    if settings.client_ca is not None:
        try:
            ctx.load_verify_locations(settings.client_ca)
        except ssl.SSLError as exc:
            raise TLSConfigError(f"--client-ca {settings.client_ca}: not a PEM CA bundle ({exc.reason or exc})") \
                from None
    cert = x509.load_pem_x509_certificate(settings.tls_cert.read_bytes())
    now = datetime.now(UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        print(f"fleetyard server: warning: --tls-cert {settings.tls_cert} is valid only from "
              f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} to {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC; "
              "clients will refuse it", file=sys.stderr, flush=True)


def uvicorn_tls_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments of `uvicorn.run` for the settings' TLS (none for plain HTTP)."""
    if not settings.tls:
        return {}
    _check_files(settings)
    options: dict[str, Any] = {"ssl_certfile": str(settings.tls_cert), "ssl_keyfile": str(settings.tls_key)}
    if settings.client_ca is not None:
        from uvicorn.protocols.http.auto import AutoHTTPProtocol

        options |= {"ssl_ca_certs": str(settings.client_ca),
                    "ssl_cert_reqs": ssl.CERT_REQUIRED if settings.require_client_cert else ssl.CERT_OPTIONAL,
                    "http": peer_aware(AutoHTTPProtocol)}
    return options
