"""Prometheus done the usual way (issue 13): request-latency histograms by route template from
starlette-exporter, bounded labels whatever clients send, a `scrape` role that reads /metrics and
nothing else, and the scrape config in deploy/prometheus that docs/prometheus.md shows."""

from __future__ import annotations

import random
import re
from pathlib import Path

import httpx
import yaml

from tests.server.conftest import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
LINE = re.compile(r'^(?P<name>[a-z_]+)\{(?P<labels>.*)\} (?P<value>[0-9.e+-]+|[+-]Inf|NaN)$')


def series(text: str, name: str) -> dict[frozenset[tuple[str, str]], float]:
    """Every sample of metric `name` by its label set."""
    out = {}
    for line in text.splitlines():
        m = LINE.match(line)
        if m and m["name"] == name:
            labels = frozenset(tuple(kv.split("=", 1)) for kv in re.findall(r'[a-z_]+="[^"]*"', m["labels"]))
            out[frozenset((k, v.strip('"')) for k, v in labels)] = float(m["value"])
    return out


def count(text: str, path: str, status: str) -> float:
    got = [v for labels, v in series(text, "fleetyard_http_request_duration_seconds_count").items()
           if ("path", path) in labels and ("status_code", status) in labels and ("method", "GET") in labels]
    return sum(got)


def test_latency_histogram_counts_requests_by_route_template(server: ServerProcess) -> None:
    with server.client() as api:
        before = api.metrics()
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.admin_token}"}) as http:
            for i in range(7):
                assert http.get(f"/api/v1/resources/site/no-such-site-{i}").status_code == 404
        after = api.metrics()
    template = "/api/v1/resources/{kind}/{name}"
    assert count(after, template, "404") - count(before, template, "404") == 7
    buckets = {dict(labels)["le"]: v for labels, v in series(after, "fleetyard_http_request_duration_seconds_bucket")
               .items() if ("path", template) in labels and ("status_code", "404") in labels}
    assert {"0.005", "0.1", "1.0", "10.0", "+Inf"} <= set(buckets)
    assert buckets["+Inf"] == count(after, template, "404")  # every request falls in the last bucket
    assert all(buckets[a] <= buckets[b] for a, b in zip(sorted(buckets, key=lambda x: float(x)),
                                                         sorted(buckets, key=lambda x: float(x))[1:], strict=False))
    assert "no-such-site-3" not in after  # never the raw path


def test_unknown_paths_share_one_label(server: ServerProcess) -> None:
    rng = random.Random(13)
    with httpx.Client(base_url=server.url) as http:
        for _ in range(200):
            path = "/" + "/".join(f"{rng.getrandbits(40):x}" for _ in range(rng.randint(1, 4)))
            assert http.get(path).status_code == 404
    with server.client() as api:
        text = api.metrics()
    paths = {dict(labels)["path"] for labels in series(text, "fleetyard_http_requests_total")}
    assert "__unknown__" in paths
    assert all(p.startswith(("/api/", "/ui", "/metrics", "/healthz", "/docs", "/openapi", "__unknown__"))
               for p in paths), paths
    assert len(paths) < 80  # the routes the app has, not the 200 paths sent


def test_a_scrape_token_reads_metrics_and_nothing_else(server: ServerProcess) -> None:
    with server.client() as api:
        scrape = api.create_token("scrape", description="prometheus").token
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {scrape}"}) as http:
        r = http.get("/metrics")
        assert r.status_code == 200 and "fleetyard_sites" in r.text
        assert http.get("/api/v1/whoami").json()["role"] == "scrape"
        for path in ("/api/v1/status", "/api/v1/plan", "/api/v1/resources/site", "/api/v1/models",
                     "/api/v1/registry/objects?prefix=", "/api/v1/audit", "/api/v1/tokens", "/api/v1/events",
                     "/api/v1/metrics", "/api/v1/sites/fra-1/desired"):
            got = http.get(path)
            assert got.status_code == 403, (path, got.status_code, got.text)
            assert "this needs" in got.json()["detail"]
        done = http.post("/ui/login", data={"token": scrape}, headers={"Origin": server.url},
                         follow_redirects=False)
        assert done.status_code == 401 and "has role scrape; the dashboard needs" in done.text
        assert "fleetyard_session" not in done.headers.get("set-cookie", "")


def test_a_scrape_token_cannot_be_bound_to_a_site(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.admin_token}"}) as http:
        r = http.post("/api/v1/tokens", json={"role": "scrape", "site": "fra-1"})
    assert r.status_code == 422 and "only for agent tokens" in r.text


def test_viewers_still_read_metrics_and_agents_do_not(server: ServerProcess) -> None:
    with server.client() as api:
        viewer = api.create_token("viewer").token
        agent = api.create_token("agent", "fra-1").token
    with httpx.Client(base_url=server.url) as http:
        assert http.get("/metrics", headers={"Authorization": f"Bearer {viewer}"}).status_code == 200
        assert http.get("/metrics", headers={"Authorization": f"Bearer {agent}"}).status_code == 403
        assert http.get("/metrics").status_code == 401


def test_the_shipped_scrape_config_uses_token_files_and_the_documented_jobs() -> None:
    doc = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    jobs = {j["job_name"]: j for j in doc["scrape_configs"]}
    assert set(jobs) == {"fleetyard-server", "fleetyard-agents"}
    for job in jobs.values():
        auth = job["authorization"]
        assert auth["type"] == "Bearer" and auth["credentials_file"].endswith(".token") and "credentials" not in auth
        assert job["metrics_path"] == "/metrics"
    assert jobs["fleetyard-server"]["static_configs"][0]["targets"]
    assert jobs["fleetyard-agents"]["file_sd_configs"][0]["files"]
    text = (ROOT / "docs" / "prometheus.md").read_text(encoding="utf-8")
    assert "credentials_file" in text and "fleetyard token create --role scrape" in text
    assert "fleetyard_http_request_duration_seconds_bucket" in text
