"""Input limits: each one stops reading at the right file, line and field, with its name.

The limits are small in most tests (an `InputLimits` of a few nodes) so a case is a few
lines of YAML; the defaults are checked against the hostile inputs of issue 9 and
against the example fleets, which must load exactly as PyYAML reads them.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
import yaml

from fleetyard.spec import (
    DEFAULT_LIMITS,
    InputLimits,
    SpecError,
    load_fleet,
    load_fleet_sources,
    load_fleet_text,
    yamlsource,
)
from fleetyard.spec.yamlsource import parse_documents, read_documents

ROOT = Path(__file__).resolve().parents[2]
FLEETS = sorted([*ROOT.glob("examples/*/*.yaml"), *ROOT.glob("tests/**/fleet/*.yaml")])


def only_problem(text: str, limits: InputLimits = DEFAULT_LIMITS, name: str = "in.yaml"):
    _docs, problems = parse_documents(text, name, limits)
    assert len(problems) == 1, problems
    return problems[0]


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """The 'billion laughs': each level a list of `width` aliases of the level before."""
    lines = ['  a0: &a0 "lol"']
    for i in range(1, levels + 1):
        lines.append(f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "apiVersion: fleetyard/v1\nkind: Site\nmetadata: {name: bomb}\nspec:\n" + "\n".join(lines) + "\n"


def nested(depth: int, flow: bool) -> str:
    if flow:
        return "spec: " + "[" * depth + "]" * depth + "\n"
    return "spec:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(depth)) + "  " * (depth + 1) + "v\n"


# --- the hostile inputs of issue 9, with the default limits ----------------------------------


def test_an_alias_bomb_stops_at_the_alias_that_crosses_the_document_limit():
    tracemalloc.start()
    try:
        p = only_problem(alias_bomb())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (p.file, p.line, p.path) == ("in.yaml", 11, "spec.a6[0]")
    assert p.message.startswith("input limit: alias *a5 expands to 66,430 nodes")
    assert "the limit is 100,000 per document (max_document_nodes)" in p.message
    assert peak < 20 * 1024 * 1024


def test_a_5000_digit_integer_is_a_problem_at_its_field():
    p = only_problem("spec:\n  gpus:\n    - count: " + "9" * 5000 + "\n")
    assert (p.line, p.path) == (3, "spec.gpus[0].count")
    assert p.message == "input limit: an integer of 5,000 digits; the limit is 64 digits (max_int_digits)"


@pytest.mark.parametrize("flow", [False, True], ids=["block", "flow"])
@pytest.mark.parametrize("depth", [65, 300, 600, 1_000, 20_000])
def test_deep_nesting_is_a_depth_problem_never_a_recursion_error(depth, flow):
    if depth > 1_000 and not flow:
        pytest.skip("20,000 levels of block indentation are 400 MB of spaces")
    p = only_problem(nested(depth, flow))
    if flow and depth >= 1_000:  # libyaml's scanner stops first, at its own limit
        assert p.message == ("input limit: nesting deeper than 1,000 levels, the YAML parser's own limit; "
                             "the limit is 64 levels (max_depth)")
    else:
        assert p.message == "input limit: nesting 65 levels deep; the limit is 64 levels (max_depth)"
    assert p.line == (1 if flow else 64)  # the mapping that holds k62, the 65th level


@pytest.mark.parametrize("flow", [False, True], ids=["block", "flow"])
def test_deep_nesting_with_the_pure_python_parser(monkeypatch, flow):
    monkeypatch.setattr(yamlsource, "_Loader", yaml.SafeLoader)
    p = only_problem(nested(900, flow))
    assert "nesting 65 levels deep" in p.message


def test_64_levels_are_read():
    docs, problems = parse_documents(nested(62, flow=False), "in.yaml")  # the scalar "v" is the 64th
    assert problems == [] and len(docs) == 1


# --- each limit, small ---------------------------------------------------------------------------


def test_document_nodes_count_keys_values_and_expanded_aliases():
    limits = InputLimits(max_document_nodes=7)
    assert parse_documents("a: [1, 2]\nb: 3\n", "in.yaml", limits)[1] == []  # 7 nodes
    p = only_problem("a: &x [1, 2]\nb: *x\n", limits)  # 1 + 1 + 3 + 1 + 3
    assert (p.line, p.path) == (2, "b")
    assert "alias *x expands to 3 nodes, and with it the document has more than 7 nodes" in p.message
    p = only_problem("a: [1, 2, 3, 4, 5, 6]\n", limits)
    assert (p.line, p.path) == (1, "a[4]")
    assert p.message == ("input limit: the document has more than 7 nodes; the limit is 7 per document "
                         "(max_document_nodes)")


def test_file_nodes_count_every_document():
    limits = InputLimits(max_nodes=10)
    text = "a: 1\n---\nb: 2\n---\nc: 3\n---\nd: [4]\n"
    p = only_problem(text, limits)
    assert (p.line, p.path) == (7, "")  # at the key 'd' of the document's mapping
    assert "the file has more than 10 nodes; the limit is 10 per file (max_nodes)" in p.message
    docs, _problems = parse_documents(text, "in.yaml", limits)
    assert [d.data for d in docs] == [{"a": 1}, {"b": 2}, {"c": 3}]  # read before the limit


def test_an_alias_counts_its_height_towards_the_depth():
    limits = InputLimits(max_depth=4)
    assert parse_documents("a: &x {b: {c: 1}}\n", "in.yaml", limits)[1] == []
    p = only_problem("a: &x {b: {c: 1}}\nd: [*x]\n", limits)
    assert (p.line, p.path) == (2, "d[0]")
    assert p.message == "input limit: nesting 5 levels deep (alias *x adds 3); the limit is 4 levels (max_depth)"


def test_a_long_text_value_or_key():
    limits = InputLimits(max_string_length=10)
    assert parse_documents("k: 0123456789\n", "in.yaml", limits)[1] == []
    p = only_problem("a:\n  k: 0123456789x\n", limits)
    assert (p.line, p.path) == (2, "a.k")
    assert p.message == "input limit: text of 11 characters; the limit is 10 characters (max_string_length)"
    p = only_problem("a:\n  0123456789x: 1\n", limits)
    assert (p.line, p.path) == (2, "a")


def test_integer_digits_skip_sign_and_separators_and_quoted_digits_are_text():
    limits = InputLimits(max_int_digits=3)
    assert parse_documents("a: -1_00\nb: '12345'\nc: 1.2345\n", "in.yaml", limits)[1] == []
    assert "an integer of 5 digits" in only_problem("a: 12_345\n", InputLimits(max_int_digits=4)).message
    assert "an integer of 4 digits" in only_problem("a: !!int '1234'\n", limits).message


def test_a_file_too_big_is_not_read_past_the_limit(tmp_path):
    f = tmp_path / "big.yaml"
    f.write_text("- 1\n" * 1000)
    limits = InputLimits(max_bytes=100)
    docs, problems = read_documents(f, limits=limits)
    assert docs == [] and len(problems) == 1
    p = problems[0]
    assert (p.file, p.line, p.path) == (str(f), 26, "")  # byte 101 is on line 26
    assert p.message == ("input limit: more than 100 bytes; the limit is 100 bytes per file (max_bytes), "
                         "passed on this line")
    assert only_problem("- 1\n" * 1000, limits).line == 26
    assert parse_documents("- 1\n" * 25, "in.yaml", limits)[1] == []  # exactly 100 bytes
    assert only_problem("é" * 51, limits).line == 1  # 102 bytes in 51 characters


def test_limits_pass_through_the_loaders(tmp_path):
    limits = InputLimits(max_depth=3)
    text = "a: {b: {c: 1}}\n"
    (tmp_path / "f.yaml").write_text(text)
    for load in (lambda: load_fleet([tmp_path], limits), lambda: load_fleet_text(text, "f.yaml", limits),
                 lambda: load_fleet_sources([("f.yaml", text)], limits)):
        with pytest.raises(SpecError) as info:
            load()
        assert [p.path for p in info.value.errors if "max_depth" in p.message] == ["a.b"]


def test_one_file_over_a_limit_does_not_hide_the_problems_of_the_others():
    with pytest.raises(SpecError) as info:
        load_fleet_sources([("bomb.yaml", alias_bomb()), ("other.yaml", "kind: Nope\n")])
    files = {p.file for p in info.value.errors}
    assert files == {"bomb.yaml", "other.yaml"}


@pytest.mark.parametrize("bad", [{"max_depth": 0}, {"max_nodes": -1}, {"max_bytes": 1.5}, {"max_depth": 201},
                                 {"max_string_length": True}])
def test_limits_must_be_whole_positive_numbers(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        InputLimits(**bad)


# --- what stays as it was -------------------------------------------------------------------------


class _TextTimes(yaml.CSafeLoader):
    """PyYAML, except that timestamps stay text, as the reader keeps them."""


_TextTimes.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))


@pytest.mark.parametrize("path", FLEETS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_example_and_test_fleets_read_as_pyyaml_reads_them(path):
    docs, problems = read_documents(path)
    assert problems == []
    expected = [d for d in yaml.load_all(path.read_text(), Loader=_TextTimes) if d is not None]
    assert [d.data for d in docs] == expected


def test_yaml_errors_keep_their_words():
    assert "found undefined alias 'nope'" in only_problem("a: *nope\n").message
    p = only_problem("a: &x 1\nb: &x 2\n")
    assert "malformed YAML" in p.message and "found duplicate anchor 'x'" in p.message and p.line == 2


def test_a_nul_in_text_is_a_problem_at_its_field():
    _docs, problems = parse_documents('a: {b: "x\\0y", "k\\x00": 1}\n', "in.yaml")
    assert [(p.path, p.message) for p in problems] == [
        ("a.b", "text contains a NUL character (\\0), got 'x\\x00y'"),
        ("a", "a key contains a NUL character (\\0), got 'k\\x00'"),
    ]


def test_a_long_text_is_shown_cut_short_in_a_message():
    with pytest.raises(SpecError) as info:
        load_fleet_text("apiVersion: fleetyard/v1\nkind: " + "x" * 5000 + "\n")
    (p,) = [p for p in info.value.errors if p.path == "kind"]
    assert p.message.startswith("unknown kind '" + "x" * 80 + "...' (5,000 characters)")
    assert len(p.message) < 300


def test_a_lone_surrogate_from_json_text_is_a_problem_not_a_crash():
    p = only_problem("a: 1\nb: x\udc9a\n")
    assert (p.line, p.message) == (2, "not UTF-8 text: a lone surrogate U+DC9A at character 9")
