"""Fixtures for TLS: a pilot PKI made with `services/pki.py`, and `fleetyard server` over HTTPS.

The PKI (per test module): a CA with a server certificate for localhost/127.0.0.1, site
certificates for fra-1 and par-1, a second, unrelated CA (with a par-1 certificate of its
own), a server certificate that expired a year ago and one issued for another address.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from fleetyard.services.client import Client
from fleetyard.services.pki import issue_server, issue_site, make_ca, write_pair
from fleetyard.services.tls import ClientTLS
from tests.server.conftest import FLEET, free_port

START_TIMEOUT = 40.0


@dataclass(frozen=True)
class Pki:
    root: Path

    @property
    def ca(self) -> Path:
        return self.root / "ca" / "ca.crt"

    @property
    def other_ca(self) -> Path:
        return self.root / "other" / "ca.crt"

    def server(self, name: str = "server") -> tuple[Path, Path]:
        return self.root / name / "server.crt", self.root / name / "server.key"

    def site(self, site: str, ca: str = "sites") -> ClientTLS:
        return ClientTLS(ca=self.ca, cert=self.root / ca / f"{site}.crt", key=self.root / ca / f"{site}.key")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root = tmp_path_factory.mktemp("pki")
    ca, other = make_ca("test CA"), make_ca("someone else's CA")
    write_pair(root / "ca", "ca", ca)
    write_pair(root / "other", "ca", other)
    write_pair(root / "server", "server", issue_server(ca, dns=["localhost"], ips=["127.0.0.1"]))
    write_pair(root / "expired", "server", issue_server(ca, dns=["localhost"], ips=["127.0.0.1"], days=30,
                                                        not_before=datetime.now(UTC) - timedelta(days=365)))
    write_pair(root / "elsewhere", "server", issue_server(ca, dns=["cp.example.internal"], ips=["10.9.8.7"]))
    for site in ("fra-1", "par-1"):
        write_pair(root / "sites", site, issue_site(ca, site))
    write_pair(root / "foreign", "par-1", issue_site(other, "par-1"))
    return Pki(root)


@dataclass
class TlsServer:
    """`python -m fleetyard server --tls-cert ... [--client-ca ...]` on a free loopback port."""

    data: Path
    args: list[str]
    ca: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.data / "server.log"

    @property
    def admin_token_file(self) -> Path:
        return self.data / "admin.token"

    @property
    def admin_token(self) -> str:
        return self.admin_token_file.read_text().strip()

    def start(self, health: ClientTLS | None = None) -> TlsServer:
        """Started once `/healthz` answers (over TLS unverified, or verified with `health`)."""
        self.data.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "fleetyard", "server", "--listen", f"127.0.0.1:{self.port}",
               "--data", str(self.data), "--admin-token-file", str(self.admin_token_file), *self.args]
        env = {**os.environ, "FLEETYARD_HEARTBEAT_INTERVAL": "2", "FLEETYARD_FAILOVER": "false"}
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        # Unverified by default: the expired and misnamed certificates must serve too.
        verify = health.verify() if health is not None else False
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0, verify=verify).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server not up within {START_TIMEOUT} s:\n{self.log.read_text()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def client(self, token: str | None = None, tls: ClientTLS | None = None) -> Client:
        return Client(self.url, token if token is not None else self.admin_token, timeout=60,
                      tls=tls or ClientTLS(ca=self.ca))


def tls_server(root: Path, pki: Pki, cert: str = "server", *extra: str) -> TlsServer:
    crt, key = pki.server(cert)
    return TlsServer(root, ["--tls-cert", str(crt), "--tls-key", str(key), *extra], pki.ca)


@pytest.fixture(scope="module")
def https_server(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[TlsServer]:
    """TLS without client certificates, holding the test fleet."""
    server = tls_server(tmp_path_factory.mktemp("https"), pki).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def mtls_server(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[TlsServer]:
    """TLS asking for client certificates from the test CA (CERT_OPTIONAL), holding the test fleet."""
    from fleetyard.services.client import read_spec_files

    server = tls_server(tmp_path_factory.mktemp("mtls"), pki, "server", "--client-ca", str(pki.ca)).start()
    try:
        files, problems = read_spec_files([FLEET])
        assert problems == []
        with server.client() as api:
            api.apply(files)
        yield server
    finally:
        server.stop()
