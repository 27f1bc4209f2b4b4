"""Heartbeats/s from one keep-alive client: plain HTTP vs HTTPS vs mutual TLS (docs/tls.md).

    fleetyard pki init --out /tmp/pki/ca
    fleetyard pki server-cert --ca /tmp/pki/ca --dns localhost --ip 127.0.0.1 --out /tmp/pki/server
    fleetyard pki site-cert --ca /tmp/pki/ca --site fra-1 --out /tmp/pki/sites
    python benchmarks/tls_bench.py /tmp/pki
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.server.conftest import FLEET, free_port

from fleetyard.services.client import Client, read_spec_files
from fleetyard.services.tls import ClientTLS
from fleetyard.services.wire import SiteReport

N = 1000


def run(name: str, args: list[str], scheme: str, tls: ClientTLS | None, ca: Path) -> None:
    data = Path(f"/tmp/tlsbench-{name}")
    shutil.rmtree(data, ignore_errors=True)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "fleetyard", "server", "--listen", f"127.0.0.1:{port}",
                             "--data", str(data), "--admin-token-file", str(data / "t"), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "FLEETYARD_FAILOVER": "false"})
    url = f"{scheme}://127.0.0.1:{port}"
    try:
        for _ in range(400):
            try:
                if httpx.get(url + "/healthz", verify=False, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        admin = (data / "t").read_text().strip()
        with Client(url, admin, tls=ClientTLS(ca=ca) if scheme == "https" else None) as c:
            c.apply(read_spec_files([FLEET])[0])
            token = c.create_token("agent", "fra-1").token
        report = SiteReport(site="fra-1", agent_version="bench", revision=None)
        with Client(url, token, tls=tls) as c:
            for _ in range(50):
                c.report(report)
            t = time.perf_counter()
            for _ in range(N):
                c.report(report)
            elapsed = time.perf_counter() - t
    finally:
        proc.terminate()
        proc.wait()
    print(f"{name}: {N / elapsed:.0f} heartbeats/s ({elapsed / N * 1000:.2f} ms each)")


def main() -> None:
    pki = Path(sys.argv[1])
    ca = pki / "ca" / "ca.crt"
    tls = ["--tls-cert", str(pki / "server" / "server.crt"), "--tls-key", str(pki / "server" / "server.key")]
    run("http", [], "http", None, ca)
    run("https", tls, "https", ClientTLS(ca=ca), ca)
    run("mtls", [*tls, "--client-ca", str(ca)], "https",
        ClientTLS(ca=ca, cert=pki / "sites" / "fra-1.crt", key=pki / "sites" / "fra-1.key"), ca)


if __name__ == "__main__":
    main()
