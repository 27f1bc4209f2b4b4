"""A local fleet for failover tests: server with small failover settings, a webhook receiver, replica pids."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from fleetyard.agent.localfleet import LocalFleet, write_model
from fleetyard.services.wire import FleetStatus, SiteStatus
from tests.failover.fleetyaml import SITES, fleet_yaml

GRACE, HOLD_OFF = 3.0, 10.0
HEARTBEAT = 0.5


class Receiver:
    """A local HTTP server that keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.fail_first = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if outer.fail_first > 0:
                    outer.fail_first -= 1
                    self.send_response(503)
                else:
                    outer.bodies.append(body)
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@contextmanager
def failover_fleet(root: Path, db: str | None = None, **env: str) -> Iterator[tuple[LocalFleet, Receiver]]:
    receiver = Receiver()
    fleet = LocalFleet(root, heartbeat=HEARTBEAT)
    try:
        fleet.start_server(env={"FLEETYARD_FAILOVER_GRACE": str(GRACE), "FLEETYARD_FAILOVER_HOLD_OFF": str(HOLD_OFF),
                                "FLEETYARD_TICK_INTERVAL": "0.5", "FLEETYARD_DRIFT_AFTER": "2",
                                "FLEETYARD_EVENT_WEBHOOK": receiver.url, **env}, db=db)
        fleet.push(write_model(root / "model", tensors=2, rows=16), "chat-llm", "1")
        path = root / "fleet" / "fleet.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(fleet_yaml(), encoding="utf-8")
        fleet.apply(path)
        for site in SITES:
            fleet.start_agent(site, extra=["--connect-timeout", "2", "--relay-wait", "0"])
        yield fleet, receiver
    finally:
        fleet.close()
        receiver.close()


def by_site(st: FleetStatus) -> dict[str, SiteStatus]:
    return {s.site: s for s in st.sites}


def runs_chat(s: SiteStatus, replicas: int) -> bool:
    return any(w.name == "chat" and w.model == "chat-llm:1" and w.replicas.desired == replicas
               and w.replicas.healthy == replicas for w in s.workloads)


def chat_sites(st: FleetStatus) -> dict[str, int]:
    return {s.site: s.replicas.desired for s in st.sites if s.replicas.desired}


def replica_pids(data_dir: Path) -> list[int]:
    """Live replica processes of a site, from the process runtime's run/replicas.json."""
    try:
        rows = json.loads((data_dir / "run" / "replicas.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    out = []
    for r in rows:
        try:
            os.kill(int(r["pid"]), 0)
            out.append(int(r["pid"]))
        except ProcessLookupError:
            pass
    return out
