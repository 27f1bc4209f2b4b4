"""Error answers: one JSON shape, one line each, never a traceback.

* `ServiceError` → its status and `{"detail": message}` (401 adds `WWW-Authenticate`);
* `SpecInvalid` → 422 `ValidationFailure` with the loader's problems;
* a malformed request body → 422 `ValidationFailure`, problems naming the field;
* registry errors → 404 / 422 / 500 with the registry's message;
* database errors → 503 naming the database, anything else → 500 "internal error".
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from fleetyard.registry import InvalidInputError, NotFoundError, RegistryError
from fleetyard.registry.backends.base import ObjectNotFoundError
from fleetyard.services.db import safe_url
from fleetyard.services.errors import RangeNotSatisfiable, ServiceError, SpecInvalid, Unauthorized, problems_out
from fleetyard.services.wire import ProblemOut, ValidationFailure

__all__ = ["install_error_handlers"]

log = logging.getLogger("fleetyard.server")


def _detail(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status, headers=headers)


def _field(loc: tuple[object, ...] | list[object]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        if isinstance(exc, SpecInvalid):
            body = ValidationFailure(detail=exc.message, problems=problems_out(exc.problems))
            return JSONResponse(body.model_dump(mode="json"), status_code=422)
        headers = None
        if isinstance(exc, Unauthorized):
            headers = {"WWW-Authenticate": "Bearer"}
        if isinstance(exc, RangeNotSatisfiable):
            headers = {"Content-Range": f"bytes */{exc.size}"}
        return _detail(exc.status, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def bad_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [ProblemOut(file="<request>", line=None, path=_field(e.get("loc", ())),
                               message=str(e.get("msg", "invalid")), severity="error") for e in exc.errors()]
        summary = "; ".join(f"{p.path}: {p.message}" for p in problems[:3])
        body = ValidationFailure(detail=f"invalid request: {summary}", problems=problems)
        return JSONResponse(body.model_dump(mode="json"), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _detail(exc.status_code, str(exc.detail), dict(exc.headers) if exc.headers else None)

    @app.exception_handler(RegistryError)
    async def registry_error(_request: Request, exc: RegistryError) -> JSONResponse:
        if isinstance(exc, NotFoundError | ObjectNotFoundError):
            return _detail(404, str(exc))
        if isinstance(exc, InvalidInputError):
            return _detail(422, str(exc))
        log.error("registry error: %s", exc)
        return _detail(500, f"registry error: {exc}")

    @app.exception_handler(OperationalError)
    async def database_down(_request: Request, exc: OperationalError) -> JSONResponse:
        state = getattr(_request.app.state, "fleetyard", None)
        where = safe_url(state.db.url) if state is not None else "the database"
        log.error("database error: %s", str(exc.orig or exc).splitlines()[0] if str(exc) else exc)
        return _detail(503, f"database {where} is unavailable")

    @app.exception_handler(Exception)
    async def internal(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error")
        return _detail(500, f"internal error ({type(exc).__name__}); see the server log")
