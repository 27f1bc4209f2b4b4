"""Jinja2 pages with autoescape on: every name a person typed renders as text.

`page()` renders a template that extends the layout - the whole page, or with
`?fragment=1` only its <main> content (what app.js swaps in every few seconds).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from fleetyard.services.web_sessions import WebSession

__all__ = ["CSP", "NAV", "ago", "environment", "page", "render"]

NAV = (("/ui/", "Fleet"), ("/ui/plan", "Plan"), ("/ui/rollouts", "Rollouts"), ("/ui/events", "Events"),
       ("/ui/audit", "Audit"), ("/ui/cost", "Cost and carbon"))
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")


def ago(t: datetime | None, now: datetime | None = None) -> str:
    """`12 s ago`, `3 min ago`, `never`."""
    if t is None:
        return "never"
    at = now or datetime.now(UTC)
    s = max(0.0, (at - (t if t.tzinfo else t.replace(tzinfo=UTC))).total_seconds())
    if s < 90:
        return f"{s:.0f} s ago"
    if s < 5400:
        return f"{s / 60:.0f} min ago"
    if s < 48 * 3600:
        return f"{s / 3600:.0f} h ago"
    return f"{s / 86400:.0f} days ago"


def _bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n} B"


@functools.cache
def environment() -> Environment:
    env = Environment(loader=PackageLoader("fleetyard.server.web", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["ago"] = ago
    env.filters["bytes"] = _bytes
    env.filters["money"] = lambda v: f"${v:,.2f}"
    env.filters["num"] = lambda v, d=1: f"{v:,.{d}f}"
    env.filters["utc"] = lambda t: t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if t else "-"
    return env


def render(template: str, web: WebSession | None, *, path: str = "/ui/", fragment: bool = False,
           **context: Any) -> str:
    """The HTML of a page for the session `web` (its main content only, with `fragment`)."""
    principal = web.principal if web else None
    return environment().get_template(template).render(
        layout="fragment.html" if fragment else "base.html", nav=NAV, path=path,
        principal=principal, csrf=web.csrf if web else "", live=context.pop("live", web is not None),
        can_write=principal is not None and principal.role in ("operator", "admin"), **context)


def page(request: Request, template: str, web: WebSession | None, *, status: int = 200,
         **context: Any) -> HTMLResponse:
    """The page (or, with `?fragment=1`, its main content) for the session `web`."""
    html = render(template, web, path=request.url.path, fragment=request.query_params.get("fragment") == "1",
                  **context)
    return HTMLResponse(html, status_code=status, headers={
        "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store"})
