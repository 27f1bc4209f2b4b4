"""A cheap heartbeat load generator: pre-encoded HTTP/1.1 requests on keep-alive sockets.

httpx costs the generator about as much CPU per request as the server spends on it, so
on a 2-core machine it, not the server, sets the ceiling. This one writes prepared
bytes and reads the answer's head (a 204 has no body), a few tens of microseconds per
request. `clients` connections are spread round-robin over the servers' URLs.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

VARIANTS = 16  # distinct bodies per site (the beat counter changes what is stored)


def _request(host: str, site: str, token: str, body: bytes) -> bytes:
    head = (f"PUT /api/v1/sites/{site}/status HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


async def _worker(url: str, requests: list[bytes], stop_at: float, measure_from: float,
                  lat: list[float], errors: list[int]) -> None:
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    i = 0
    try:
        while (now := time.monotonic()) < stop_at:
            t0 = time.perf_counter()
            writer.write(requests[i % len(requests)])
            i += 1
            head = await reader.readuntil(b"\r\n\r\n")
            ok = head.startswith(b"HTTP/1.1 204")
            if not ok:  # an error answer has a body: read it so the stream stays in step
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                await reader.readexactly(length)
            if now >= measure_from:
                if ok:
                    lat.append(time.perf_counter() - t0)
                else:
                    errors[0] += 1
    finally:
        writer.close()


def run(urls: list[str], tokens: dict[str, str], clients: int, warmup: float, seconds: float,
        report: Callable[[str, int], dict[str, Any]]) -> dict[str, Any]:
    """Heartbeats as fast as the servers answer; latency percentiles over `seconds` after `warmup`."""
    sites = sorted(tokens)
    lat: list[float] = []
    errors = [0]

    async def main() -> None:
        stop_at = time.monotonic() + warmup + seconds
        measure_from = time.monotonic() + warmup
        jobs = []
        for k in range(clients):
            url = urls[k % len(urls)]
            host = urlsplit(url).netloc
            mine = sites[k::clients] or sites
            reqs = [_request(host, s, tokens[s], json.dumps(report(s, v)).encode())
                    for v in range(VARIANTS) for s in mine]
            jobs.append(_worker(url, reqs, stop_at, measure_from, lat, errors))
        await asyncio.gather(*jobs)

    asyncio.run(main())
    lat.sort()
    return {"count": len(lat), "errors": errors[0], "seconds": seconds,
            "p50_ms": 1000 * lat[len(lat) // 2] if lat else None,
            "p99_ms": 1000 * lat[int(len(lat) * 0.99)] if lat else None,
            "mean_ms": 1000 * sum(lat) / len(lat) if lat else None}
