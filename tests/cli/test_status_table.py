"""`fleetyard status` at 80 columns: one line per healthy site, models counted by state; -o wide names them."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console

from fleetyard.cli.server_render import status_table
from fleetyard.services.wire import FleetStatus, ModelStatus, Replicas, SiteStatus


def _status() -> FleetStatus:
    now = datetime.now(UTC)
    models = [ModelStatus(ref="demo-llm:1", state="active", bytes_fetched=2_200_000),
              ModelStatus(ref="demo-llm:2", state="syncing", bytes_fetched=100_000),
              ModelStatus(ref="embed-small:7", state="failed", error="signature does not verify")]
    sites = [SiteStatus(site=f"site-{i}", last_heartbeat=now, models=models[: 1 + i % 3], revision=4,
                        replicas=Replicas(desired=3, running=3, healthy=3), bytes_fetched=2_300_000,
                        sync_progress=1.0) for i in range(4)]
    return FleetStatus(revision=4, sites=sites)


def _render(wide: bool, width: int) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(status_table(_status(), wide=wide))
    return console.export_text()


def test_the_default_table_fits_80_columns_one_line_per_site() -> None:
    text = _render(False, 80)
    assert max(len(line) for line in text.splitlines()) <= 80
    rows = [line for line in text.splitlines() if "site-" in line]
    assert len(rows) == 4 and "…" not in text, text
    assert "1/3 active, 1 failed" in rows[2] and "1/1 active" in rows[0]
    assert "demo-llm:1" not in text


def test_wide_names_every_model_its_state_and_error() -> None:
    text = _render(True, 200)
    assert "demo-llm:1 active" in text and "embed-small:7 failed (signature does not verify)" in text
