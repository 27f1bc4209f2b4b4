"""Properties of Flag documents, whatever they hold: the loader ends with a fleet or with spec
problems at a line of the flag's file (never another exception); a flag that loads answers
every caller at every site with a value of its type or an OFREP error, and reaches an agent
through the wire unchanged."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fleetyard.rollout.flags import evaluate_site, resolve, site_facts
from fleetyard.services.flags import flags_revision
from fleetyard.services.wire import DesiredState
from fleetyard.spec import SpecError, load_fleet_sources
from fleetyard.spec.flag import FLAG_TYPES, fits

BASE = """\
apiVersion: fleetyard/v1
kind: Region
metadata: {name: eu-central}
spec: {location: {lat: 50.11, lon: 8.68}}
---
apiVersion: fleetyard/v1
kind: Site
metadata: {name: fra-1, labels: {ring: canary}}
spec:
  type: edge
  country: DE
  location: {lat: 50.11, lon: 8.68}
  gpus: [{sku: L4, count: 1}]
  power: {it_capacity_kw: 1}
  energy: {price_per_kwh: 0.1, carbon_g_per_kwh: 100}
---
apiVersion: fleetyard/v1
kind: Site
metadata: {name: par-1}
spec:
  type: edge
  country: FR
  location: {lat: 48.86, lon: 2.35}
  gpus: [{sku: L4, count: 1}]
  power: {it_capacity_kw: 1}
  energy: {price_per_kwh: 0.1, carbon_g_per_kwh: 100}
"""

SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(10**17), max_value=10**17)
           | st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(["a", "b", "on", "fra-1", "DE", ""]))
VALUES = st.recursive(SCALARS, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(["a", "b"]), c,
                                                                                   max_size=2), max_leaves=6)
NAMES = st.sampled_from(["a", "b", "on", "fra-1", "par-1", "nowhere", "eu-central", "DE", "FR"])
MATCH = st.fixed_dictionaries({}, optional={
    "site": st.lists(NAMES, max_size=2) | VALUES,
    "region": st.lists(NAMES, max_size=2),
    "country": st.lists(NAMES, max_size=2),
    "labels": st.dictionaries(st.sampled_from(["ring"]), st.sampled_from(["canary", "x"]), max_size=1),
    "context": st.dictionaries(st.sampled_from(["plan"]), st.lists(st.sampled_from(["pro", "1"]), max_size=2),
                               max_size=1),
})
RULE = st.fixed_dictionaries({"variant": VALUES | NAMES}, optional={
    "match": MATCH, "percent": st.floats(allow_nan=True, allow_infinity=True) | st.integers(-5, 150)})
SPEC = st.fixed_dictionaries(
    {"type": st.sampled_from([*FLAG_TYPES, "bool"]), "default": VALUES | NAMES},
    optional={"variants": st.dictionaries(st.sampled_from(["a", "b", "on"]), VALUES, max_size=3),
              "rules": st.lists(RULE, max_size=4), "enabled": st.booleans(), "bucket_by": st.sampled_from(["tenant"])})
CONTEXTS = [{}, {"targetingKey": "u1"}, {"targetingKey": "u2", "plan": "pro"}, {"tenant": 7, "plan": 1},
            {"targetingKey": ["x"]}]


def _load(spec: dict[str, Any]) -> Any:
    doc = {"apiVersion": "fleetyard/v1", "kind": "Flag", "metadata": {"name": "f"}, "spec": spec}
    return load_fleet_sources([("base.yaml", BASE), ("flags.yaml", yaml.safe_dump(doc, sort_keys=False))])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=SPEC)
def test_any_flag_document_loads_or_is_problems_at_lines_of_its_file(spec: dict[str, Any]) -> None:
    try:
        loaded = _load(spec)
    except SpecError as exc:
        event("refused")
        assert exc.errors
        for p in exc.problems:
            assert p.file == "flags.yaml" and isinstance(p.line, int) and p.line >= 1, str(p)
            assert p.path.startswith("spec") and p.message, str(p)
        return
    fleet = loaded.fleet
    flag = fleet.flags["f"]
    event(f"loaded, {len(flag.spec.rules)} rules")
    for site in fleet.sites:
        served = resolve(flag, site_facts(fleet, site))
        # through the wire as the agent gets it
        state = DesiredState.model_validate_json(DesiredState(
            site=site, revision=1, generated_at="2026-12-02T00:00:00Z", models=[], workloads=[],  # type: ignore[arg-type]
            flags=[served], flags_revision=flags_revision([served])).model_dump_json())
        assert state.flags == [served] and state.flags_revision == flags_revision(state.flags)
        for ctx in CONTEXTS:
            e = evaluate_site(state.flags[0], ctx)
            if e.error is None:
                assert fits(e.value, flag.spec.type) and e.variant in served.variants, (e, spec)
                assert e.reason in ("STATIC", "TARGETING_MATCH", "SPLIT", "DEFAULT", "DISABLED")
            else:
                assert (e.value, e.variant, e.reason) == (None, None, "ERROR")
                assert e.error.code in ("TARGETING_KEY_MISSING", "INVALID_CONTEXT"), e


def _values(kind: str) -> st.SearchStrategy[Any]:
    n = 10**15
    return {"boolean": st.booleans(), "string": st.text(min_size=1, max_size=8).filter(lambda t: "\x00" not in t),
            "integer": st.integers(-n, n), "float": st.floats(-n, n, allow_nan=False) | st.integers(-n, n),
            "object": st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 9) | st.text(max_size=3),
                                      max_size=2) | st.lists(st.integers(0, 9), max_size=3)}[kind]


VALID_MATCH = st.fixed_dictionaries({}, optional={
    "site": st.lists(st.sampled_from(["fra-1", "par-1"]), min_size=1, max_size=2),
    "region": st.just(["eu-central"]),
    "country": st.lists(st.sampled_from(["DE", "FR", "US"]), min_size=1, max_size=2),
    "labels": st.just({"ring": "canary"}),
    "context": st.just({"plan": ["pro"]}),
})


@st.composite
def valid_flags(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(FLAG_TYPES))
    named = draw(st.booleans())
    if named:
        variants = draw(st.dictionaries(st.sampled_from(["a", "b", "c"]), _values(kind), min_size=1, max_size=3))
        pick: st.SearchStrategy[Any] = st.sampled_from(sorted(variants))
    else:
        variants, pick = {}, _values(kind)
    rules = draw(st.lists(st.fixed_dictionaries({"variant": pick}, optional={
        "match": VALID_MATCH, "percent": st.floats(0, 100) | st.integers(0, 100)}), max_size=4))
    spec = {"type": kind, "default": draw(pick), "rules": rules, **({"variants": variants} if named else {})}
    return spec


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=valid_flags())
def test_a_well_typed_flag_always_loads_and_answers_values_of_its_type(spec: dict[str, Any]) -> None:
    fleet = _load(spec).fleet
    flag = fleet.flags["f"]
    event(f"{len(spec['rules'])} rules")
    for site in fleet.sites:
        served = resolve(flag, site_facts(fleet, site))
        for ctx in CONTEXTS[:4]:
            e = evaluate_site(served, ctx)
            if e.error is None:
                assert fits(e.value, flag.spec.type) and e.variant in served.variants, (e, spec)
            else:
                assert e.error.code in ("TARGETING_KEY_MISSING",), e
