"""A real loopback HTTP control plane for telemetry tests: serves a desired state and records
every status report body, answering 204 - or 503 while `down`; `cut` stops it listening."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fleetyard.services.wire import DesiredState, SiteReport

__all__ = ["Receiver"]


class Receiver:
    """GET .../desired answers `desired`; PUT .../status is recorded in `accepted` or `refused`."""

    def __init__(self, desired: DesiredState) -> None:
        self.desired = desired
        self.down = False
        self.accepted: list[SiteReport] = []
        self.refused: list[SiteReport] = []
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def _send(self, code: int, body: bytes = b"") -> None:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if not self.path.endswith("/desired"):
                    self._send(404, b'{"detail": "no such route"}')
                    return
                with owner.lock:
                    body = owner.desired.model_dump_json(by_alias=True).encode()
                self._send(200, body)

            def do_PUT(self) -> None:
                report = SiteReport.model_validate_json(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                with owner.lock:
                    down = owner.down
                    (owner.refused if down else owner.accepted).append(report)
                if down:
                    self._send(503, b'{"detail": "the link is down"}')
                else:
                    self.send_response(204)
                    self.end_headers()

        self._handler = Handler
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.http.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def cut(self) -> None:
        """Stop listening: connections are refused (the link is lost), until `restore`."""
        self.http.shutdown()
        self.http.server_close()

    def restore(self) -> None:
        """Listen again on the same port."""
        self.http = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def counts(self) -> tuple[int, int]:
        """(reports accepted, reports refused) so far."""
        with self.lock:
            return len(self.accepted), len(self.refused)

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()
