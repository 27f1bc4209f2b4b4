"""The dashboard's HTTP side of sessions: the login form, logout, and who is asking.

`WebUserDep` resolves the `fleetyard_session` cookie (services/web_sessions.py) on every
request - so a revoked or expired token ends the session at once - and sends a person
without one to the login page (a page fetch: 303; a fragment or script fetch: 401).
`checked_form` guards every POST: the session's csrf token (form field `csrf` or
header `X-CSRF-Token`) and a same-origin `Origin` (or, without one, `Referer`); 403
otherwise. The login form itself has no session yet, so it needs the same origin only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from fleetyard.server.body import read_body
from fleetyard.server.deps import SessionDep, StateDep
from fleetyard.server.web.render import page
from fleetyard.services import web_sessions
from fleetyard.services.errors import Forbidden, Unauthorized
from fleetyard.services.web_sessions import WebSession

__all__ = ["COOKIE", "LoginRequired", "WebUserDep", "checked_form", "login_required", "router"]

COOKIE = "fleetyard_session"
router = APIRouter(prefix="/ui", include_in_schema=False)


class LoginRequired(Exception):
    """No live session: the handler answers with the login page's address."""


def login_required(request: Request, _exc: Exception) -> Response:
    if request.query_params.get("fragment") or request.method != "GET":
        return JSONResponse({"detail": "not logged in: log in at /ui/login", "problems": []}, status_code=401)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/ui/login?next={quote(target, safe='')}", status_code=303)


def _web_user(request: Request, session: SessionDep) -> WebSession:
    found = web_sessions.resolve_session(session, request.cookies.get(COOKIE))
    session.commit()  # a dead session's row is deleted
    if found is None:
        raise LoginRequired()
    found.principal.require_reader()
    return found


WebUserDep = Annotated[WebSession, Depends(_web_user)]


def _origins(request: Request, public_url: str | None) -> set[str]:
    mine = {f"{request.url.scheme}://{request.url.netloc}"}
    if public_url:
        u = urlsplit(public_url)
        mine.add(f"{u.scheme}://{u.netloc}")
    return mine


def same_origin(request: Request, public_url: str | None) -> bool:
    """True when the request's Origin (else Referer) is this server's own origin."""
    sent = request.headers.get("origin")
    if not sent or sent == "null":
        referer = request.headers.get("referer")
        if not referer:
            return False
        u = urlsplit(referer)
        sent = f"{u.scheme}://{u.netloc}"
    return sent in _origins(request, public_url)


async def form_of(request: Request, state: StateDep) -> dict[str, str]:
    """The urlencoded body of a form POST, bounded like any JSON body (first value per field)."""
    body = await read_body(request, state.limits.json)
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


async def checked_form(request: Request, state: StateDep, web: WebUserDep) -> dict[str, str]:
    """The form of a POST from a page of this server carrying the session's csrf token; 403 otherwise."""
    if not same_origin(request, state.settings.public_url):
        raise Forbidden("cross-origin request: a dashboard form is only accepted from the dashboard's own pages")
    form = await form_of(request, state)
    if not web_sessions.csrf_matches(web.csrf, form.get("csrf") or request.headers.get("x-csrf-token")):
        raise Forbidden("missing or wrong csrf token: reload the page and try again")
    return form


FormDep = Annotated[dict[str, str], Depends(checked_form)]


def _next(target: str | None) -> str:
    """Only a path of the dashboard itself (no open redirect)."""
    if target and target.startswith("/ui/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui/"


@router.get("/login")
def login_page(request: Request, session: SessionDep) -> Response:
    if web_sessions.resolve_session(session, request.cookies.get(COOKIE)) is not None:
        return RedirectResponse(_next(request.query_params.get("next")), status_code=303)
    return page(request, "login.html", None, next=_next(request.query_params.get("next")), title="Log in")


@router.post("/login")
async def login(request: Request, state: StateDep) -> Response:
    if not same_origin(request, state.settings.public_url):
        raise Forbidden("cross-origin request: log in from the dashboard's own login page")
    form = await form_of(request, state)
    with state.db.session() as session:
        return _login(request, session, form)


def _login(request: Request, session: Session, form: dict[str, str]) -> Response:
    target = _next(form.get("next"))
    secret = form.get("token", "").strip()
    try:
        if not secret:
            raise Unauthorized("enter a token: fleetyard token create --role viewer makes one")
        cookie, made = web_sessions.start_session(session, secret)
    except Unauthorized as exc:
        return page(request, "login.html", None, next=target, title="Log in", error=exc.message, status=401)
    session.commit()
    response = RedirectResponse(target, status_code=303)
    max_age = int((made.expires_at - datetime.now(UTC)).total_seconds())
    response.set_cookie(COOKIE, cookie, max_age=max(1, max_age), path="/", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep, _form: FormDep) -> Response:
    web_sessions.end_session(session, request.cookies.get(COOKIE))
    session.commit()
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response
