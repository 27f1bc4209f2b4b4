"""Leader failover: kill -9 the server that runs the background jobs; how long until another does.

    .venv/bin/python benchmarks/leader_bench.py [--servers 3] [--rounds 5] [--tick 1.0]

Starts `--servers` real `fleetyard server` processes on one throwaway PostgreSQL
database (127.0.0.1:5432) with the default tick interval, finds the leader from each
server's `/metrics` (`fleetyard_server_leader 1`), SIGKILLs it, and polls the others
every 50 ms until one says it leads; the killed one is started again as a follower for
the next round. Target (issue 14): background work resumes within 10 s. The time to
notice a dead *host* (no FIN on its sockets) is the TCP keepalive, about 11 s (services/leader.py).
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from machineinfo import machine
from server_bench import PG_ADMIN, free_port

LEADER = re.compile(r"^fleetyard_server_leader (\S+)$", re.M)


class Server:
    def __init__(self, data: Path, db: str, tick: float) -> None:
        self.data, self.db, self.tick = data, db, tick
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        log = open(self.data / "server.log", "ab")
        env = {**os.environ, "FLEETYARD_TICK_INTERVAL": str(self.tick)}
        self.proc = subprocess.Popen([sys.executable, "-m", "fleetyard", "server", "--listen",
                                      f"127.0.0.1:{self.port}", "--data", str(self.data), "--db", self.db,
                                      "--admin-token-file", str(self.data / "admin.token")],
                                     stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise SystemExit(f"server did not start:\n{(self.data / 'server.log').read_text()}")

    def leading(self, token: str) -> bool | None:
        try:
            r = httpx.get(f"http://127.0.0.1:{self.port}/metrics", headers={"Authorization": f"Bearer {token}"},
                          timeout=5)
        except httpx.HTTPError:
            return None
        m = LEADER.search(r.text)
        return bool(m and float(m.group(1)) == 1.0)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


def wait_leader(servers: list[Server], token: str, timeout: float = 60) -> Server:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for s in servers:
            if s.leading(token):
                return s
        time.sleep(0.05)
    raise SystemExit("no leader within 60 s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--servers", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tick", type=float, default=1.0)
    args = ap.parse_args()
    import psycopg

    name = f"fleetyard_bench_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db = f"postgresql+psycopg://root@127.0.0.1:5432/{name}"
    root = Path(tempfile.mkdtemp(prefix="fleetyard-leader-"))
    print(machine("psycopg", "sqlalchemy"), flush=True)
    servers = [Server(root / f"s{i}", db, args.tick) for i in range(args.servers)]
    try:
        servers[0].start()
        token = (root / "s0" / "admin.token").read_text().strip()
        for s in servers[1:]:
            s.start()
        times = []
        for r in range(args.rounds):
            leader = wait_leader(servers, token)
            rest = [s for s in servers if s is not leader]
            t0 = time.monotonic()
            leader.kill()
            successor = wait_leader(rest, token)
            times.append(time.monotonic() - t0)
            print(f"round {r + 1}: leader :{leader.port} killed, :{successor.port} leads after {times[-1]:.2f} s",
                  flush=True)
            leader.start()
        print(f"leader failover with {args.servers} servers, tick {args.tick} s: min {min(times):.2f} / median "
              f"{statistics.median(times):.2f} / max {max(times):.2f} s over {len(times)} kills (target <= 10 s)")
    finally:
        for s in servers:
            s.stop()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
