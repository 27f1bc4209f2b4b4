"""Errors of the use cases, each with the HTTP status a route answers with.

Routes stay thin: a service raises one of these with a one-line message, and the
server turns it into the one error body, `ErrorOut` `{"detail": message, "problems": [...]}`,
with the status (401 adds `WWW-Authenticate: Bearer`; a spec problem fills `problems`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from fleetyard.spec.errors import Problem

if TYPE_CHECKING:  # the wire models load only where a problem is sent (the CLI's start-up: docs/cli.md)
    from fleetyard.services.wire import ProblemOut

__all__ = [
    "Conflict",
    "Forbidden",
    "InvalidRequest",
    "NotFound",
    "PayloadTooLarge",
    "PreconditionFailed",
    "PreconditionRequired",
    "RangeNotSatisfiable",
    "ServiceError",
    "SpecInvalid",
    "Unauthorized",
    "problems_out",
]


class ServiceError(Exception):
    """Base: `status` is the HTTP status, the message one line for a human."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(ServiceError):
    """The request is well-formed but asks for something impossible (422)."""

    status = 422


class SpecInvalid(ServiceError):
    """The fleet would not validate: the loader's problems, in its words (422)."""

    status = 422

    def __init__(self, problems: Sequence[Problem], what: str = "nothing was applied") -> None:
        self.problems = tuple(problems)
        n = sum(1 for p in self.problems if p.severity == "error")
        super().__init__(f"{n} error{'s' if n != 1 else ''} in the fleet specification; {what}")


class Unauthorized(ServiceError):
    """No token, or an unknown, expired or revoked one (401)."""

    status = 401


class Forbidden(ServiceError):
    """A valid token without the role or site for this call (403)."""

    status = 403


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class PayloadTooLarge(ServiceError):
    """The request body is larger than the server's limit for its endpoint (413)."""

    status = 413


class PreconditionFailed(ServiceError):
    """A create-only write found the object already there (412)."""

    status = 412


class PreconditionRequired(ServiceError):
    """A write that must be conditional came without `If-None-Match: *` (428)."""

    status = 428


class RangeNotSatisfiable(ServiceError):
    """The byte range starts past the end of the object (416)."""

    status = 416

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.size = size


def problems_out(problems: Sequence[Problem]) -> list[ProblemOut]:
    """Spec problems as wire objects (same file, line, path, words)."""
    from fleetyard.services.wire import ProblemOut

    return [ProblemOut(file=p.file, line=p.line, path=p.path, message=p.message, severity=p.severity)
            for p in problems]
