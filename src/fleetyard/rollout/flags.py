"""Feature flag evaluation, as pure logic: the same answer on the server, the agent and the CLI.

    evaluate(flag, site_facts, context) -> Evaluation(value, variant, reason, error)

A flag is evaluated in two steps. `resolve(flag, facts)` decides everything the site
decides - which rules apply here (site, region, country, labels) - and gives the
`SiteFlag` the server sends to that site; `evaluate_site(site_flag, context)` decides
the rest from the caller's evaluation context (context conditions, percentages).
`evaluate` is both steps, so a site and a test on files agree by construction.

Rules are tried in order and the first that matches wins. A rule with `percent`
matches the share of keys whose bucket is below it: the bucket is the first 8 bytes
of SHA-256 over `flag name NUL key`, modulo 10,000 - stable across processes,
machines and Python versions (not `hash()`), and one bucket per flag and key, so
raising a percentage only adds keys, never reshuffles them. OFREP reasons: STATIC (the
flag has no rules), TARGETING_MATCH (a rule matched), SPLIT (a percentage rule took
the key), DEFAULT (no rule did), DISABLED (`enabled: false`), ERROR with FLAG_NOT_FOUND,
TYPE_MISMATCH, TARGETING_KEY_MISSING or INVALID_CONTEXT.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from fleetyard.spec.flag import FlagSpec, SiteFlag, SiteRule, fits
from fleetyard.spec.fleet import Fleet
from fleetyard.spec.geo import rtt_ms
from fleetyard.spec.models import Flag, Region, Site

__all__ = [
    "BUCKETS",
    "ErrorCode",
    "Evaluation",
    "FlagError",
    "Reason",
    "SiteFacts",
    "bucket",
    "evaluate",
    "evaluate_site",
    "lookup",
    "region_of",
    "resolve",
    "site_facts",
]

BUCKETS = 10_000
REGION_LABEL = "region"

Reason = Literal["STATIC", "TARGETING_MATCH", "SPLIT", "DEFAULT", "DISABLED", "ERROR"]
ErrorCode = Literal["FLAG_NOT_FOUND", "TYPE_MISMATCH", "TARGETING_KEY_MISSING", "INVALID_CONTEXT",
                    "PARSE_ERROR", "GENERAL"]


class FlagError(NamedTuple):
    code: ErrorCode
    detail: str


class Evaluation(NamedTuple):
    """One answer. On an error `value` and `variant` are None: the caller keeps its own default."""

    value: Any
    variant: str | None
    reason: Reason
    error: FlagError | None = None


@dataclass(frozen=True)
class SiteFacts:
    """What rules may ask of a site."""

    site: str
    country: str
    region: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


def region_of(site: Site, regions: Mapping[str, Region]) -> str | None:
    """The Region whose users a site serves: its `region` label when that names a Region,
    else the Region with the lowest RTT (measured `latency_ms`, else estimated), ties by name."""
    label = site.labels.get(REGION_LABEL)
    if label is not None and label in regions:
        return label
    if not regions:
        return None
    return min(regions.values(), key=lambda r: (rtt_ms(site, r), r.name)).name


def site_facts(fleet: Fleet, site: str) -> SiteFacts:
    s = fleet.sites[site]
    return SiteFacts(site=site, country=s.spec.country, region=region_of(s, fleet.regions), labels=dict(s.labels))


def bucket(flag: str, key: str) -> int:
    """The key's bucket for this flag, 0..9,999."""
    digest = hashlib.sha256(f"{flag}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


# --- resolve: the site's part ---------------------------------------------------------------

def _variant_name(value: Any, flag_type: str, fallback: str) -> str:
    """A name for a value written without `variants`: the value itself as text (objects: `fallback`)."""
    if flag_type == "object":
        return fallback
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _site_holds(spec: FlagSpec, i: int, facts: SiteFacts) -> bool:
    m = spec.rules[i].match
    return ((m.site is None or facts.site in m.site)
            and (m.region is None or facts.region in m.region)
            and (m.country is None or facts.country in m.country)
            and all(facts.labels.get(k) == v for k, v in m.labels.items()))


def resolve(flag: Flag, facts: SiteFacts) -> SiteFlag:
    """The flag as this site serves it: only the rules whose site conditions hold here."""
    spec = flag.spec
    variants: dict[str, Any]
    if spec.variants is not None:
        variants = dict(spec.variants)
        default = str(spec.default)
        names = [str(r.variant) for r in spec.rules]
    else:
        variants = {}
        default = _variant_name(spec.default, spec.type, "default")
        variants[default] = spec.default
        names = []
        for i, r in enumerate(spec.rules):
            name = _variant_name(r.variant, spec.type, f"rule-{i}")
            variants.setdefault(name, r.variant)
            names.append(name)
    rules = [SiteRule(context={k: list(v) for k, v in r.match.context.items()}, percent=r.percent,
                      variant=names[i], index=i)
             for i, r in enumerate(spec.rules) if _site_holds(spec, i, facts)]
    used = {default, *(r.variant for r in rules)}
    return SiteFlag(key=flag.name, type=spec.type, variants={k: v for k, v in variants.items() if k in used},
                    default=default, rules=rules, bucket_by=spec.bucket_by, enabled=spec.enabled,
                    static=not spec.rules)


# --- evaluate: the caller's part -------------------------------------------------------------

def _text(value: Any) -> str | None:
    """A context value as rules compare it: text as is, numbers and booleans as JSON writes them."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    return None


def _answer(flag: SiteFlag, variant: str, reason: Reason) -> Evaluation:
    if variant not in flag.variants:
        return Evaluation(None, None, "ERROR", FlagError("GENERAL", f"flag {flag.key} has no variant {variant!r}"))
    value = flag.variants[variant]
    if not fits(value, flag.type):
        return Evaluation(None, None, "ERROR", FlagError(
            "TYPE_MISMATCH", f"flag {flag.key} is of type {flag.type}, its variant {variant!r} is not"))
    if flag.type == "float" and isinstance(value, int):
        value = float(value)
    return Evaluation(value, variant, reason)


def evaluate_site(flag: SiteFlag, context: Mapping[str, Any]) -> Evaluation:
    """The flag's value for one caller (`context`: the OpenFeature evaluation context)."""
    if not flag.enabled:
        return _answer(flag, flag.default, "DISABLED")
    if flag.static:
        return _answer(flag, flag.default, "STATIC")
    for rule in flag.rules:
        if not all(_text(context.get(k)) in allowed for k, allowed in rule.context.items()):
            continue
        if rule.percent is None:
            return _answer(flag, rule.variant, "TARGETING_MATCH")
        raw = context.get(flag.bucket_by)
        if raw is None or raw == "":
            return Evaluation(None, None, "ERROR", FlagError(
                "TARGETING_KEY_MISSING",
                f"flag {flag.key}: rule {rule.index} serves {rule.percent:g}% of keys and the evaluation "
                f"context has no {flag.bucket_by}"))
        key = _text(raw)
        if key is None:
            return Evaluation(None, None, "ERROR", FlagError(
                "INVALID_CONTEXT", f"flag {flag.key}: {flag.bucket_by} must be text or a number, got "
                f"{type(raw).__name__}"))
        if bucket(flag.key, key) < round(rule.percent * BUCKETS / 100):
            return _answer(flag, rule.variant, "SPLIT")
    return _answer(flag, flag.default, "DEFAULT")


def evaluate(flag: Flag, facts: SiteFacts, context: Mapping[str, Any]) -> Evaluation:
    """The flag's value at the site `facts` describe, for the caller `context`."""
    return evaluate_site(resolve(flag, facts), context)


def lookup(flags: Mapping[str, SiteFlag], key: str, context: Mapping[str, Any]) -> Evaluation:
    """Evaluate the flag named `key` among a site's flags (FLAG_NOT_FOUND if it has none such)."""
    flag = flags.get(key)
    if flag is None:
        return Evaluation(None, None, "ERROR", FlagError("FLAG_NOT_FOUND", f"no flag named {key!r}"))
    return evaluate_site(flag, context)
