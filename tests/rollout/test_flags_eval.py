"""Flag evaluation (rollout/flags.py): reasons, first match wins, sticky percentages, types.

The unit cases build flags from YAML-shaped dicts exactly as the loader would; the
Hypothesis properties check that a key's bucket is stable and that the share of keys
a percentage takes is close to it over many keys.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetyard.rollout.flags import (
    BUCKETS,
    SiteFacts,
    bucket,
    evaluate,
    evaluate_site,
    lookup,
    region_of,
    resolve,
)
from fleetyard.spec.flag import SiteFlag
from fleetyard.spec.models import Flag, Region, Site

FRA = SiteFacts(site="fra-1", country="DE", region="eu-central", labels={"ring": "canary"})
PAR = SiteFacts(site="par-1", country="FR", region="eu-west", labels={})


def flag(spec: dict[str, Any], name: str = "new-tokenizer") -> Flag:
    return Flag.model_validate({"apiVersion": "fleetyard/v1", "kind": "Flag", "metadata": {"name": name},
                                "spec": spec})


def test_a_flag_without_rules_is_static() -> None:
    f = flag({"type": "string", "default": "bpe"})
    assert evaluate(f, FRA, {}) == ("bpe", "bpe", "STATIC", None)


def test_disabled_serves_the_default_everywhere() -> None:
    f = flag({"type": "boolean", "default": False, "enabled": False,
              "rules": [{"match": {"country": ["DE"]}, "variant": True}]})
    assert evaluate(f, FRA, {"targetingKey": "u1"}) == (False, "false", "DISABLED", None)


def test_targeting_by_site_region_country_labels_and_context() -> None:
    f = flag({"type": "integer", "default": 1, "rules": [
        {"match": {"site": ["par-1"]}, "variant": 2},
        {"match": {"region": ["eu-central"], "labels": {"ring": "canary"}, "context": {"plan": ["pro"]}},
         "variant": 3},
        {"match": {"country": ["DE"]}, "variant": 4},
    ]})
    assert evaluate(f, PAR, {}) == (2, "2", "TARGETING_MATCH", None)
    assert evaluate(f, FRA, {"plan": "pro"}) == (3, "3", "TARGETING_MATCH", None)
    assert evaluate(f, FRA, {"plan": "free"}) == (4, "4", "TARGETING_MATCH", None)
    other = SiteFacts(site="nyc-1", country="US", region="us-east")
    assert evaluate(f, other, {"plan": "pro"}) == (1, "1", "DEFAULT", None)


def test_first_match_wins() -> None:
    f = flag({"type": "string", "default": "a", "variants": {"a": "A", "b": "B", "c": "C"}, "rules": [
        {"match": {"country": ["DE"]}, "variant": "b"},
        {"match": {"site": ["fra-1"]}, "variant": "c"},
    ]})
    assert evaluate(f, FRA, {}) == ("B", "b", "TARGETING_MATCH", None)


def test_named_variants_and_object_values() -> None:
    f = flag({"type": "object", "default": {"model": "small"},
              "rules": [{"match": {"country": ["DE"]}, "variant": {"model": "large", "layers": [1, 2]}}]})
    assert evaluate(f, FRA, {}) == ({"model": "large", "layers": [1, 2]}, "rule-0", "TARGETING_MATCH", None)
    assert evaluate(f, PAR, {}) == ({"model": "small"}, "default", "DEFAULT", None)


def test_a_float_flag_answers_floats_even_for_whole_numbers() -> None:
    f = flag({"type": "float", "default": 1, "rules": [{"match": {"country": ["DE"]}, "variant": 0.5}]})
    value, _, _, _ = evaluate(f, PAR, {})
    assert value == 1.0 and isinstance(value, float)


def test_percent_takes_keys_below_the_threshold_and_falls_through_otherwise() -> None:
    f = flag({"type": "boolean", "default": False,
              "rules": [{"match": {"country": ["DE"]}, "percent": 20, "variant": True}]})
    keys = [f"user-{i}" for i in range(400)]
    for k in keys:
        expected = bucket("new-tokenizer", k) < 2000
        value, _variant, reason, error = evaluate(f, FRA, {"targetingKey": k})
        assert error is None
        assert (value, reason) == ((True, "SPLIT") if expected else (False, "DEFAULT")), k
    # the site part decides first: at par-1 the rule does not apply, no key is needed
    assert evaluate(f, PAR, {}) == (False, "false", "DEFAULT", None)


def test_bucket_by_another_attribute() -> None:
    f = flag({"type": "boolean", "default": False, "bucket_by": "tenant",
              "rules": [{"percent": 100, "variant": True}]})
    assert evaluate(f, FRA, {"tenant": "acme"})[2] == "SPLIT"
    assert evaluate(f, FRA, {"tenant": 42})[2] == "SPLIT"  # numbers are keys too, as text
    _, _, reason, error = evaluate(f, FRA, {"targetingKey": "u1"})
    assert reason == "ERROR" and error is not None and error.code == "TARGETING_KEY_MISSING"
    assert "tenant" in error.detail


def test_a_percentage_without_a_key_is_targeting_key_missing() -> None:
    f = flag({"type": "boolean", "default": False, "rules": [{"percent": 50, "variant": True}]})
    value, variant, reason, error = evaluate(f, FRA, {})
    assert (value, variant, reason) == (None, None, "ERROR")
    assert error is not None and error.code == "TARGETING_KEY_MISSING"
    _, _, reason, error = evaluate(f, FRA, {"targetingKey": {"not": "a key"}})
    assert reason == "ERROR" and error is not None and error.code == "INVALID_CONTEXT"


def test_flag_not_found_and_type_mismatch() -> None:
    f = flag({"type": "boolean", "default": False})
    flags = {"new-tokenizer": resolve(f, FRA)}
    assert lookup(flags, "new-tokenizer", {}) == (False, "false", "STATIC", None)
    missing = lookup(flags, "nope", {})
    assert missing.reason == "ERROR" and missing.error is not None and missing.error.code == "FLAG_NOT_FOUND"
    # a site flag whose value is not of its type (a hand-edited state file) is refused, not served
    bad = SiteFlag(key="x", type="integer", variants={"on": "yes"}, default="on", static=True)
    _, _, reason, error = evaluate_site(bad, {})
    assert reason == "ERROR" and error is not None and error.code == "TYPE_MISMATCH"
    # an integer is not a boolean (the spec is strict), and true is not an integer
    odd = SiteFlag(key="y", type="integer", variants={"t": True}, default="t", static=True)
    assert evaluate_site(odd, {}).error is not None


def test_resolve_bakes_the_site_in_and_keeps_only_the_variants_in_use() -> None:
    f = flag({"type": "string", "default": "off", "variants": {"off": "o", "de": "d", "fr": "f"}, "rules": [
        {"match": {"country": ["DE"]}, "variant": "de"},
        {"match": {"country": ["FR"]}, "percent": 10, "variant": "fr"},
    ]})
    at_fra = resolve(f, FRA)
    assert [r.index for r in at_fra.rules] == [0] and set(at_fra.variants) == {"off", "de"}
    at_par = resolve(f, PAR)
    assert [(r.index, r.percent) for r in at_par.rules] == [(1, 10)] and set(at_par.variants) == {"off", "fr"}


def _site(name: str, lat: float, lon: float, labels: dict[str, str] | None = None,
          latency: dict[str, float] | None = None) -> Site:
    return Site.model_validate({"apiVersion": "fleetyard/v1", "kind": "Site",
                                "metadata": {"name": name, "labels": labels or {}},
                                "spec": {"type": "edge", "country": "DE", "location": {"lat": lat, "lon": lon},
                                         "gpus": [{"sku": "L4", "count": 1}], "power": {"it_capacity_kw": 1},
                                         "energy": {"price_per_kwh": 0.1, "carbon_g_per_kwh": 100},
                                         "latency_ms": latency or {}}})


def test_the_region_of_a_site_is_its_label_else_the_nearest() -> None:
    regions = {n: Region.model_validate({"apiVersion": "fleetyard/v1", "kind": "Region", "metadata": {"name": n},
                                         "spec": {"location": {"lat": lat, "lon": lon}}})
               for n, lat, lon in (("eu-central", 50.11, 8.68), ("eu-west", 48.86, 2.35))}
    assert region_of(_site("a", 50.0, 8.0), regions) == "eu-central"
    assert region_of(_site("b", 48.9, 2.4), regions) == "eu-west"
    assert region_of(_site("c", 50.0, 8.0, labels={"region": "eu-west"}), regions) == "eu-west"
    assert region_of(_site("d", 50.0, 8.0, latency={"eu-west": 1.0}), regions) == "eu-west"  # measured wins
    assert region_of(_site("e", 50.0, 8.0, labels={"region": "mars"}), regions) == "eu-central"
    assert region_of(_site("f", 50.0, 8.0), {}) is None


# --- properties ----------------------------------------------------------------------------

KEYS = st.text(min_size=1, max_size=40)


def _reference_bucket(name: str, key: str) -> int:
    """The documented formula, written out again: SHA-256 over name NUL key, 8 bytes big-endian, mod 10,000."""
    return int.from_bytes(hashlib.sha256(name.encode() + b"\x00" + key.encode()).digest()[:8], "big") % 10_000


@given(name=st.from_regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True), key=KEYS)
def test_buckets_follow_the_documented_formula(name: str, key: str) -> None:
    b = bucket(name, key)
    assert 0 <= b < BUCKETS and b == _reference_bucket(name, key)


def test_buckets_are_the_same_in_another_process() -> None:
    """Not Python's salted hash(): a fresh interpreter (another PYTHONHASHSEED) agrees."""
    keys = [f"user-{i}" for i in range(50)] + ["", "é", "🙂"]
    code = ("import sys, json; from fleetyard.rollout.flags import bucket; "
            "print(json.dumps([bucket('f', k) for k in json.loads(sys.stdin.read())]))")
    import json

    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(keys), capture_output=True, text=True,
                         check=True, env={"PYTHONHASHSEED": "12345", "PATH": ""})
    assert json.loads(out.stdout) == [bucket("f", k) for k in keys]
    assert bucket("f", "user-0") == 4910  # pinned (printf "f\\0user-0" | sha256sum): a new formula moves users


@settings(max_examples=40, deadline=None)
@given(percent=st.floats(min_value=0, max_value=100), salt=st.text(max_size=8))
def test_percentages_are_roughly_proportional_over_many_keys(percent: float, salt: str) -> None:
    f = flag({"type": "boolean", "default": False, "rules": [{"percent": percent, "variant": True}]})
    site_flag = resolve(f, FRA)
    n = 4000
    hits = sum(evaluate_site(site_flag, {"targetingKey": f"{salt}-{i}"}).value is True for i in range(n))
    # binomial: 4 standard deviations (at most 4 * sqrt(4000 * 0.25) = 126 keys) plus the rounding to buckets
    assert abs(hits - n * percent / 100) <= 4 * (n * 0.25) ** 0.5 + 2, (hits, percent)


@settings(max_examples=60, deadline=None)
@given(low=st.floats(min_value=0, max_value=100), high=st.floats(min_value=0, max_value=100), key=KEYS)
def test_raising_a_percentage_keeps_every_key_it_had(low: float, high: float, key: str) -> None:
    low, high = min(low, high), max(low, high)

    def on(p: float) -> bool:
        f = flag({"type": "boolean", "default": False, "rules": [{"percent": p, "variant": True}]})
        return evaluate(f, FRA, {"targetingKey": key}).value is True

    assert not on(low) or on(high)
    assert on(low) == on(low)  # and the same key gets the same answer every time


@settings(max_examples=60, deadline=None)
@given(countries=st.lists(st.sampled_from(["DE", "FR", "US"]), min_size=1, max_size=5))
def test_the_first_matching_rule_decides(countries: list[str]) -> None:
    rules = [{"match": {"country": [c]}, "variant": i} for i, c in enumerate(countries)]
    f = flag({"type": "integer", "default": -1, "rules": rules})
    value = evaluate(f, FRA, {}).value
    assert value == (countries.index("DE") if "DE" in countries else -1)


@pytest.mark.parametrize("value", [True, "x", 3, 2.5, {"a": 1}, [1]])
def test_every_evaluation_of_a_valid_flag_has_a_value_of_its_type(value: Any) -> None:
    kind = {bool: "boolean", str: "string", int: "integer", float: "float", dict: "object", list: "object"}
    f = flag({"type": kind[type(value)], "default": value})
    assert evaluate(f, FRA, {}).value == value
