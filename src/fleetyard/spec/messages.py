"""Turn pydantic's validation errors into plain sentences: expected this, found that.

pydantic says "Input should be greater than or equal to 1"; a person editing YAML
wants `spec.gpus[0].count: must be >= 1, got 0`, and for a typo the right name.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import types
import typing
from collections.abc import Iterator, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from fleetyard.spec.errors import Problem, format_path, quoted
from fleetyard.spec.yamlsource import Document, Loc


def problems_from(error: ValidationError, model: type[BaseModel], doc: Document) -> list[Problem]:
    out: list[Problem] = []
    seen: set[tuple[Loc, str]] = set()
    for detail in error.errors(include_url=False):
        loc = _clean_loc(detail["loc"])
        message = describe(detail, model, loc)
        if (loc, message) in seen:
            continue
        seen.add((loc, message))
        out.append(Problem(doc.file, doc.line_of(loc), format_path(loc), message))
    return out


_PYDANTIC_TAG = re.compile(r"^[a-z][a-z-]*\[.*\]$")  # e.g. 'function-after[_check(), Spec]'


def _clean_loc(loc: Sequence[str | int]) -> Loc:
    """Drop the tags pydantic inserts for union members and validators; keep user fields."""
    return tuple(p for p in loc if not (isinstance(p, str) and _PYDANTIC_TAG.match(p)))


def _number(bound: Any) -> str:
    """A bound as pydantic gives it (100.0, 1000), big ones readable: 1,000,000 not 1000000.0."""
    if isinstance(bound, int | float) and abs(bound) >= 10_000:
        return f"{int(bound):,}" if float(bound).is_integer() else f"{bound:,}"
    return str(bound)


def found(value: Any) -> str:
    if isinstance(value, dt.date | dt.datetime):
        return f"{value.isoformat()} (a date)"
    if isinstance(value, str):
        return quoted(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def describe(detail: ErrorDetails, model: type[BaseModel], loc: Loc) -> str:
    kind = detail["type"]
    ctx: dict[str, Any] = dict(detail.get("ctx") or {})
    value = detail.get("input")
    got = found(value)
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        field = str(loc[-1]) if loc else "?"
        choices = sorted(fields_at(model, loc[:-1]))
        hint = difflib.get_close_matches(field, choices, n=1, cutoff=0.6)
        tail = f" (did you mean '{hint[0]}'?)" if hint else f"; expected one of: {', '.join(choices)}"
        return f"unknown field '{field}'{tail}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        op = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=",
              "less_than": "<"}[kind]
        return f"must be {op} {_number(next(iter(ctx.values())))}, got {got}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected a whole number, got {got}"
    if kind in ("float_type", "float_parsing"):
        return f"expected a number, got {got}"
    if kind == "finite_number":
        return f"expected a finite number, got {got}"
    if kind in ("string_type",):
        if isinstance(value, bool):
            return (f"expected text, got {got}: YAML reads unquoted yes/no/on/off (and NO, Norway's code) "
                    "as true/false; quote it")
        return f"expected text, got {got}"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {got}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping (key: value), got {got}"
    if kind in ("list_type",):
        return f"expected a list, got {got}"
    if kind == "too_short":
        return f"expected at least {ctx.get('min_length', 1)} item(s), got {ctx.get('actual_length', 0)}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters, got {len(str(value))}"
    if kind == "literal_error":
        expected = str(ctx.get("expected", ""))
        options = [o.strip().strip("'") for o in expected.replace(" or ", ",").split(",") if o.strip()]
        hint = difflib.get_close_matches(str(value), options, n=1, cutoff=0.5)
        tail = f" (did you mean '{hint[0]}'?)" if hint else ""
        return f"expected one of {', '.join(options)}, got {got}{tail}"
    if kind == "string_pattern_mismatch":
        return f"{pattern_hint(loc)}, got {got}"
    if kind == "value_error":
        return str(detail["msg"]).removeprefix("Value error, ")
    return f"{detail['msg']}, got {got}"


def pattern_hint(loc: Loc) -> str:
    last = next((p for p in reversed(loc) if isinstance(p, str)), "")
    if last == "country" or "countries" in loc:
        return "expected an ISO 3166-1 alpha-2 country code in capitals such as DE or US"
    if last == "model":
        return "expected a registry reference name:version or name@alias"
    if "sync_windows" in loc:
        return "expected a window HH:MM-HH:MM such as 01:00-05:00"
    if last in ("path", "http", "url_path"):
        return "expected a URL path starting with '/', without spaces, such as /metrics"
    if "metrics" in loc and last in ("requests", "errors", "latency"):
        return "expected a Prometheus metric name of letters, digits, '_' and ':', not starting with a digit"
    return (
        "expected a name of lowercase letters, digits and '-', starting and ending with a "
        "letter or digit, at most 63 characters"
    )


def fields_at(model: type[BaseModel], loc: Loc) -> set[str]:
    """Field names allowed at `loc` inside `model` (for 'did you mean')."""
    current: Any = model
    for part in loc:
        current = _step(current, part)
        if current is None:
            return set()
    for candidate in _models_in(current):
        return set(candidate.model_fields)
    return set()


def _step(annotation: Any, part: str | int) -> Any:
    for candidate in _unwrap(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel) and isinstance(part, str):
            info = candidate.model_fields.get(part)
            if info is not None:
                return info.annotation
        origin = typing.get_origin(candidate)
        if origin is list and isinstance(part, int):
            return typing.get_args(candidate)[0]
        if origin is dict and isinstance(part, str):
            return typing.get_args(candidate)[1]
    return None


def _unwrap(annotation: Any) -> Iterator[Any]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            yield from _unwrap(arg)
    elif origin is typing.Annotated:
        yield from _unwrap(typing.get_args(annotation)[0])
    else:
        yield annotation


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    for candidate in _unwrap(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            yield candidate
