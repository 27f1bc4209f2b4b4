"""The registry's objects: LIST, GET (with one byte range), HEAD, PUT (create-only), DELETE."""

from __future__ import annotations

import os
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from fleetyard.server.deps import PrincipalDep, StateDep
from fleetyard.services.objects import kind_of_key
from fleetyard.services.wire import ErrorOut, ObjectOut

router = APIRouter(prefix="/api/v1/registry", tags=["registry"])
ERRORS: dict[int | str, dict[str, object]] = {401: {"model": ErrorOut}, 403: {"model": ErrorOut},
                                              404: {"model": ErrorOut}}
OCTETS = "application/octet-stream"


@router.get("/objects", response_model=list[ObjectOut], responses=ERRORS)
def list_objects(state: StateDep, principal: PrincipalDep,
                 prefix: Annotated[str, Query()] = "") -> list[ObjectOut]:
    """Objects whose key starts with `prefix`."""
    principal.require_object_reader()
    return state.objects.list(prefix)


@router.get("/objects/{key:path}", response_class=StreamingResponse,
            responses={**ERRORS, 206: {"description": "the requested range"}, 416: {"model": ErrorOut}})
def get_object(key: str, state: StateDep, principal: PrincipalDep,
               range_: Annotated[str | None, Header(alias="Range")] = None) -> StreamingResponse:
    """The object's bytes, or one range of them (`Range: bytes=a-b`): 206, or 416 past the end."""
    principal.require_object_reader()
    f, size, rng = state.objects.open(key, range_)
    counter = state.metrics.bytes_served.labels(kind_of_key(key))
    headers = {"Accept-Ranges": "bytes"}
    if rng is None:
        headers["Content-Length"] = str(size)
        return StreamingResponse(state.objects.stream(f, size, counter.inc), media_type=OCTETS, headers=headers)
    headers["Content-Length"] = str(rng.length)
    headers["Content-Range"] = f"bytes {rng.start}-{rng.end}/{size}"
    return StreamingResponse(state.objects.stream(f, rng.length, counter.inc), status_code=206,
                             media_type=OCTETS, headers=headers)


@router.head("/objects/{key:path}", response_class=Response, responses=ERRORS)
def head_object(key: str, state: StateDep, principal: PrincipalDep) -> Response:
    """200 with the object's Content-Length, or 404."""
    principal.require_object_reader()
    size = state.objects.size(key)
    return Response(status_code=200, media_type=OCTETS,
                    headers={"Content-Length": str(size), "Accept-Ranges": "bytes"})


@router.put("/objects/{key:path}", status_code=201, response_class=Response,
            responses={**ERRORS, 204: {"description": "replaced"}, 412: {"model": ErrorOut},
                       428: {"model": ErrorOut}})
async def put_object(key: str, request: Request, state: StateDep, principal: PrincipalDep,
                     if_none_match: Annotated[str | None, Header()] = None) -> Response:
    """Store the body as the object (atomically): 201 created, 204 replaced; with
    `If-None-Match: *` only if absent (412 otherwise). Version manifests need it (428)."""
    create_only = (if_none_match or "").strip() == "*"
    state.objects.check_put(key, principal, create_only)
    fd, staged = state.objects.staging_file()
    try:
        with os.fdopen(fd, "wb") as f:
            async for block in request.stream():
                f.write(block)
        created = await run_in_threadpool(state.objects.finish_put, key, staged, principal, create_only)
    finally:
        if os.path.exists(staged):
            os.unlink(staged)
    return Response(status_code=201 if created else 204)


@router.delete("/objects/{key:path}", status_code=204, response_class=Response, responses=ERRORS)
def delete_object(key: str, state: StateDep, principal: PrincipalDep) -> Response:
    """Remove an object (operator+; admin for version manifests); absent is fine."""
    state.objects.delete(key, principal)
    return Response(status_code=204)
