"""The Grafana dashboard (deploy/grafana/fleetyard.json) charts only metrics the server exports."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from fleetyard.server.metrics import Metrics, exposition, install_request_metrics
from fleetyard.services.db import Database, migrate
from fleetyard.services.telemetry import store
from fleetyard.services.wire_telemetry import SERIES, Sample

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "fleetyard.json"
METRIC = re.compile(r"\b(fleetyard_[a-z0-9_]+)")


def _exported(tmp_path: Path) -> set[str]:
    """The metric names of a real server's registry, with a site that reported every series."""
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(db.engine)
    values = {name if not info.label else f"{name}/x": 1.0 for name, info in SERIES.items()}
    with db.session() as s:
        store.ingest(s, "fra-1", [Sample(t=datetime.now(UTC), values=values)])
        s.commit()
    web = Starlette(routes=[Route("/x", lambda _r: PlainTextResponse("x"))])
    install_request_metrics(web)
    with TestClient(web) as http:  # the request metrics exist once a request was measured
        http.get("/x")
    text = exposition(Metrics(db, 5.0)).decode()
    db.dispose()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}


def test_the_dashboard_is_valid_and_uses_exported_metrics(tmp_path: Path) -> None:
    doc = json.loads(DASHBOARD.read_text())
    assert doc["schemaVersion"] >= 39 and doc["__inputs"][0]["name"] == "DS_PROMETHEUS"
    [site] = doc["templating"]["list"]
    assert site["name"] == "site" and site["query"]["query"] == "label_values(fleetyard_site_it_kw, site)"
    exported = _exported(tmp_path)
    exprs = [t["expr"] for p in doc["panels"] for t in p["targets"]] + [site["query"]["query"]]
    used = {m for e in exprs for m in METRIC.findall(e)}
    assert len(doc["panels"]) >= 10 and used
    assert used - exported == set(), f"the dashboard charts metrics the server does not export: {used - exported}"
    titles = {p["title"] for p in doc["panels"]}
    assert {"GPU power", "IT power", "Request rate", "Error ratio", "p99 latency", "Sync lag",
            "Control plane p99 latency by route"} <= titles
    assert all(p["datasource"]["uid"] == "${DS_PROMETHEUS}" for p in doc["panels"])
