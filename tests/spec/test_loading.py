"""Loading fleets from files and folders: what loads, in which order, with which lines.

Valid input becomes frozen resources with the documented defaults; folders load their
*.yaml/*.yml files in sorted order; multi-document files, anchors, aliases and merge
keys are plain YAML and load as such.
"""

from __future__ import annotations

import pydantic
import pytest

from fleetyard.spec import Fleet, Problem, SpecError, load_fleet, load_fleet_text
from fleetyard.spec.errors import format_path
from fleetyard.spec.models import DEFAULT_PUE


def _site(fleet_dir, name: str) -> str:
    """The site template under another name, with no reference to a region."""
    site = fleet_dir.edit(fleet_dir.SITE, "name: fra-1", f"name: {name}")
    return fleet_dir.edit(site, "latency_ms: {eu-central: 2}", "latency_ms: {}")


# --- a valid fleet -------------------------------------------------------------------------


def test_the_templates_load_without_problems(fleet_dir):
    fleet_dir.fleet()
    loaded = fleet_dir.load()
    assert loaded.warnings == ()
    fleet = loaded.fleet
    assert list(fleet.regions) == ["eu-central", "eu-west"]
    assert list(fleet.sites) == ["fra-1"]
    assert list(fleet.workloads) == ["support-chat-eu", "train-llm"]
    assert list(fleet.policies) == ["eu-residency"]
    assert fleet.objective.name == "default"
    assert fleet.objective.spec.carbon_price_per_tonne == 80
    assert fleet.objective.spec.resilience == "n-1"


def test_field_values_reach_the_models(fleet_dir):
    fleet_dir.fleet()
    fleet = fleet_dir.load().fleet
    site = fleet.sites["fra-1"]
    assert site.labels == {"owner": "platform"}
    assert (site.spec.type, site.spec.country) == ("small-dc", "DE")
    assert (site.spec.location.lat, site.spec.location.lon) == (50.11, 8.68)
    (pool,) = site.spec.gpus
    assert (pool.sku, pool.count, pool.price_per_gpu_hour) == ("H100-SXM", 32, 1.27)
    assert (site.spec.power.it_capacity_kw, site.spec.power.pue, site.spec.cooling_capacity_kw) == (
        40,
        1.25,
        45,
    )
    assert site.spec.latency_ms == {"eu-central": 2}
    w = fleet.workloads["support-chat-eu"].spec
    assert (w.type, w.model, w.priority) == ("inference", "support-llm:3", 100)
    assert (w.replica.gpus, w.replica.gpu_memory_gb, w.replica.gpu_skus) == (
        1,
        40,
        ["H100-SXM", "H200"],
    )
    assert (w.replicas.min, w.replicas.max) == (2, 16)
    assert w.demand == {"eu-central": 120} and w.rps_per_replica == 40 and w.latency_slo_ms == 40
    assert [(d.site, d.gb_per_hour) for d in w.data] == [("fra-1", 2)]
    policy = fleet.policies["eu-residency"]
    assert policy.spec.allowed.countries == ["DE", "FR"]
    assert policy.matches(fleet.workloads["support-chat-eu"])
    assert not policy.matches(fleet.workloads["train-llm"])


def test_defaults_of_omitted_fields(fleet_dir):
    site = fleet_dir.edit(
        fleet_dir.SITE, "power: {it_capacity_kw: 40, pue: 1.25}", "power: {it_capacity_kw: 40}"
    )
    site = fleet_dir.edit(site, "  cooling_kw: 45\n", "")
    site = fleet_dir.edit(site, "      price_per_gpu_hour: 1.27\n", "")
    fleet_dir.write("fleet.yaml", fleet_dir.REGION, site, fleet_dir.JOB)
    fleet = fleet_dir.load().fleet
    spec = fleet.sites["fra-1"].spec
    assert spec.power.pue == DEFAULT_PUE == 1.56
    assert (
        spec.cooling_kw is None and spec.cooling_capacity_kw == 40
    )  # cooling defaults to IT capacity
    assert spec.gpus[0].price_per_gpu_hour == 0.0
    job = fleet.workloads["train-llm"].spec
    assert job.priority == 0 and job.demand == {} and job.data == [] and job.spread is None
    assert job.is_gang and job.max_sites == 1 and job.min_sites == 1  # a training gang: one site
    # no Objective document: the default objective, no carbon price, no N-1
    assert fleet.objective.name == "default"
    assert (fleet.objective.spec.carbon_price_per_tonne, fleet.objective.spec.resilience) == (
        0.0,
        "none",
    )


def test_resources_are_frozen(fleet_dir):
    fleet_dir.fleet()
    site = fleet_dir.load().fleet.sites["fra-1"]
    with pytest.raises(pydantic.ValidationError):
        site.spec.gpus[0].count = 1  # type: ignore[misc]


def test_origins_remember_file_and_line_of_every_field(fleet_dir):
    f = fleet_dir.fleet()
    fleet = fleet_dir.load().fleet
    origin = fleet.origin("Site", "fra-1")
    assert origin is not None and origin.file == str(f)
    assert origin.line_of() == fleet_dir.line(f, "kind: Site") - 1
    assert origin.line_of(("spec", "gpus", 0, "count")) == fleet_dir.line(f, "count: 32")
    assert origin.line_of(("spec", "power", "pue")) == fleet_dir.line(f, "pue: 1.25")
    # a field that is not written points at its closest written parent
    assert origin.line_of(("spec", "gpus", 0, "memory_gb")) == fleet_dir.line(f, "- sku: H100-SXM")
    assert fleet.origin("Workload", "nope") is None


def test_text_and_files_load_the_same(fleet_dir):
    f = fleet_dir.fleet()
    from_text = load_fleet_text(f.read_text(), str(f)).fleet
    from_file = fleet_dir.load(f).fleet
    assert from_text == from_file


# --- multi-document files ----------------------------------------------------------------------


def test_a_multi_document_file_with_markers_and_comments(fleet_dir):
    text = (
        "# the whole fleet in one file\n"
        "---\n" + fleet_dir.REGION + "...\n"  # explicit document end
        "# a comment between documents\n"
        "---\n" + fleet_dir.SITE + "--- # a comment after the marker\n" + fleet_dir.JOB
    )
    f = fleet_dir.write("fleet.yaml", text)
    fleet = fleet_dir.load().fleet
    assert (list(fleet.regions), list(fleet.sites), list(fleet.workloads)) == (
        ["eu-central"],
        ["fra-1"],
        ["train-llm"],
    )
    origin = fleet.origin("Workload", "train-llm")
    assert origin is not None and origin.line_of(("metadata", "name")) == fleet_dir.line(
        f, "name: train-llm"
    )


@pytest.mark.parametrize("layout", ["trailing-marker", "double-marker", "comment-only-document"])
def test_empty_documents_are_skipped(fleet_dir, layout):
    if layout == "trailing-marker":
        text = "---\n".join(fleet_dir.ALL) + "---\n"
    elif layout == "double-marker":
        text = "---\n".join(fleet_dir.ALL[:3]) + "---\n---\n" + "---\n".join(fleet_dir.ALL[3:])
    else:
        text = "---\n# Sites are below\n---\n" + "---\n".join(fleet_dir.ALL)
    fleet_dir.write("fleet.yaml", text)
    assert list(fleet_dir.load().fleet.sites) == ["fra-1"]


def test_lines_stay_right_after_many_documents(fleet_dir):
    regions = [
        fleet_dir.edit(fleet_dir.REGION, "name: eu-central", f"name: r{i}") for i in range(30)
    ]
    bad = fleet_dir.edit(_site(fleet_dir, "fra-1"), "count: 32", "count: 0")
    f = fleet_dir.write("fleet.yaml", *regions, bad)
    (p,) = fleet_dir.errors()
    assert (p.line, p.path) == (fleet_dir.line(f, "count: 0"), "spec.gpus[0].count")


def test_windows_line_endings_and_a_byte_order_mark(fleet_dir):
    text = "\ufeff" + "---\n".join(fleet_dir.ALL)
    text = fleet_dir.edit(text, "count: 32", "count: 0").replace("\n", "\r\n")
    f = fleet_dir.root / "fleet.yaml"
    f.write_bytes(text.encode("utf-8"))
    (p,) = fleet_dir.errors()
    assert (p.file, p.line, p.path) == (str(f), fleet_dir.line(f, "count: 0"), "spec.gpus[0].count")


# --- anchors, aliases, merge keys ----------------------------------------------------------


def test_anchors_aliases_and_merge_keys_load(fleet_dir):
    site = fleet_dir.edit(fleet_dir.SITE, "  cooling_kw: 45\n", "")
    site = fleet_dir.edit(
        site,
        "power: {it_capacity_kw: 40, pue: 1.25}",
        "power: {it_capacity_kw: &capacity 40, pue: 1.25}\n  cooling_kw: *capacity",
    )
    site = fleet_dir.edit(
        site,
        "      price_per_gpu_hour: 1.27\n",
        "      price_per_gpu_hour: 1.27\n"
        "    - <<: [{sku: L40S}, {count: 16, price_per_gpu_hour: 0.5}]\n"
        "    - {<<: {sku: L4, count: 8}}\n",
    )
    policy = fleet_dir.edit(
        fleet_dir.POLICY,
        "allowed: {countries: [DE, FR], site_types: [small-dc, colo]}",
        "allowed: {countries: &eu [DE, FR], site_types: [small-dc, colo]}",
    )
    fleet_dir.fleet(SITE=site, POLICY=policy)
    loaded = fleet_dir.load()
    assert loaded.warnings == ()
    spec = loaded.fleet.sites["fra-1"].spec
    assert spec.cooling_kw == 40 == spec.power.it_capacity_kw
    assert [(p.sku, p.count, p.price_per_gpu_hour) for p in spec.gpus] == [
        ("H100-SXM", 32, 1.27),
        ("L40S", 16, 0.5),
        ("L4", 8, 0.0),
    ]
    assert loaded.fleet.policies["eu-residency"].spec.allowed.countries == ["DE", "FR"]


def test_an_alias_used_twice_in_a_list(fleet_dir):
    twice = fleet_dir.edit(fleet_dir.POLICY, "name: eu-residency", "name: twice")
    twice = fleet_dir.edit(twice, "countries: [DE, FR]", "countries: [&de DE, *de, FR]")
    fleet_dir.write("fleet.yaml", *fleet_dir.ALL, twice)
    assert fleet_dir.load().fleet.policies["twice"].spec.allowed.countries == ["DE", "DE", "FR"]


def test_an_explicit_key_overrides_a_merged_one(fleet_dir):
    site = fleet_dir.edit(
        fleet_dir.SITE,
        "    - sku: H100-SXM\n      count: 32\n      price_per_gpu_hour: 1.27\n",
        "    - &h100 {sku: H100-SXM, count: 16, price_per_gpu_hour: 1.27}\n"
        "    - <<: *h100\n"
        "      sku: H200\n"
        "      price_per_gpu_hour: 1.32\n",
    )
    fleet_dir.fleet(SITE=site)
    spec = fleet_dir.load().fleet.sites["fra-1"].spec
    assert [(p.sku, p.count, p.price_per_gpu_hour) for p in spec.gpus] == [
        ("H100-SXM", 16, 1.27),
        ("H200", 16, 1.32),
    ]


def test_a_recursive_alias_is_a_problem_not_a_crash(fleet_dir):
    job = fleet_dir.edit(
        fleet_dir.JOB, "  labels: {class: training}", "  labels: &loop {class: *loop}"
    )
    f = fleet_dir.fleet(JOB=job)
    errors = fleet_dir.errors()
    assert errors and all(p.file == str(f) for p in errors)
    assert errors[0].line == fleet_dir.line(f, "&loop")


@pytest.mark.parametrize(
    ("tagged", "words"),
    [
        ("!!python/name:os.system ''", ["malformed YAML", "could not determine a constructor"]),
        ("!!python/object/apply:os.system [id]", ["expected text, got a list"]),
    ],
    ids=["scalar", "sequence"],
)
def test_an_unsafe_tag_is_a_problem_and_never_runs(fleet_dir, tagged, words):
    job = fleet_dir.edit(fleet_dir.JOB, "model: base-llm@prod", f"model: {tagged}")
    f = fleet_dir.fleet(JOB=job)
    (p,) = fleet_dir.errors()
    assert (p.file, p.line) == (str(f), fleet_dir.line(f, "!!python"))
    for word in words:
        assert word in p.message


def test_a_key_that_is_not_plain(fleet_dir):
    site = fleet_dir.edit(
        fleet_dir.SITE, "  cooling_kw: 45\n", "  cooling_kw: 45\n  ? [a, b]\n  : 1\n"
    )
    f = fleet_dir.fleet(SITE=site)
    fleet_dir.expect_error(
        f, fleet_dir.line(f, "? [a, b]"), "spec", "expected a plain key, got list"
    )


# --- files and folders ---------------------------------------------------------------------


def test_a_folder_loads_its_yaml_files_in_sorted_order(fleet_dir):
    # written out of order; .yml counts, other suffixes and subfolders do not
    fleet_dir.write("c.yaml", _site(fleet_dir, "site-c"))
    fleet_dir.write("a.yml", _site(fleet_dir, "site-a"))
    fleet_dir.write("b.yaml", _site(fleet_dir, "site-b"))
    fleet_dir.write("notes.txt", _site(fleet_dir, "site-txt"))
    fleet_dir.write("backup.yaml.bak", _site(fleet_dir, "site-bak"))
    fleet_dir.write("sub/d.yaml", _site(fleet_dir, "site-d"))
    first = fleet_dir.load().fleet
    assert list(first.sites) == ["site-a", "site-b", "site-c"]
    again = fleet_dir.load().fleet
    assert list(again.sites) == list(first.sites) and again == first


def test_file_order_decides_which_duplicate_is_first(fleet_dir):
    z = fleet_dir.write("z.yaml", _site(fleet_dir, "fra-1"))
    a = fleet_dir.write(
        "a.yaml", fleet_dir.edit(_site(fleet_dir, "fra-1"), "country: DE", "country: FR")
    )
    (p,) = fleet_dir.errors()
    assert (p.file, p.path) == (str(z), "metadata.name")
    assert f"first defined at {a}:" in p.message


def test_explicit_files_load_in_the_order_given(fleet_dir):
    c = fleet_dir.write("c.yaml", _site(fleet_dir, "site-c"))
    a = fleet_dir.write("a.yaml", _site(fleet_dir, "site-a"))
    spec_txt = fleet_dir.write("extra.txt", _site(fleet_dir, "site-txt"))
    fleet = fleet_dir.load(c, a, spec_txt).fleet
    assert list(fleet.sites) == [
        "site-c",
        "site-a",
        "site-txt",
    ]  # a named file loads whatever its suffix


def test_several_folders_and_files_together(fleet_dir, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "regions.yaml").write_text(fleet_dir.REGION)
    fleet_dir.write("sites.yaml", fleet_dir.SITE)
    job = fleet_dir.write("../job.yaml", fleet_dir.JOB)
    fleet = load_fleet([fleet_dir.root, other, job]).fleet
    assert (list(fleet.sites), list(fleet.regions), list(fleet.workloads)) == (
        ["fra-1"],
        ["eu-central"],
        ["train-llm"],
    )


def test_problems_name_the_file_as_given(fleet_dir, monkeypatch):
    fleet_dir.write(
        "sites.yaml", fleet_dir.edit(_site(fleet_dir, "fra-1"), "count: 32", "count: 0")
    )
    monkeypatch.chdir(fleet_dir.root.parent)
    with pytest.raises(SpecError) as info:
        load_fleet(["fleet"])
    (p,) = info.value.errors
    assert p.file == "fleet/sites.yaml"
    assert str(p).startswith("fleet/sites.yaml:")


def test_an_empty_file_contributes_nothing(fleet_dir):
    fleet_dir.fleet()
    fleet_dir.write("empty.yaml", "")
    fleet_dir.write("comments.yaml", "# nothing here yet\n")
    assert list(fleet_dir.load().fleet.sites) == ["fra-1"]


# --- the problem types ---------------------------------------------------------------------


def test_problem_rendering():
    assert str(Problem("f.yaml", 14, "spec.gpus[0].count", "must be >= 1, got 0")) == (
        "f.yaml:14 spec.gpus[0].count: must be >= 1, got 0"
    )
    assert str(Problem("f.yaml", None, "", "not UTF-8 text")) == "f.yaml: not UTF-8 text"
    assert str(Problem("f.yaml", 3, "", "malformed YAML: x")) == "f.yaml:3: malformed YAML: x"
    assert str(Problem("f.yaml", 9, "spec.selector", "matches no workload", "warning")) == (
        "f.yaml:9 spec.selector: warning: matches no workload"
    )
    assert Problem("f.yaml", 2, "kind", "m").as_dict() == {
        "file": "f.yaml",
        "line": 2,
        "path": "kind",
        "message": "m",
        "severity": "error",
    }


def test_spec_error_separates_errors_and_warnings():
    problems = [
        Problem("a.yaml", 1, "x", "bad"),
        Problem("a.yaml", 2, "y", "odd", "warning"),
        Problem("b.yaml", 3, "z", "worse"),
    ]
    exc = SpecError(problems)
    assert exc.problems == tuple(problems)
    assert [p.path for p in exc.errors] == ["x", "z"] and [p.path for p in exc.warnings] == ["y"]
    assert str(exc).splitlines() == [
        "2 problem(s) in the fleet specification:",
        "a.yaml:1 x: bad",
        "b.yaml:3 z: worse",
    ]


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        (("spec", "gpus", 0, "count"), "spec.gpus[0].count"),
        (("spec", "replica", "gpu_skus", 2), "spec.replica.gpu_skus[2]"),
        (("metadata",), "metadata"),
        ((), ""),
    ],
)
def test_format_path(loc, path):
    assert format_path(loc) == path


def test_fleet_of_builds_the_same_tables(fleet_dir):
    fleet_dir.fleet()
    loaded = fleet_dir.load().fleet
    rebuilt = Fleet.of(
        [
            *loaded.regions.values(),
            *loaded.sites.values(),
            *loaded.workloads.values(),
            *loaded.policies.values(),
            loaded.objective,
        ]
    )
    assert rebuilt == loaded
    assert list(rebuilt.without_sites(["fra-1"]).sites) == []
    assert [p.name for p in loaded.policies_for(loaded.workloads["support-chat-eu"])] == [
        "eu-residency"
    ]
