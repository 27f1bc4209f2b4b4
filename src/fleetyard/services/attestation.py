"""Hardware attestation light for the server (issue 14, item 5; docs/attestation.md).

Each heartbeat may carry the GPUs the agent found (`SiteReport.inventory`); it is stored
with the report (the last one per site). From it and the Site as stored now:

- `inventory_status`: found against declared, for `GET /api/v1/status`, the CLI and the
  `fleetyard_site_gpus_*` gauges;
- `found_counts`: GPUs per SKU at every site whose agent's last probe worked - what the
  planner may use with `fleetyard server --attested-capacity` (services/apply.py plans
  with min(declared, found) per SKU there);
- `drift_key` / `drift_events`: the failover job's look (services/failover.py) records
  `site.inventory_drift` when a site's hardware stops matching its declaration and
  `site.inventory_ok` when it matches again, once per change.

A probe that failed (`error`) attests nothing: the site keeps its declared capacity and
its status says why it could not be checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from fleetyard.services.events import record_event
from fleetyard.services.wire import GpuCountDrift, Inventory, InventoryStatus, ResourceChange, SiteReport
from fleetyard.spec import Site
from fleetyard.spec.fleet import Fleet
from fleetyard.spec.inventory import FoundGpu, attested_cuts, compare, count_found, cut_fleet, declared_counts, identify
from fleetyard.spec.plan import AttestedCapacity

__all__ = ["INVENTORY_KEY", "attest", "attested_now", "drift_key", "found_counts", "inventory_event",
           "inventory_status", "recut_sites"]

Reports = Mapping[str, tuple[datetime, SiteReport]]

INVENTORY_KEY = "inventory_drift"  # in the site's failover document (services/availability.py)


def _found(inv: Inventory, declared: Mapping[str, int]) -> dict[str, int]:
    return count_found((FoundGpu(g.name, g.uuid, g.memory_mib) for g in inv.gpus), declared)


def inventory_status(inv: Inventory | None, site: Site | None) -> InventoryStatus | None:
    """The site's inventory against its declared GPUs (None: the agent never sent one)."""
    if inv is None:
        return None
    declared = declared_counts(site) if site is not None else {}
    if inv.error is not None:
        return InventoryStatus(source=inv.source, probed_at=inv.probed_at, error=inv.error, declared=declared,
                               summary=f"cannot attest: {inv.error}")
    found = _found(inv, declared)
    skus = list(declared)
    gpus = [g.model_copy(update={"sku": identify(g.name, g.memory_mib, skus)}) for g in inv.gpus]
    drift = [GpuCountDrift(sku=d.sku, declared=d.declared, found=d.found) for d in compare(declared, found)]
    summary = "; ".join(_describe(d) for d in drift) if drift else "as declared"
    return InventoryStatus(source=inv.source, probed_at=inv.probed_at, gpus=gpus, declared=declared, found=found,
                           drift=drift, summary=summary)


def _describe(d: GpuCountDrift) -> str:
    return f"{d.sku}: {d.found} found, none declared" if d.declared == 0 else \
        f"{d.sku}: declared {d.declared}, found {d.found}"


def found_counts(reports: Reports, sites: Mapping[str, Site]) -> dict[str, dict[str, int]]:
    """GPUs per SKU found at each site of `sites` whose last report has a working inventory."""
    out: dict[str, dict[str, int]] = {}
    for name, (_at, report) in sorted(reports.items()):
        inv, site = report.inventory, sites.get(name)
        if inv is not None and inv.error is None and site is not None:
            out[name] = _found(inv, declared_counts(site))
    return out


def drift_key(status: InventoryStatus | None) -> str | None:
    """What the failover document keeps of a site's drift: the summary while it differs."""
    if status is None or status.error is not None or not status.drift:
        return None
    return status.summary


def inventory_event(session: Session, site: str, before: Any, after: str | None, now: datetime) -> None:
    """Record the event of a change of `drift_key` (before: the stored one)."""
    if after is not None:
        record_event(session, "site.inventory_drift", site,
                     f"{site}: the GPUs found differ from the declared inventory: {after}",
                     data={"site": site, "drift": after, "before": before}, at=now)
    else:
        record_event(session, "site.inventory_ok", site, f"{site}: the GPUs found match the declared inventory again",
                     data={"site": site, "before": before}, at=now)


def attested_now(reports: Reports, sites: Mapping[str, Site]) -> list[AttestedCapacity]:
    """The SKUs to plan with fewer GPUs than declared, from the last reports (site and SKU order)."""
    return [AttestedCapacity(site=c.site, gpu_sku=c.sku, declared=c.declared, found=c.found, planned=c.planned)
            for c in attested_cuts(sites, found_counts(reports, sites))]


def attest(fleet: Fleet, reports: Reports) -> tuple[Fleet, list[AttestedCapacity]]:
    """The fleet to plan: min(declared, found) GPUs per SKU at the sites with a working inventory."""
    cuts = attested_cuts(fleet.sites, found_counts(reports, fleet.sites))
    return cut_fleet(fleet, cuts), attested_now(reports, fleet.sites)


def recut_sites(before: list[AttestedCapacity], after: list[AttestedCapacity]) -> list[ResourceChange]:
    """Sites whose attested capacity changed, as Site changes for the incremental planner."""
    def by_site(rows: list[AttestedCapacity]) -> dict[str, set[tuple[str, int]]]:
        out: dict[str, set[tuple[str, int]]] = {}
        for r in rows:
            out.setdefault(r.site, set()).add((r.gpu_sku, r.planned))
        return out

    a, b = by_site(before), by_site(after)
    return [ResourceChange(kind="Site", name=site, action="updated") for site in sorted(set(a) | set(b))
            if a.get(site) != b.get(site)]
