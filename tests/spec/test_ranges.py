"""Plausible ranges: every number of the format has an upper bound, documented in docs/specs.md.

The walk over the models finds every int and float field (in lists and as mapping values
too), so a field added later without a bound, or a bound changed without the docs,
fails here. The cases check the messages, and that a value at a bound is still valid.
"""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path

import annotated_types
import pytest
from pydantic import BaseModel

from fleetyard.spec.models import KINDS

DOCS = Path(__file__).resolve().parents[2] / "docs" / "specs.md"


def _unwrap(annotation: typing.Any) -> list[typing.Any]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return [a for arg in typing.get_args(annotation) if arg is not type(None) for a in _unwrap(arg)]
    return [annotation]


def _number(bound: float) -> str:
    """As docs/specs.md writes a bound: 100, 1,000,000."""
    return f"{int(bound):,}" if abs(bound) >= 10_000 else f"{bound:g}"


def _bounds(metadata: list[typing.Any]) -> str:
    parts = []
    for m in metadata:
        for cls, attr, op in ((annotated_types.Ge, "ge", ">="), (annotated_types.Gt, "gt", ">"),
                              (annotated_types.Le, "le", "<="), (annotated_types.Lt, "lt", "<")):
            if isinstance(m, cls):
                parts.append(f"{op} {_number(getattr(m, attr))}")
    return ", ".join(parts)


def numeric_fields(model: type[BaseModel], prefix: str) -> dict[str, str]:
    """Field path -> its range as the docs write it, for every number under `model`."""
    out: dict[str, str] = {}
    for name, info in model.model_fields.items():
        for annotation in _unwrap(info.annotation):
            path, metadata = f"{prefix}.{info.alias or name}", list(info.metadata)
            origin = typing.get_origin(annotation)
            if origin is list:
                (annotation,), path = typing.get_args(annotation), path + "[]"
            elif origin is dict:
                annotation, path = typing.get_args(annotation)[1], path + ".*"
            if typing.get_origin(annotation) is typing.Annotated:
                annotation, *extra = typing.get_args(annotation)
                metadata = [m for e in extra for m in getattr(e, "metadata", [e])]
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                out |= numeric_fields(annotation, path)
            elif annotation in (int, float):
                out[path] = _bounds(metadata)
    return out


FIELDS = {path: rng for kind, model in KINDS.items() for path, rng in numeric_fields(model, kind).items()}


def documented() -> dict[str, str]:
    rows: dict[str, str] = {}
    for line in DOCS.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`"):
            for field in re.findall(r"`([^`]+)`", cells[0]):
                rows[field] = cells[2]
    return rows


def test_the_walk_finds_the_numbers_of_the_format():
    assert len(FIELDS) >= 35
    assert FIELDS["Site.spec.energy.price_per_kwh"] == ">= 0, <= 100"
    assert FIELDS["Site.spec.gpus[].count"] == ">= 1, <= 1,000,000"
    assert FIELDS["Site.spec.latency_ms.*"] == ">= 0, <= 100,000"
    assert FIELDS["Workload.spec.demand.*"] == ">= 0, <= 10,000,000"


@pytest.mark.parametrize("path", sorted(FIELDS))
def test_every_number_has_an_upper_bound_and_is_documented(path):
    assert "<" in FIELDS[path], f"{path} has no upper bound ({FIELDS[path] or 'no bound at all'})"
    assert documented().get(path) == FIELDS[path], f"docs/specs.md does not give {path} as {FIELDS[path]}"


def test_the_docs_list_no_field_that_does_not_exist():
    assert set(documented()) - set(FIELDS) == set()


def case(template, old, new, path, *words, name):
    """`old` replaced by `new` in `template` gives one error at `path`, on the line of `new`."""
    return pytest.param(template, old, new, path, words, id=name)


RANGES = [
    case("SITE", "price_per_kwh: 0.17", "price_per_kwh: 1.0e+308", "spec.energy.price_per_kwh",
         "must be <= 100.0, got 1e+308", name="price-per-kwh-1e308"),
    case("SITE", "price_per_kwh: 0.17", "price_per_kwh: .nan", "spec.energy.price_per_kwh",
         "expected a finite number", name="price-per-kwh-nan"),
    case("SITE", "count: 32", "count: 10000001", "spec.gpus[0].count",
         "must be <= 1,000,000, got 10000001", name="gpu-count"),
    case("SITE", "count: 32", "count: " + "9" * 60, "spec.gpus[0].count",
         "must be <= 1,000,000, got 9999", name="gpu-count-60-digits"),
    case("SITE", "pue: 1.25", "pue: 5", "spec.power.pue", "must be <= 3.0, got 5", name="pue"),
    case("SITE", "carbon_g_per_kwh: 380", "carbon_g_per_kwh: 380000", "spec.energy.carbon_g_per_kwh",
         "must be <= 2000.0, got 380000", name="carbon"),
    case("SITE", "{eu-central: 2}", "{eu-central: -.inf}", "spec.latency_ms.eu-central",
         "expected a finite number", name="latency-minus-inf"),
    case("SITE", "it_capacity_kw: 40", "it_capacity_kw: 4.0e+9", "spec.power.it_capacity_kw",
         "must be <= 10,000,000, got 4000000000.0", name="it-capacity"),
    case("WORKLOAD", "{eu-central: 120}", "{eu-central: 1.0e+12}", "spec.demand.eu-central",
         "must be <= 10,000,000, got 1000000000000.0", name="demand"),
    case("WORKLOAD", "{min: 2, max: 16}", "{min: 2, max: 16000000}", "spec.replicas.max",
         "must be <= 1,000,000, got 16000000", name="replicas-max"),
    case("OBJECTIVE", "carbon_price_per_tonne: 80", "carbon_price_per_tonne: 1.0e+300",
         "spec.carbon_price_per_tonne", "must be <= 10,000, got 1e+300", name="carbon-price"),
]


@pytest.mark.parametrize(("template", "old", "new", "path", "words"), RANGES)
def test_an_implausible_number_is_a_problem_at_its_field(fleet_dir, template, old, new, path, words):
    f = fleet_dir.broken(template, old, new)
    fleet_dir.expect_error(f, fleet_dir.line(f, new), path, *words)


def test_values_at_the_bounds_are_valid(fleet_dir):
    site = fleet_dir.edit(fleet_dir.SITE, "price_per_kwh: 0.17", "price_per_kwh: 100")
    site = fleet_dir.edit(site, "pue: 1.25", "pue: 3")
    site = fleet_dir.edit(site, "count: 32", "count: 1000000")
    fleet_dir.fleet(SITE=site)
    spec = fleet_dir.load().fleet.sites["fra-1"].spec
    assert (spec.energy.price_per_kwh, spec.power.pue, spec.gpus[0].count) == (100, 3, 1_000_000)
