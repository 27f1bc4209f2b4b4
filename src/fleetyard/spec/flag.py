"""The `Flag` resource (issue 10): a feature flag served at every site over OFREP.

    apiVersion: fleetyard/v1
    kind: Flag
    metadata: {name: new-tokenizer}
    spec:
      type: boolean                       # boolean | string | integer | float | object
      default: false                      # a value of `type`, or a variant name when `variants` is given
      rules:                              # in order; the first that matches wins
        - match: {country: [DE]}          # site, region, country, labels (the site's) and context (the caller's)
          percent: 20                     # optional: that share of keys, sticky (hash of flag name + key)
          variant: true

With `variants` ({name: value}), `default` and every rule's `variant` name one of them;
without, they are values of `type` themselves. `bucket_by` names the evaluation
context attribute that percentages stick to (`targetingKey` by default); `enabled:
false` serves the default everywhere (OFREP reason DISABLED). What a rule's fields
mean and how a flag is evaluated: docs/flags.md and `rollout.flags`.

`SiteFlag` is a flag as resolved for one site (its site facts decided, only the
caller's context left open): what the server sends an agent in the desired state.
The cross-resource rules (a rule naming an unknown site or region, a value of the
wrong type) are `flag_problems`, reported by `spec.validate` at their field.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterator, Set
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from fleetyard.spec.errors import Severity

__all__ = [
    "FLAG_TYPES",
    "MAX_FLAG_NUMBER",
    "FlagMatch",
    "FlagRule",
    "FlagSpec",
    "FlagType",
    "FlagValue",
    "SiteFlag",
    "SiteRule",
    "fits",
    "flag_problems",
    "type_of",
]

FlagType = Literal["boolean", "string", "integer", "float", "object"]
FLAG_TYPES: tuple[FlagType, ...] = ("boolean", "string", "integer", "float", "object")

MAX_FLAG_NUMBER = 10**15
"""Bound of an integer or float flag value: well inside the 2**53 a JSON number holds exactly."""

MAX_RULES = 1_000
MAX_LIST = 10_000


Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
Attribute = Annotated[str, StringConstraints(min_length=1, max_length=256)]
VariantName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=63)]
ContextText = Annotated[str, StringConstraints(max_length=4096)]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def _json_value(value: Any, top: bool = True) -> Any:
    """A flag value is JSON data: true/false, text, a number within +-10**15 (finite),
    or a mapping (text keys) or list of such; null only inside a mapping or list."""
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {value!r}")
        if abs(value) > MAX_FLAG_NUMBER:
            raise ValueError(f"must be >= -{MAX_FLAG_NUMBER:,} and <= {MAX_FLAG_NUMBER:,}, got {value!r}")
        return value
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"expected text keys in a mapping value, got {k!r}")
            _json_value(v, top=False)
        return value
    if isinstance(value, list):
        for v in value:
            _json_value(v, top=False)
        return value
    if value is None and not top:
        return value
    shown = "nothing (null)" if value is None else f"{value} (a {type(value).__name__})"
    raise ValueError(f"expected true/false, text, a number, a mapping or a list, got {shown}")


FlagValue = Annotated[Any, AfterValidator(_json_value)]
"""A value as written (bool is never taken for 1: `type_of` checks bool first)."""


class FlagMatch(_Frozen):
    """What a rule asks of the site (all given fields must hold) and of the caller's context.

    `site`, `region`, `country`: the site is one of these (its region: docs/flags.md).
    `labels`: the site has all these labels. `context`: the evaluation context's
    attribute has one of the listed values (compared as text)."""

    site: list[Name] | None = Field(default=None, min_length=1, max_length=MAX_LIST)
    region: list[Name] | None = Field(default=None, min_length=1, max_length=MAX_LIST)
    country: list[Country] | None = Field(default=None, min_length=1, max_length=MAX_LIST)
    labels: dict[str, str] = Field(default_factory=dict)
    context: dict[Attribute, list[ContextText]] = Field(default_factory=dict)


class FlagRule(_Frozen):
    match: FlagMatch = Field(default_factory=FlagMatch)
    percent: float | None = Field(default=None, ge=0, le=100)
    variant: FlagValue


class FlagSpec(_Frozen):
    type: FlagType
    default: FlagValue
    variants: dict[VariantName, FlagValue] | None = Field(default=None, min_length=1)
    rules: list[FlagRule] = Field(default_factory=list, max_length=MAX_RULES)
    bucket_by: Attribute = "targetingKey"
    enabled: bool = True
    description: Annotated[str, StringConstraints(max_length=4096)] = ""


# --- a flag as resolved for one site (server -> agent) ------------------------------------

class SiteRule(_Frozen):
    """A rule whose site conditions held at this site: the context part and the split remain."""

    context: dict[str, list[str]] = Field(default_factory=dict)
    percent: float | None = None
    variant: str  # a key of SiteFlag.variants
    index: int  # the rule's position in the Flag (for a person reading the result)


class SiteFlag(_Frozen):
    """One flag as a site serves it: variants by name, the default's name, the rules left."""

    key: str
    type: FlagType
    variants: dict[str, Any]
    default: str
    rules: list[SiteRule] = Field(default_factory=list)
    bucket_by: str = "targetingKey"
    enabled: bool = True
    static: bool = False  # the Flag has no rules at all (OFREP reason STATIC, not DEFAULT)


# --- types and cross-resource rules -------------------------------------------------------

def type_of(value: Any) -> FlagType | None:
    """The flag type a value is, or None (an integer also passes as a float: see `fits`)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, dict | list):
        return "object"
    return None


def fits(value: Any, flag_type: FlagType) -> bool:
    """Whether `value` is a value of `flag_type` (a whole number is a float too: YAML writes 1, not 1.0)."""
    kind = type_of(value)
    return kind == flag_type or (flag_type == "float" and kind == "integer")


_ARTICLE = {"boolean": "true or false", "string": "text", "integer": "a whole number", "float": "a number",
            "object": "a mapping or a list"}


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"'{value[:80]}'"
    return repr(value)


def flag_problems(spec: FlagSpec, known_site: Callable[[str], bool], known_region: Callable[[str], bool],
                  sites: Set[str], regions: Set[str]) -> Iterator[tuple[tuple[str | int, ...], str, Severity]]:
    """(field path under the resource, message, severity) of each mistake in a flag.

    `known_site(name)` / `known_region(name)`: False for a name the fleet lacks (the
    validator's own test, which knows about documents that failed to load);
    `sites` / `regions`: the names, for the message."""
    expected = _ARTICLE[spec.type]
    if spec.variants is not None:
        names = sorted(spec.variants)
        for name, value in spec.variants.items():
            if not fits(value, spec.type):
                yield ("spec", "variants", name), \
                    f"expected {expected} (the flag's type is {spec.type}), got {_shown(value)}", "error"
        choices = ", ".join(names)
        if not isinstance(spec.default, str) or spec.default not in spec.variants:
            yield ("spec", "default"), f"expected the name of a variant ({choices}), got {_shown(spec.default)}", \
                "error"
        for i, rule in enumerate(spec.rules):
            if not isinstance(rule.variant, str) or rule.variant not in spec.variants:
                yield ("spec", "rules", i, "variant"), \
                    f"expected the name of a variant ({choices}), got {_shown(rule.variant)}", "error"
    else:
        if not fits(spec.default, spec.type):
            yield ("spec", "default"), f"expected {expected} (the flag's type is {spec.type}), " \
                f"got {_shown(spec.default)}", "error"
        for i, rule in enumerate(spec.rules):
            if not fits(rule.variant, spec.type):
                yield ("spec", "rules", i, "variant"), \
                    f"expected {expected} (the flag's type is {spec.type}), got {_shown(rule.variant)}", "error"
    for i, rule in enumerate(spec.rules):
        for j, site in enumerate(rule.match.site or []):
            if not known_site(site):
                yield ("spec", "rules", i, "match", "site", j), \
                    f"unknown site '{site}'{_hint(site, sites)}", "error"
        for j, region in enumerate(rule.match.region or []):
            if not known_region(region):
                yield ("spec", "rules", i, "match", "region", j), \
                    f"unknown region '{region}'{_hint(region, regions)}", "error"
        catch_all = rule.match == FlagMatch() and rule.percent in (None, 100)
        if catch_all and i < len(spec.rules) - 1:
            yield ("spec", "rules", i + 1), \
                f"never reached: rule {i} matches every site and caller (no match, no percent)", "warning"


def _hint(name: str, choices: Set[str]) -> str:
    hint = difflib.get_close_matches(name, sorted(choices), n=1, cutoff=0.5)
    return f" (did you mean '{hint[0]}'?)" if hint else ""
