"""`fleetyard server --tls-cert --tls-key` as a real process, called by the real CLI over HTTPS:
the right CA works (flag, environment, context), a wrong CA, an expired certificate and a
certificate for another address are one line and exit 2; plain HTTP stays the default."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.conftest import ServerProcess
from tests.tls.conftest import Pki, TlsServer, tls_server


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("FLEETYARD_")}
    return subprocess.run([sys.executable, "-m", "fleetyard", *args], capture_output=True, text=True, timeout=120,
                          env={**base, "FLEETYARD_CONFIG": "/nonexistent/config.yaml", **(env or {})})


def _get_sites(server: TlsServer, *global_args: str, env: dict[str, str] | None = None,
               url: str | None = None) -> subprocess.CompletedProcess[str]:
    return _cli(*global_args, "--token-file", str(server.admin_token_file), "get", "sites", "--server",
                url or server.url, "-o", "json", env=env)


def _one_line_exit_2(r: subprocess.CompletedProcess[str], *words: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and r.stdout == ""
    line = r.stderr.strip()
    assert "\n" not in line, line
    for w in words:
        assert w in line, line


def test_the_right_ca_works_from_the_flag_the_environment_and_a_context(https_server: TlsServer, pki: Pki,
                                                                         tmp_path: Path) -> None:
    r = _get_sites(https_server, "--ca", str(pki.ca))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
    assert _get_sites(https_server, env={"FLEETYARD_CA": str(pki.ca)}).returncode == 0
    config = tmp_path / "config.yaml"
    config.write_text(f"current-context: pilot\ncontexts:\n  - name: pilot\n    server: {https_server.url}\n"
                      f"    token-file: {https_server.admin_token_file}\n    ca: {pki.ca}\n")
    ctx = _cli("get", "sites", "-o", "json", env={"FLEETYARD_CONFIG": str(config)})
    assert ctx.returncode == 0, ctx.stderr
    assert "listening on https://127.0.0.1" in https_server.log.read_text()


def test_a_wrong_ca_or_none_is_refused_with_the_reason(https_server: TlsServer, pki: Pki) -> None:
    _one_line_exit_2(_get_sites(https_server, "--ca", str(pki.other_ca)),
                     "TLS: the server's certificate is not signed by a CA in the CA bundle", str(pki.other_ca))
    _one_line_exit_2(_get_sites(https_server), "not signed by a CA in the system trust store (pass --ca FILE)")
    _one_line_exit_2(_get_sites(https_server, "--ca", str(pki.root / "nope.crt")),
                     "--ca", "nope.crt: cannot read it")


def test_an_http_url_for_an_https_server_says_so(https_server: TlsServer, pki: Pki) -> None:
    r = _get_sites(https_server, "--ca", str(pki.ca), url=https_server.url.replace("https://", "http://"))
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "does the server speak https:// there?" in r.stderr


@pytest.fixture(scope="module")
def expired_server(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[TlsServer]:
    server = tls_server(tmp_path_factory.mktemp("expired"), pki, "expired").start()
    try:
        yield server
    finally:
        server.stop()


def test_an_expired_server_certificate_is_refused(expired_server: TlsServer, pki: Pki) -> None:
    _one_line_exit_2(_get_sites(expired_server, "--ca", str(pki.ca)),
                     "TLS: the server's certificate has expired (certificate has expired)")
    assert "warning: --tls-cert" in expired_server.log.read_text()  # the server said so at start


def test_a_certificate_for_another_address_is_refused(tmp_path: Path, pki: Pki) -> None:
    server = tls_server(tmp_path / "elsewhere", pki, "elsewhere").start()
    try:
        _one_line_exit_2(_get_sites(server, "--ca", str(pki.ca)),
                         "TLS: the server's certificate is for another IP address")
    finally:
        server.stop()


def test_plain_http_stays_the_default(tmp_path: Path, pki: Pki) -> None:
    plain = ServerProcess(tmp_path / "plain").start()
    try:
        token = str(plain.data / "admin.token")
        ok = _cli("--token-file", token, "get", "sites", "--server", plain.url, "-o", "json")
        assert ok.returncode == 0, ok.stderr
        assert "listening on http://127.0.0.1" in plain.log.read_text()
        tls = _cli("--ca", str(pki.ca), "--token-file", token, "get", "sites", "--server",
                   plain.url.replace("http://", "https://"))
        _one_line_exit_2(tls, "TLS:")
    finally:
        plain.stop()


@pytest.mark.parametrize(("args", "words"), [
    (["--tls-cert", "{junk}", "--tls-key", "{junk}"], ["--tls-cert", "expected PEM"]),
    (["--tls-cert", "{crt}"], ["--tls-cert and --tls-key go together"]),
    (["--tls-cert", "{crt}", "--tls-key", "{wrongkey}"], ["not a certificate and its private key"]),
    (["--client-ca", "{ca}"], ["--client-ca needs --tls-cert"]),
    (["--tls-cert", "{crt}", "--tls-key", "{key}", "--require-client-cert"], ["--require-client-cert needs"]),
])
def test_bad_server_tls_options_exit_2_before_anything_is_written(tmp_path: Path, pki: Pki, args: list[str],
                                                                   words: list[str]) -> None:
    (tmp_path / "junk.pem").write_text("junk")
    crt, key = pki.server()
    names = {"junk": str(tmp_path / "junk.pem"), "crt": str(crt), "key": str(key), "ca": str(pki.ca),
             "wrongkey": str(pki.root / "sites" / "fra-1.key")}
    data = tmp_path / "data"
    r = _cli("server", "--listen", "127.0.0.1:0", "--data", str(data), *[a.format(**names) for a in args])
    _one_line_exit_2(r, *words)
    assert not data.exists()  # refused before the database was made
