"""Mutual TLS against a real `fleetyard server --client-ca`: an agent's site certificate must
name its token's site (403 otherwise), on the API and on the heartbeat; a real
`fleetyard agent` with its site's certificate heartbeats, one with another site's exits 2;
`--require-client-cert` refuses a client without a certificate at the TLS layer."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fleetyard.services.client import ApiError, TLSError
from fleetyard.services.tls import ClientTLS
from fleetyard.services.wire import SiteReport
from tests.replication.models import write_keys
from tests.tls.conftest import Pki, TlsServer, tls_server

DEADLINE = 90.0


def _agent_token(server: TlsServer, site: str) -> str:
    with server.client() as api:
        return api.create_token("agent", site).token


def test_an_agent_token_works_with_its_sites_certificate_and_is_403_with_anothers(mtls_server: TlsServer,
                                                                                   pki: Pki) -> None:
    token = _agent_token(mtls_server, "fra-1")
    with mtls_server.client(token, pki.site("fra-1")) as api:
        assert api.whoami().site == "fra-1"
        assert api.desired("fra-1").site == "fra-1"
        api.report(SiteReport(site="fra-1", agent_version="test", revision=None))
    with mtls_server.client(token, pki.site("par-1")) as api:
        for call in (lambda: api.desired("fra-1"),
                     lambda: api.report(SiteReport(site="fra-1", agent_version="test", revision=None))):
            with pytest.raises(ApiError) as refused:
                call()
            assert refused.value.status == 403
            assert ("the client certificate is for site par-1, but token " in refused.value.message
                    and "is the agent token of site fra-1" in refused.value.message)
    with mtls_server.client() as api:  # the refused heartbeat did not count: fra-1's is the first one
        fra = next(s for s in api.status().sites if s.site == "fra-1")
        assert fra.agent_version == "test"


def test_a_certificate_from_another_ca_is_refused_in_the_handshake(mtls_server: TlsServer, pki: Pki) -> None:
    token = _agent_token(mtls_server, "par-1")
    with mtls_server.client(token, pki.site("par-1", ca="foreign")) as api, pytest.raises(TLSError) as refused:
        api.desired("par-1")
    assert "TLS:" in refused.value.message and "client certificate" in refused.value.message


def test_tokens_without_a_certificate_still_work_when_certificates_are_optional(mtls_server: TlsServer) -> None:
    with mtls_server.client() as api:  # the admin's CLI: a token, no certificate
        assert api.whoami().role == "admin"
    assert "client certificates from" in mtls_server.log.read_text()


def _agent(server: TlsServer, pki: Pki, root: Path, site: str, token: str, tls: ClientTLS) -> subprocess.Popen[bytes]:
    _, pub = write_keys(root / "keys", "release")
    token_file = root / "agent.token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    args = [sys.executable, "-m", "fleetyard", "agent", "--site", site, "--server", server.url,
            "--token-file", str(token_file), "--data-dir", str(root / "data"), "--trust-key", str(pub),
            "--heartbeat", "0.5", "--connect-timeout", "5", "--ca", str(tls.ca), "--cert", str(tls.cert),
            "--key", str(tls.key)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETYARD_")}
    with open(root / "agent.log", "wb") as log:
        return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)


def test_a_real_agent_heartbeats_with_its_sites_certificate(mtls_server: TlsServer, pki: Pki,
                                                            tmp_path: Path) -> None:
    proc = _agent(mtls_server, pki, tmp_path, "ams-1", _agent_token(mtls_server, "ams-1"), pki.site("fra-1"))
    proc.wait(timeout=DEADLINE)  # the certificate is fra-1's: refused at once, no retries
    log = (tmp_path / "agent.log").read_text()
    assert proc.returncode == 2, log
    assert "the client certificate is for site fra-1" in log and "Traceback" not in log

    right = tmp_path / "right"
    right.mkdir()
    token = _agent_token(mtls_server, "par-1")
    proc = _agent(mtls_server, pki, right, "par-1", token, pki.site("par-1"))
    try:
        deadline = time.monotonic() + DEADLINE
        beat = None
        with mtls_server.client() as api:
            while beat is None:
                assert proc.poll() is None, (right / "agent.log").read_text()
                assert time.monotonic() < deadline, (right / "agent.log").read_text()
                beat = next(s for s in api.status().sites if s.site == "par-1").last_heartbeat
                time.sleep(0.2)
        assert all(token not in str(a) for a in proc.args)  # type: ignore[union-attr]  # a file, not the token
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_an_agent_with_the_wrong_ca_logs_the_refusal_and_exits_2(mtls_server: TlsServer, pki: Pki,
                                                                 tmp_path: Path) -> None:
    fra = pki.site("fra-1")
    site = ClientTLS(ca=pki.other_ca, cert=fra.cert, key=fra.key)
    proc = _agent(mtls_server, pki, tmp_path, "fra-1", _agent_token(mtls_server, "fra-1"), site)
    proc.wait(timeout=DEADLINE)
    log = (tmp_path / "agent.log").read_text()
    assert proc.returncode == 2, log
    assert "refused the control plane at" in log and "not signed by a CA in the CA bundle" in log
    assert "Traceback" not in log


def test_require_client_cert_refuses_a_client_without_one(tmp_path: Path, pki: Pki) -> None:
    server = tls_server(tmp_path, pki, "server", "--client-ca", str(pki.ca), "--require-client-cert")
    server.start(health=pki.site("fra-1"))
    try:
        with server.client(tls=ClientTLS(ca=pki.ca)) as api, pytest.raises(TLSError) as refused:
            api.whoami()
        assert "client certificate" in refused.value.message
        with server.client(tls=pki.site("fra-1")) as api:  # the admin token, over a certificate
            assert api.whoami().role == "admin"
        cli = [sys.executable, "-m", "fleetyard", "--ca", str(pki.ca), "--token-file", str(server.admin_token_file)]
        r = subprocess.run([*cli, "status", "--server", server.url], capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and "may require a client certificate (pass --cert and --key)" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
        fra = pki.site("fra-1")
        ok = subprocess.run([*cli, "--cert", str(fra.cert), "--key", str(fra.key), "status", "--server", server.url],
                            capture_output=True, text=True, timeout=120)
        assert ok.returncode == 0, ok.stderr
    finally:
        server.stop()
