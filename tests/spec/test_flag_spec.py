"""Flag documents: a valid one loads (and `plan` ignores it); a bad one is one problem at its
file, line and field, and `fleetyard validate` exits 2 with it on stderr."""

from __future__ import annotations

import pytest

FLAG = """\
apiVersion: fleetyard/v1
kind: Flag
metadata: {name: new-tokenizer}
spec:
  type: boolean
  default: false
  rules:
    - match: {country: [DE], site: [fra-1], region: [eu-central], labels: {owner: platform}}
      percent: 20
      variant: true
"""

NAMED = """\
apiVersion: fleetyard/v1
kind: Flag
metadata: {name: tokenizer}
spec:
  type: string
  variants: {bpe: bpe-v1, unigram: unigram-v2}
  default: bpe
  rules:
    - match: {context: {plan: [pro]}}
      variant: unigram
"""


def write(fleet_dir, *flags: str) -> None:
    fleet_dir.fleet()
    fleet_dir.write("flags.yaml", *flags)


def test_valid_flags_load_beside_the_fleet(fleet_dir) -> None:
    write(fleet_dir, FLAG, NAMED)
    fleet = fleet_dir.load().fleet
    assert list(fleet.flags) == ["new-tokenizer", "tokenizer"]
    assert fleet.flags["new-tokenizer"].spec.rules[0].percent == 20
    assert fleet.flags["tokenizer"].spec.variants == {"bpe": "bpe-v1", "unigram": "unigram-v2"}
    cli = fleet_dir.validate()
    assert cli.exit_code == 0, cli


def case(template: str, old: str, new: str, path: str, *words: str, name: str, at: str | None = None) -> object:
    return pytest.param(template, old, new, path, words, at, id=name)


CASES = [
    case(FLAG, "type: boolean", "type: bool", "spec.type", "expected one of boolean, string, integer, float, "
         "object, got 'bool'", "did you mean 'boolean'", name="unknown-type"),
    case(FLAG, "variant: true", "variant: 'yes'", "spec.rules[0].variant",
         "expected true or false (the flag's type is boolean), got 'yes'", name="variant-of-wrong-type"),
    case(FLAG, "default: false", "default: 3", "spec.default", "expected true or false", "got 3",
         name="default-of-wrong-type"),
    case(FLAG, "site: [fra-1]", "site: [fra-2]", "spec.rules[0].match.site[0]", "unknown site 'fra-2'",
         "did you mean 'fra-1'", name="unknown-site"),
    case(FLAG, "region: [eu-central]", "region: [eu-centre]", "spec.rules[0].match.region[0]",
         "unknown region 'eu-centre'", name="unknown-region"),
    case(FLAG, "country: [DE]", "country: [de]", "spec.rules[0].match.country[0]",
         "expected an ISO 3166-1 alpha-2 country code", name="bad-country"),
    case(FLAG, "percent: 20", "percent: 120", "spec.rules[0].percent", "must be <= 100.0, got 120",
         name="percent-over-100"),
    case(FLAG, "percent: 20", "percent: .nan", "spec.rules[0].percent", "expected a finite number",
         name="percent-nan"),
    case(FLAG, "percent: 20", "precent: 20", "spec.rules[0].precent", "did you mean 'percent'",
         name="misspelt-field"),
    case(FLAG, "default: false", "default: null", "spec.default", "got nothing (null)", name="null-default"),
    case(NAMED, "unigram: unigram-v2", "unigram: 1.0e+300", "spec.variants.unigram", "must be >= -",
         "<= 1,000,000,000,000,000", name="huge-number"),
    case(NAMED, "default: bpe", "default: bpee", "spec.default",
         "expected the name of a variant (bpe, unigram), got 'bpee'", name="unknown-default-variant"),
    case(NAMED, "variant: unigram", "variant: unigramm", "spec.rules[0].variant",
         "expected the name of a variant", name="unknown-rule-variant"),
    case(NAMED, "unigram: unigram-v2", "unigram: 2", "spec.variants.unigram",
         "expected text (the flag's type is string), got 2", name="variant-value-of-wrong-type"),
    case(NAMED, "default: bpe", "default: 2020-01-01", "spec.default", "'2020-01-01'", name="a-date"),
]


@pytest.mark.parametrize(("template", "old", "new", "path", "words", "at"), CASES)
def test_a_bad_flag_is_one_problem_at_its_field(fleet_dir, template: str, old: str, new: str, path: str,
                                                words: tuple[str, ...], at: str | None) -> None:
    write(fleet_dir, fleet_dir.edit(template, old, new))
    f = fleet_dir.root / "flags.yaml"
    fleet_dir.expect_error(f, fleet_dir.line(f, at or new.split("\n")[0]), path, *words)


def test_an_unreachable_rule_is_a_warning(fleet_dir) -> None:
    flag = fleet_dir.edit(FLAG, "  rules:\n", "  rules:\n    - variant: false\n")
    write(fleet_dir, flag)
    loaded = fleet_dir.load()
    [w] = loaded.warnings
    assert (w.path, w.severity) == ("spec.rules[1]", "warning") and "never reached" in w.message


def test_plan_ignores_flags(fleet_dir) -> None:
    fleet_dir.fleet()
    before = fleet_dir.load().fleet
    fleet_dir.write("flags.yaml", FLAG)
    after = fleet_dir.load().fleet
    assert (after.sites, after.workloads, after.policies) == (before.sites, before.workloads, before.policies)
    from fleetyard.placement import Planner

    assert Planner(after).plan().assignments == Planner(before).plan().assignments
