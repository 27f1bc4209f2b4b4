"""The agent's port to the control plane: desired state, status, registry sources, tokens.

`ControlPlane` is what the agent needs from the server; `HttpControlPlane` is it over
API v1 (`services.client.Client` and `services.http_backend.HttpBackend`). The same
bearer token the agent uses with the server is the one it shows peers' relays.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from fleetyard.agent.relay import TokenCheckUnavailable
from fleetyard.registry import StorageError, layout
from fleetyard.registry.backends.base import Backend
from fleetyard.services.client import ApiError, Client
from fleetyard.services.http_backend import HttpBackend, RemoteAuthError
from fleetyard.services.identity import METRICS_READERS
from fleetyard.services.tls import ClientTLS
from fleetyard.services.wire import DesiredState, SiteReport

__all__ = ["ControlPlane", "HttpControlPlane"]


class ControlPlane(Protocol):
    """What an agent asks of the server."""

    server_url: str

    def desired(self, site: str) -> DesiredState:
        """The site's desired state (raises services.client.ApiError)."""
        ...

    def report(self, report: SiteReport) -> None:
        """The heartbeat."""
        ...

    def source(self, url: str, throttle: Callable[[int], None] | None) -> Backend:
        """A registry backend on a server or peer relay at `url`."""
        ...

    def check_token(self, token: str) -> bool:
        """Whether the server accepts `token` for reading registry objects."""
        ...

    def check_scrape_token(self, token: str) -> bool:
        """Whether `token` may read this agent's `/metrics` (scrape, viewer and up, agents)."""
        ...

    def close(self) -> None:
        ...


class HttpControlPlane:
    """API v1 over HTTP."""

    def __init__(self, server_url: str, token: str, *, timeout: float = 30.0, tls: ClientTLS | None = None) -> None:
        self.server_url = server_url.rstrip("/")
        self._token = token
        self._timeout = timeout
        self._tls = tls
        # Peers' tokens are checked without this site's certificate: under mutual TLS the server
        # binds an agent token to the certificate's site, and a peer's token is another site's.
        self._probe_tls = ClientTLS(ca=tls.ca) if tls is not None else None
        self._client = Client(self.server_url, token, timeout=timeout, tls=tls)
        self._sources: dict[str, HttpBackend] = {}
        self._lock = threading.Lock()

    def desired(self, site: str) -> DesiredState:
        return self._client.desired(site)

    def report(self, report: SiteReport) -> None:
        self._client.report(report)

    def source(self, url: str, throttle: Callable[[int], None] | None) -> Backend:
        key = url.rstrip("/")
        with self._lock:
            backend = self._sources.get(key)
            if backend is None:
                backend = self._sources[key] = HttpBackend(key, self._token, timeout=self._timeout, throttle=throttle,
                                                                   tls=self._tls)
            return backend

    def check_token(self, token: str) -> bool:
        with HttpBackend(self.server_url, token, timeout=10.0, tls=self._probe_tls) as probe:
            try:
                return probe.exists(layout.MARKER)
            except RemoteAuthError:
                return False
            except StorageError as exc:
                raise TokenCheckUnavailable(str(exc)) from exc

    def check_scrape_token(self, token: str) -> bool:
        try:
            with Client(self.server_url, token, timeout=10.0, tls=self._probe_tls) as probe:
                return probe.whoami().role in METRICS_READERS
        except ApiError as exc:
            if exc.status in (401, 403):
                return False
            raise TokenCheckUnavailable(exc.message) from exc

    def close(self) -> None:
        self._client.close()
        with self._lock:
            for b in self._sources.values():
                b.close()
            self._sources.clear()
