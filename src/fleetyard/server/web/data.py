"""What the dashboard pages show, read from the same services as the API.

Each function takes the request's database session and returns plain data for a
template; nothing here writes. `site_history` is the one seam to the telemetry history
(issue 12 item 1), which lives on another branch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from fleetyard.energy.pricing import price_usage
from fleetyard.energy.timeline import Extend, TraceGap
from fleetyard.energy.usage import UsageTable, hour_floor
from fleetyard.server.web.fleetmap import MapPoint
from fleetyard.services import status
from fleetyard.services.errors import ServiceError
from fleetyard.services.planning import current_plan, parse_plan
from fleetyard.services.showback import recorded_usage, stored_fleet
from fleetyard.services.telemetry.query import InvalidQuery, history
from fleetyard.services.usage import list_usage
from fleetyard.services.wire import SiteStatus
from fleetyard.spec.fleet import Fleet
from fleetyard.spec.plan import Plan, SiteUsage

__all__ = ["FleetView", "SiteRow", "cost_over_time", "current", "fleet_view", "hourly_usage", "site_history",
           "site_state", "try_fleet"]

Points = list[tuple[datetime, float]]
RAW_FALLBACK = timedelta(hours=1)


def site_history(session: Session, site: str, series: str, start: datetime,
                 end: datetime) -> list[tuple[datetime, float]]:
    """The site's samples of `series` (e.g. gpu_power_w, it_kw) between start and end, oldest
    first, summed over labels - from the telemetry history (services/telemetry/query.py).

    The history picks its resolution (minutes for a few hours); a bucket appears only once it
    has closed, so a site that started reporting minutes ago has raw samples but no rollup yet:
    then the last hour of raw samples is drawn instead, and the chart is never empty while
    data exists."""
    try:
        result = history(session, series, site=site, start=start, end=end)
        if not any(line.points for line in result.lines):
            result = history(session, series, site=site, start=max(start, end - RAW_FALLBACK), end=end, resolution=0)
    except InvalidQuery:
        return []
    total: dict[datetime, float] = {}
    for line in result.lines:
        for iso, value in line.points:
            t = datetime.fromisoformat(iso.replace("Z", "+00:00"))
            total[t] = total.get(t, 0.0) + float(value)
    return sorted(total.items())


def site_state(s: SiteStatus | None) -> str:
    """ok / stale / down - the rules of `fleetyard status`: down = its work is elsewhere
    (failover), stale = no heartbeat for 3 intervals (or never)."""
    if s is None:
        return "stale"
    if not s.available:
        return "down"
    return "stale" if s.stale else "ok"


@dataclass(frozen=True)
class Use:
    """Use against capacity, e.g. GPUs 3 of 4."""

    used: float
    total: float

    @property
    def ratio(self) -> float:
        return min(1.0, self.used / self.total) if self.total > 0 else 0.0


@dataclass(frozen=True)
class SiteRow:
    name: str
    state: str
    status: SiteStatus | None
    gpus: Use
    power_kw: Use
    cooling_kw: Use
    cost_per_hour: float = 0.0
    carbon_kg_per_hour: float = 0.0


@dataclass(frozen=True)
class FleetView:
    sites: list[SiteRow]
    points: list[MapPoint]
    plan: Plan | None
    revision: int
    problem: str | None = None
    counts: dict[str, int] = field(default_factory=dict)


def try_fleet(session: Session) -> tuple[Fleet | None, str | None]:
    """The stored fleet, or None and why (no fleet yet, or it no longer loads)."""
    try:
        return stored_fleet(session), None
    except ServiceError as exc:
        return None, exc.message


def current(session: Session) -> Plan | None:
    """The current plan (None before the first apply)."""
    row = current_plan(session)
    return parse_plan(row.plan) if row is not None else None


def fleet_view(session: Session, interval: float, drift_after: float = 300.0) -> FleetView:
    """Every site's state and use against capacity, the map's markers and the plan."""
    revision, views = status.site_views(session, interval, drift_after=drift_after)
    by_site = {v.status.site: v.status for v in views}
    fleet, problem = try_fleet(session)
    plan = current(session)
    usage: dict[str, SiteUsage] = {u.site: u for u in plan.sites} if plan else {}
    names = list(fleet.sites) if fleet else []
    names += [n for n in by_site if n not in names]
    rows: list[SiteRow] = []
    points: list[MapPoint] = []
    for name in names:
        spec = fleet.sites[name].spec if fleet and name in fleet.sites else None
        u = usage.get(name)
        gpus_total = sum(p.count for p in spec.gpus) if spec else sum((u.gpus_total if u else {}).values())
        row = SiteRow(
            name=name, state=site_state(by_site.get(name)), status=by_site.get(name),
            gpus=Use(sum(u.gpus_used.values()) if u else 0, gpus_total),
            power_kw=Use(u.it_kw if u else 0.0, spec.power.it_capacity_kw if spec else (u.it_capacity_kw if u else 0)),
            # cooling removes the IT load's heat: its use is the IT kW, against the cooling capacity
            cooling_kw=Use(u.it_kw if u else 0.0, spec.cooling_capacity_kw if spec else (u.cooling_kw if u else 0)),
            cost_per_hour=u.cost_per_hour if u else 0.0, carbon_kg_per_hour=u.carbon_kg_per_hour if u else 0.0)
        rows.append(row)
        if spec is not None:
            points.append(MapPoint(name, spec.location.lat, spec.location.lon, "site", row.state,
                                   f"/ui/sites/{name}"))
    if fleet:
        points += [MapPoint(r.name, r.spec.location.lat, r.spec.location.lon, "region")
                   for r in fleet.regions.values()]
    counts = {s: sum(1 for r in rows if r.state == s) for s in ("ok", "stale", "down")}
    return FleetView(rows, points, plan, revision, problem, counts)


def hourly_usage(session: Session, hours: int, *, site: str | None = None,
                 now: datetime | None = None) -> dict[str, list[tuple[datetime, float]]]:
    """GPU-hours and metered kWh booked per UTC hour over the last `hours` (services/usage.py)."""
    end = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(hours=hours)
    gpu: dict[datetime, float] = {}
    kwh: dict[datetime, float] = {}
    offset = 0
    while True:
        rows = list_usage(session, start, end, limit=1000, offset=offset)
        for r in rows:
            if site is not None and r.site != site:
                continue
            hour = r.hour if r.hour.tzinfo else r.hour.replace(tzinfo=UTC)
            gpu[hour] = gpu.get(hour, 0.0) + r.gpu_seconds / 3600.0
            if r.energy_kwh is not None:
                kwh[hour] = kwh.get(hour, 0.0) + r.energy_kwh
        if len(rows) < 1000:
            break
        offset += 1000
    return {"gpu_hours": sorted(gpu.items()), "kwh": sorted(kwh.items())}


def cost_over_time(session: Session, hours: int, extend: Extend = "none", *,
                   now: datetime | None = None) -> tuple[dict[str, Points], dict[str, Points]]:
    """Cost ($) and carbon (kg) per site and UTC hour over the last `hours`, priced as
    `GET /api/v1/cost` prices what the sites reported (energy/pricing.py); empty when
    nothing was booked, or a trace does not cover the hours (the bars above say why)."""
    fleet, _problem = try_fleet(session)
    end = hour_floor(now or datetime.now(UTC)) + timedelta(hours=1)
    start = end - timedelta(hours=hours)
    table = UsageTable.from_records(recorded_usage(session, start, end), start=start, end=end)
    if fleet is None or len(table) == 0:
        return {}, {}
    try:
        priced = price_usage(fleet, table, extend)
    except TraceGap:
        return {}, {}
    cost = priced.gpu_rent + priced.energy_cost + priced.carbon_cost + priced.egress_cost
    money: dict[str, dict[datetime, float]] = {}
    carbon: dict[str, dict[datetime, float]] = {}
    for i in range(len(table)):
        site = table.sites[int(table.site[i])]
        hour = datetime.fromtimestamp(int(table.hour_s[i]), UTC)
        money.setdefault(site, {})[hour] = money.get(site, {}).get(hour, 0.0) + float(cost[i])
        carbon.setdefault(site, {})[hour] = carbon.get(site, {}).get(hour, 0.0) + float(priced.carbon_kg[i])
    return ({k: sorted(v.items()) for k, v in sorted(money.items())},
            {k: sorted(v.items()) for k, v in sorted(carbon.items())})
