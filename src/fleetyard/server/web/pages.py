"""The dashboard's pages: each translates one HTTP request into service calls and a template.

Reads need a session of a reader (viewer, operator, admin); the what-if is a POST (it
takes a form) that computes and writes nothing, so readers may run it; the rollout
actions write and need an operator or admin. Every POST passes `checked_form` (csrf and
same origin, server/web/auth.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from fleetyard.server.deps import SITE, SessionDep, StateDep
from fleetyard.server.web import charts, data
from fleetyard.server.web.auth import FormDep, WebUserDep
from fleetyard.server.web.fleetmap import fleet_map
from fleetyard.server.web.render import page
from fleetyard.services import audit, events, plan_views, showback, status
from fleetyard.services.errors import ServiceError
from fleetyard.services.planning import PlanSettings
from fleetyard.services.storable import NUL_FREE

__all__ = ["router"]

router = APIRouter(prefix="/ui", include_in_schema=False)
Name = Annotated[str, Path(pattern=NUL_FREE, max_length=63)]
HISTORY = timedelta(hours=6)
# the buttons a rollout in each state offers (the rollout service refuses the others: 409)
ROLLOUT_ACTIONS = {"progressing": ("pause", "promote", "abort"), "paused": ("resume", "promote", "abort")}


def _plan_settings(state: StateDep) -> PlanSettings:
    s = state.settings
    return PlanSettings(time_limit=s.plan_time_limit, resilience=False)


@router.get("/")
def fleet_page(request: Request, state: StateDep, session: SessionDep, web: WebUserDep) -> Response:
    view = data.fleet_view(session, state.settings.heartbeat_interval, state.settings.drift_after)
    return page(request, "fleet.html", web, title="Fleet", view=view, map=fleet_map(view.points))


@router.get("/sites/{site}")
def site_page(site: Annotated[str, Path(pattern=SITE["pattern"], max_length=SITE["maxLength"])],
              request: Request, state: StateDep, session: SessionDep, web: WebUserDep) -> Response:
    view = data.fleet_view(session, state.settings.heartbeat_interval, state.settings.drift_after)
    row = next((r for r in view.sites if r.name == site), None)
    if row is None:
        return page(request, "missing.html", web, title="No such site", what=f"site {site}", status=404)
    fleet, _problem = data.try_fleet(session)
    spec = fleet.sites[site].spec if fleet and site in fleet.sites else None
    end = datetime.now(UTC)
    start = end - HISTORY
    power = data.site_history(session, site, "it_kw", start, end)
    cap = [(start, row.power_kw.total), (end, row.power_kw.total)] if power and row.power_kw.total else []
    used = data.hourly_usage(session, 48, site=site)
    lines: list[tuple[str, list[charts.Line], str]] = [
        ("IT power (kW) against capacity, last 6 h", [("IT kW", power), ("capacity", cap)], "kW"),
        ("GPU power (W), last 6 h", [("GPU W", data.site_history(session, site, "gpu_power_w", start, end))], "W"),
        ("GPU utilization (%), last 6 h", [("utilization", data.site_history(
            session, site, "gpu_utilization", start, end))], "%"),
        ("GPU-hours booked per hour (last 48 h)", [("GPU-hours", used["gpu_hours"])], "GPU-h"),
    ]
    site_charts = [(title, charts.line_chart(f"{site}: {title}", ls, unit=unit)) for title, ls, unit in lines]
    plan = view.plan
    assignments = [a for a in plan.assignments if a.site == site] if plan else []
    return page(request, "site.html", web, title=f"Site {site}", row=row, spec=spec, charts=site_charts,
                assignments=assignments)


@router.get("/plan")
def plan_page(request: Request, state: StateDep, session: SessionDep, web: WebUserDep,
              explain: Annotated[str | None, Query(pattern=NUL_FREE, max_length=63)] = None) -> Response:
    return _plan(request, state, session, web, explain=explain)


@router.post("/plan/whatif")
def what_if(request: Request, state: StateDep, session: SessionDep, web: WebUserDep, form: FormDep) -> Response:
    """Readers may run it: it computes a failover and writes nothing."""
    sites = [s.strip() for s in form.get("sites", "").replace(",", " ").split() if s.strip()]
    try:
        result, error = plan_views.what_if(session, _plan_settings(state), sites), None
    except ServiceError as exc:
        result, error = None, exc.message
    return _plan(request, state, session, web, what_if=result, what_if_error=error, failed=" ".join(sites),
                 code=200 if error is None else 422)


def _plan(request: Request, state: StateDep, session: SessionDep, web: WebUserDep, *, explain: str | None = None,
          code: int = 200, **extra: object) -> Response:
    plan = data.current(session)
    explanation, explain_error = None, None
    if explain:
        try:
            explanation = plan_views.explain(session, _plan_settings(state), explain)
        except ServiceError as exc:
            explain_error, code = exc.message, 404 if exc.status == 404 else 422
    sites = [v.status.site for v in status.site_views(session, state.settings.heartbeat_interval)[1]]
    context: dict[str, object] = {"what_if": None, "what_if_error": None, "failed": ""} | extra
    return page(request, "plan.html", web, title="Plan", plan=plan, explain=explain or "", explanation=explanation,
                explain_error=explain_error, site_names=sites, status=code,
                live=not explain and context["what_if"] is None and context["what_if_error"] is None, **context)


@router.get("/rollouts")
def rollouts_page(request: Request, state: StateDep, web: WebUserDep) -> Response:
    assert state.rollouts is not None
    return page(request, "rollouts.html", web, title="Rollouts", rollouts=state.rollouts.list(),
                actions=ROLLOUT_ACTIONS)


@router.post("/rollouts/{workload}/{action}")
def rollout_action(workload: Name, action: Name, state: StateDep, web: WebUserDep, _form: FormDep) -> Response:
    """Operators and admins: pause, resume, promote or abort (audited by the rollout service)."""
    web.principal.require_writer()
    assert state.rollouts is not None
    state.rollouts.act(workload, action, web.principal)
    return RedirectResponse("/ui/rollouts", status_code=303)


@router.get("/events")
def events_page(request: Request, session: SessionDep, web: WebUserDep,
                kind: Annotated[str | None, Query(pattern=NUL_FREE, max_length=40)] = None) -> Response:
    rows = list(reversed(events.list_events(session, limit=200, kind=kind or None)))
    return page(request, "events.html", web, title="Events", events=rows, kind=kind or "")


@router.get("/audit")
def audit_page(request: Request, session: SessionDep, web: WebUserDep) -> Response:
    return page(request, "audit.html", web, title="Audit", entries=audit.entries(session, 200))


@router.get("/cost")
def cost_page(request: Request, state: StateDep, session: SessionDep, web: WebUserDep,
              period: Annotated[str, Query(pattern=NUL_FREE, max_length=20)] = "30d") -> Response:
    bars, totals, error = [], None, None
    for by in ("team", "site", "workload"):
        try:
            alloc = showback.cost_allocation(session, by, period, extend=state.settings.schedule_extend)
        except ServiceError as exc:
            error = exc.message
            break
        totals = alloc.totals
        bars.append((by, charts.bar_chart(f"Cost by {by}", [(r.key, r.cost) for r in alloc.rows], unit="$"),
                     charts.bar_chart(f"Carbon by {by}", [(r.key, r.carbon_kg) for r in alloc.rows], unit="kg")))
    used = data.hourly_usage(session, 48)
    money, carbon = data.cost_over_time(session, 48, state.settings.schedule_extend)
    over_time = [
        ("Cost per hour by site (last 48 h)", charts.line_chart("Cost per hour by site (last 48 h)",
                                                                list(money.items()), unit="$")),
        ("Carbon per hour by site (last 48 h)", charts.line_chart("Carbon per hour by site (last 48 h)",
                                                                  list(carbon.items()), unit="kg CO2")),
        *((title, charts.line_chart(title, [(label, used[key])], unit=unit)) for title, label, key, unit in (
            ("GPU-hours booked per hour (last 48 h)", "GPU-hours", "gpu_hours", "GPU-h"),
            ("Metered GPU energy per hour (last 48 h)", "kWh", "kwh", "kWh")))]
    return page(request, "cost.html", web, title="Cost and carbon", bars=bars, totals=totals, error=error,
                period=period, over_time=over_time)
