"""Request bodies: read after the caller is authorized, bounded, parsed off the event loop.

FastAPI reads and decodes a declared body parameter before a route's dependencies
run, so a caller without the right could learn the schema from a 422, and a huge body
would be read whole. The routes with a body therefore take the `Request`, authorize
(a dependency), then call `read_body` - refused with 413 as soon as the declared
`Content-Length` or the bytes counted so far pass the endpoint's limit - and parse it
with `parse_json` in a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from fleetyard.server.settings import KIB, MIB, Settings
from fleetyard.services.errors import PayloadTooLarge

__all__ = ["BodyLimits", "Limit", "parse_json", "read_body", "read_bounded", "stream_body"]

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Limit:
    """One endpoint class's body limit and the setting that changes it."""

    name: str
    max_bytes: int
    setting: str

    def refuse(self, seen: int | None = None) -> PayloadTooLarge:
        size = f" ({seen} bytes)" if seen is not None else ""
        return PayloadTooLarge(f"request body{size} is larger than the {self.name} limit of "
                               f"{_human(self.max_bytes)} ({self.max_bytes} bytes; server setting {self.setting})")


@dataclass(frozen=True)
class BodyLimits:
    apply: Limit
    objects: Limit
    heartbeat: Limit
    json: Limit

    @classmethod
    def of(cls, settings: Settings) -> BodyLimits:
        return cls(
            apply=Limit("apply", settings.max_apply_bytes, "FLEETYARD_MAX_APPLY_BYTES"),
            objects=Limit("registry object", settings.max_object_bytes, "FLEETYARD_MAX_OBJECT_BYTES"),
            heartbeat=Limit("heartbeat", settings.max_heartbeat_bytes, "FLEETYARD_MAX_HEARTBEAT_BYTES"),
            json=Limit("JSON request", settings.max_json_bytes, "FLEETYARD_MAX_JSON_BYTES"),
        )


def _human(n: int) -> str:
    if n >= MIB and n % MIB == 0:
        return f"{n // MIB} MiB"
    if n >= KIB and n % KIB == 0:
        return f"{n // KIB} KiB"
    return f"{n} bytes"


def _check_declared(request: Request, limit: Limit) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit.max_bytes:
        raise limit.refuse(int(declared))


async def read_body(request: Request, limit: Limit) -> bytes:
    """The whole body, or PayloadTooLarge before more than `limit` bytes are held."""
    body = await read_bounded(request, limit)
    if isinstance(body, PayloadTooLarge):
        raise body
    return body


async def read_bounded(request: Request, limit: Limit) -> bytes | PayloadTooLarge:
    """The whole body, or - without raising, so a route can check the token first and
    answer 401/403 before 413 - the refusal, once the body passes `limit`."""
    try:
        _check_declared(request, limit)
    except PayloadTooLarge as exc:
        return exc
    parts: list[bytes] = []
    total = 0
    async for block in request.stream():
        total += len(block)
        if total > limit.max_bytes:
            return limit.refuse()
        parts.append(block)
    return b"".join(parts)


async def stream_body(request: Request, limit: Limit, out: BinaryIO) -> int:
    """Write the body to `out` as it arrives (bounded like `read_body`); its size."""
    _check_declared(request, limit)
    total = 0
    async for block in request.stream():
        total += len(block)
        if total > limit.max_bytes:
            raise limit.refuse()
        out.write(block)
    return total


def parse_json(model: type[M], body: bytes) -> M:
    """`body` as `model`, strictly (no `0` for false, no `"5"` for 5): the schema the
    OpenAPI document states. A problem is a 422 naming the field, as for any parameter."""
    try:
        return model.model_validate_json(body, strict=True)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
