"""Error answers: one JSON shape, `ErrorOut` `{"detail": str, "problems": [...]}`, never a traceback.

* `ServiceError` → its status, `detail` its message (401 adds `WWW-Authenticate`,
  416 `Content-Range`); `SpecInvalid` → 422 with the loader's problems;
* a malformed parameter or body → 422, one problem per field (`file: "<request>"`,
  `path` such as `body.files[0].name` or `path.kind`);
* an unknown path → 404; a known path with another method → 405 with an `Allow`
  header listing every method of that path (Starlette names only the first route's);
* registry errors → 404 / 422 / 500 with the registry's message;
* database errors → 503 naming the database, anything else → 500 "internal error".
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match

from fleetyard.registry import InvalidInputError, NotFoundError, RegistryError
from fleetyard.registry.backends.base import ObjectNotFoundError
from fleetyard.services.db import safe_url
from fleetyard.services.errors import RangeNotSatisfiable, ServiceError, SpecInvalid, Unauthorized, problems_out
from fleetyard.services.storable import NUL_FREE, NUL_MESSAGE, dotted, unstorable
from fleetyard.services.wire import ErrorOut, ProblemOut

__all__ = ["allowed_methods", "install_error_handlers"]

log = logging.getLogger("fleetyard.server")


def error(status: int, message: str, headers: Mapping[str, str] | None = None,
          problems: list[ProblemOut] | None = None) -> JSONResponse:
    body = ErrorOut(detail=message, problems=problems or [])
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=dict(headers or {}) or None)


def _message(e: Mapping[str, Any]) -> str:
    """Pydantic's words, except for the NUL rule, whose pattern says nothing to a reader."""
    ctx = e.get("ctx") or {}
    msg = str(e.get("msg", "invalid"))
    if e.get("type") == "string_pattern_mismatch" and ctx.get("pattern") == NUL_FREE:
        return NUL_MESSAGE
    if e.get("type") == "json_invalid" and ("hex escape" in msg or "surrogate" in msg):
        return (f"{msg} (a \\u escape is 4 hex digits, and a surrogate \\ud800-\\udfff only the half "
                "of a pair: a lone one is not text)")
    return msg


def _part(part: object) -> str | int:
    """A location part as a reader can see it: a dict key with a NUL is shown escaped."""
    if isinstance(part, int):
        return part
    text = str(part)
    return text.encode("unicode_escape").decode("ascii") if unstorable(text) else text


def request_problems(errors: list[Any]) -> list[ProblemOut]:
    return [ProblemOut(file="<request>", line=None, path=dotted(tuple(_part(x) for x in e.get("loc", ()))),
                       message=_message(e), severity="error") for e in errors]


def _flat(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """The routes, with included routers opened (FastAPI wraps each in one; this app
    includes them without a prefix, so their routes' own paths are the full ones)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _flat(inner.routes)
        else:
            yield route


def allowed_methods(routes: Iterable[BaseRoute], scope: Mapping[str, Any]) -> list[str]:
    """Every method some route serves at this request's path."""
    methods: set[str] = set()
    for route in _flat(routes):
        match, _child = route.matches(dict(scope))
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        if isinstance(exc, SpecInvalid):
            return error(422, exc.message, problems=problems_out(exc.problems))
        headers = None
        if isinstance(exc, Unauthorized):
            headers = {"WWW-Authenticate": "Bearer"}
        if isinstance(exc, RangeNotSatisfiable):
            headers = {"Content-Range": f"bytes */{exc.size}"}
        return error(exc.status, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def bad_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = request_problems(list(exc.errors()))
        summary = "; ".join(f"{p.path}: {p.message}" for p in problems[:3])
        return error(422, f"invalid request: {summary}", problems=problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request.app.router.routes, request.scope))
        return error(exc.status_code, str(exc.detail), headers)

    @app.exception_handler(RegistryError)
    async def registry_error(_request: Request, exc: RegistryError) -> JSONResponse:
        if isinstance(exc, NotFoundError | ObjectNotFoundError):
            return error(404, str(exc))
        if isinstance(exc, InvalidInputError):
            return error(422, str(exc))
        log.error("registry error: %s", exc)
        return error(500, f"registry error: {exc}")

    @app.exception_handler(OperationalError)
    async def database_down(request: Request, exc: OperationalError) -> JSONResponse:
        state = getattr(request.app.state, "fleetyard", None)
        where = safe_url(state.db.url) if state is not None else "the database"
        log.error("database error: %s", str(exc.orig or exc).splitlines()[0] if str(exc) else exc)
        return error(503, f"database {where} is unavailable")

    @app.exception_handler(Exception)
    async def internal(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error")
        return error(500, f"internal error ({type(exc).__name__}); see the server log")
