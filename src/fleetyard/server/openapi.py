"""The OpenAPI document states what the API really answers.

* `errors(*codes)`: the `responses=` of a route - every error status it can answer,
  each with the one error body (`ErrorOut`) and what it means;
* `json_body(model)`: the request body of a route that reads its body itself (after
  authorization, bounded: server/body.py), so FastAPI cannot see it;
* `install_openapi(app)`: the document builder, adding those bodies' schemas to the
  components. FastAPI's own `HTTPValidationError` never appears: every route that
  takes a parameter documents its 422 as `ErrorOut`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from fleetyard.services.wire import ErrorOut

__all__ = ["BINARY", "errors", "install_openapi", "json_body"]

REF = "#/components/schemas/{model}"
BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
_BODIES: dict[str, type[BaseModel]] = {}

MEANING = {
    401: "No token, or an unknown, expired or revoked one.",
    403: "The token's role or site does not allow this call.",
    404: "No such resource, plan, site, token or object.",
    409: "Conflicts with the current state (the body says why).",
    412: "Create-only write (`If-None-Match: *`) of an object that exists.",
    413: "The request body is larger than the server's limit for this endpoint (named in `detail`).",
    416: "The byte range starts past the end of the object.",
    422: "A parameter or the body is invalid; `problems` name each field (or the spec file, line and path).",
    428: "A version manifest must be written with `If-None-Match: *`.",
    503: "The database is unavailable.",
}
HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}, "required": True}},
    416: {"Content-Range": {"description": "`bytes */SIZE`", "schema": {"type": "string"}, "required": True}},
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route answering these error statuses (401, 403 and 503 always)."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in sorted({401, 403, 503, *codes}):
        out[code] = {"model": ErrorOut, "description": MEANING[code]}
        if code in HEADERS:
            out[code]["headers"] = HEADERS[code]
    return out


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra=` documenting a required JSON body of `model`."""
    _BODIES[model.__name__] = model
    ref = {"$ref": REF.format(model=model.__name__)}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def install_openapi(app: FastAPI) -> None:
    """Build the document once, on first request, with the bodies' schemas in it."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description,
                              routes=app.routes)
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            for name, model in _BODIES.items():
                schema = model.model_json_schema(ref_template=REF, mode="validation")
                for sub, sub_schema in schema.pop("$defs", {}).items():
                    schemas.setdefault(sub, sub_schema)
                schemas.setdefault(name, schema)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
