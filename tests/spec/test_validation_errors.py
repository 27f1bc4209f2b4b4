"""Every mistake in a fleet spec is a problem naming its file, line and field path.

Each case breaks one thing in an otherwise valid fleet (the templates of conftest.py):
in template T it replaces OLD by NEW, and expects exactly one error, on the line that
holds AT, at field PATH, whose message holds WORDS. `expect_error` also runs
`fleetyard validate` and checks exit code 2, the problem on stderr, nothing on stdout
and no traceback.
"""

from __future__ import annotations

import pytest

from fleetyard.spec import SpecError, load_fleet, load_fleet_text

KINDS = "Region, Site, Workload, Policy, Objective"
NAME_RULE = "expected a name of lowercase letters, digits and '-'"
COUNTRY_RULE = "expected an ISO 3166-1 alpha-2 country code"
MODEL_RULE = "expected a registry reference name:version or name@alias"
GPUS = "    - sku: H100-SXM\n      count: 32\n      price_per_gpu_hour: 1.27\n"


def case(template, old, new, path, *words, name, at=None, offset=0):
    """One broken template. The error is expected `offset` lines after the line holding `at`
    (default: the first line of `new`)."""
    at = at if at is not None else new.strip().splitlines()[0].strip()
    return pytest.param(template, old, new, at, offset, path, words, id=name)


CASE = ("template", "old", "new", "at", "offset", "path", "words")


def check(fleet_dir, template, old, new, at, offset, path, words):
    f = fleet_dir.broken(template, old, new)
    return fleet_dir.expect_error(f, fleet_dir.line(f, at) + offset, path, *words)


# --- YAML and the resource envelope --------------------------------------------------------


ENVELOPE = [
    case("WORKLOAD", "  rps_per_replica: 40", "   rps_per_replica: 40", "",
         "malformed YAML", "did not find expected key", name="malformed-indentation"),
    case("WORKLOAD", "  rps_per_replica: 40", "  rps_per_replica: 40: 2", "",
         "malformed YAML", "mapping values are not allowed", name="malformed-colon-in-value"),
    case("WORKLOAD", "  rps_per_replica: 40", "\trps_per_replica: 40", "",
         "malformed YAML", "cannot start any token", name="malformed-tab"),
    # a missing field is reported on the first line of its document (here: kind)
    case("SITE", "apiVersion: fleetyard/v1\n", "", "apiVersion", "required field is missing",
         at="kind: Site", name="api-version-missing"),
    case("SITE", "apiVersion: fleetyard/v1", "apiVersion: fleetyard/v2", "apiVersion",
         "expected 'fleetyard/v1'", "got 'fleetyard/v2'", name="api-version-wrong"),
    case("JOB", "kind: Workload", "kind: Workloadd", "kind",
         "unknown kind 'Workloadd' (did you mean 'Workload'?)", name="kind-misspelled"),
    case("JOB", "kind: Workload", "kind: Deployment", "kind",
         "unknown kind 'Deployment'; expected one of", KINDS, name="kind-unknown"),
    case("JOB", "kind: Workload\n", "", "kind", "required field is missing", KINDS,
         at="name: train-llm", offset=-2, name="kind-missing"),
]


@pytest.mark.parametrize(CASE, ENVELOPE)
def test_envelope(fleet_dir, template, old, new, at, offset, path, words):
    check(fleet_dir, template, old, new, at, offset, path, words)


@pytest.mark.parametrize(("old", "new", "opened"), [
    ("  model: support-llm:3", "  model: 'support-llm:3", "model: 'support-llm"),
    ("  demand: {eu-central: 120}", "  demand: {eu-central: 120", "demand: {eu-central"),
], ids=["unclosed-quote", "unclosed-flow-mapping"])
def test_malformed_yaml_names_where_the_quote_or_bracket_opened(fleet_dir, old, new, opened):
    f = fleet_dir.broken("WORKLOAD", old, new)
    (error,) = fleet_dir.errors()
    where = fleet_dir.line(f, opened)
    assert error.line == where or f"line {where}" in error.message, str(error)


@pytest.mark.parametrize(("doc", "found"), [
    ("- a\n- b\n", "got a list"), ("just some text\n", "got 'just some text'"), ("42\n", "got 42"),
], ids=["list", "text", "number"])
def test_a_document_that_is_not_a_mapping(fleet_dir, doc, found):
    f = fleet_dir.write("fleet.yaml", *fleet_dir.ALL, doc)
    first_line = len(f.read_text().splitlines()) - len(doc.splitlines()) + 1
    fleet_dir.expect_error(
        f, first_line, "", "expected a resource (a mapping with apiVersion, kind, metadata, spec)",
        found)


# --- unknown fields: "did you mean" at every level -----------------------------------------


FIELDS = [
    case("SITE", "pue: 1.25", "peu: 1.25", "spec.power.peu",
         "unknown field 'peu' (did you mean 'pue'?)", at="peu", name="in-a-flow-mapping"),
    case("WORKLOAD", "  labels: {team", "  lables: {team", "metadata.lables",
         "unknown field 'lables' (did you mean 'labels'?)", name="in-metadata"),
    case("POLICY", "{countries:", "{country:", "spec.allowed.country",
         "unknown field 'country' (did you mean 'countries'?)", at="{country:", name="in-a-policy"),
    case("WORKLOAD", "    gpu_memory_gb: 40", "    gpu_memory: 40", "spec.replica.gpu_memory",
         "unknown field 'gpu_memory' (did you mean 'gpu_memory_gb'?)", name="in-the-replica"),
    case("OBJECTIVE", "  resilience: n-1", "  resiliance: n-1", "spec.resiliance",
         "unknown field 'resiliance' (did you mean 'resilience'?)", name="in-the-objective"),
    case("SITE", "  cooling_kw: 45", "  cooling_kw: 45\n  rack: 7", "spec.rack",
         "unknown field 'rack'; expected one of:", "cooling_kw, country", "gpus",
         at="rack: 7", name="no-close-match-lists-the-fields"),
]


@pytest.mark.parametrize(CASE, FIELDS)
def test_unknown_field(fleet_dir, template, old, new, at, offset, path, words):
    check(fleet_dir, template, old, new, at, offset, path, words)


def _unknown_and_missing(fleet_dir, f, missing, typo):
    """The typo is an unknown field, and the field it should have been is missing."""
    errors = fleet_dir.errors()
    assert [(p.line, p.path, p.message) for p in errors] == [missing, typo]
    cli = fleet_dir.validate()
    assert cli.exit_code == 2 and "2 errors in the fleet specification" in cli.stderr
    assert all(str(p) in cli.stderr for p in errors)


def test_a_misspelled_count_in_a_list_item(fleet_dir):
    f = fleet_dir.broken("SITE", "count: 32", "cont: 32")
    _unknown_and_missing(
        fleet_dir, f,
        (fleet_dir.line(f, "- sku: H100-SXM"), "spec.gpus[0].count", "required field is missing"),
        (fleet_dir.line(f, "cont: 32"), "spec.gpus[0].cont",
         "unknown field 'cont' (did you mean 'count'?)"))


def test_a_misspelled_metadata_name(fleet_dir):
    f = fleet_dir.broken("WORKLOAD", "name: support-chat-eu", "nmae: support-chat-eu")
    _unknown_and_missing(
        fleet_dir, f,
        (fleet_dir.line(f, "nmae:") - 1, "metadata.name", "required field is missing"),
        (fleet_dir.line(f, "nmae:"), "metadata.nmae",
         "unknown field 'nmae' (did you mean 'name'?)"))


def test_a_misspelled_top_level_field(fleet_dir):
    f = fleet_dir.broken("JOB", "spec:", "specs:")
    _unknown_and_missing(
        fleet_dir, f,
        (fleet_dir.line(f, "name: train-llm") - 3, "spec", "required field is missing"),
        (fleet_dir.line(f, "specs:"), "specs", "unknown field 'specs' (did you mean 'spec'?)"))


def test_an_unknown_field_named_function_is_named(fleet_dir):
    check(fleet_dir, "WORKLOAD", "  priority: 100", "  priority: 100\n  function: chat",
          "function: chat", 0, "spec.function", ["unknown field 'function'"])


# --- wrong types ---------------------------------------------------------------------------


TYPES = [
    case("SITE", "it_capacity_kw: 40", "it_capacity_kw: 40kW", "spec.power.it_capacity_kw",
         "expected a number, got '40kW'", at="40kW", name="text-for-a-number"),
    case("SITE", "count: 32", "count: many", "spec.gpus[0].count",
         "expected a whole number, got 'many'", name="text-for-a-whole-number"),
    case("SITE", "count: 32", "count: 1.5", "spec.gpus[0].count",
         "expected a whole number, got 1.5", name="fraction-for-a-whole-number"),
    case("SITE", "power: {it_capacity_kw: 40, pue: 1.25}", "power: [40, 1.25]", "spec.power",
         "expected a mapping (key: value), got a list", name="list-for-a-mapping"),
    case("SITE", GPUS, "    sku: H100-SXM\n    count: 32\n", "spec.gpus",
         "expected a list, got a mapping", at="    sku: H100-SXM", offset=-1,
         name="mapping-for-a-list"),
    case("REGION_WEST", "  location: {lat: 48.86, lon: 2.35}\n", "", "spec",
         "expected a mapping (key: value), got nothing (null)", at="name: eu-west", offset=1,
         name="null-for-a-mapping"),
    case("SITE", "type: small-dc", "type: smalldc", "spec.type",
         "expected one of small-dc, colo, edge, hyperscaler", "got 'smalldc'",
         "(did you mean 'small-dc'?)", name="misspelled-choice"),
    case("JOB", "{class: training}", "{class: training, tier: 3}", "metadata.labels.tier",
         "expected text, got 3", at="tier: 3", name="number-for-a-label"),
]


@pytest.mark.parametrize(CASE, TYPES)
def test_wrong_type(fleet_dir, template, old, new, at, offset, path, words):
    check(fleet_dir, template, old, new, at, offset, path, words)


def test_a_boolean_is_not_a_whole_number(fleet_dir):
    check(fleet_dir, "SITE", "count: 32", "count: true", "count: true", 0, "spec.gpus[0].count",
          ["expected a whole number", "got true"])


def test_a_date_is_shown_as_written(fleet_dir):
    # YAML timestamps are read as their text (spec/yamlsource.py), so a date is a fine label
    p = check(fleet_dir, "JOB", "{class: training}", "{class: training, since: 2024-01-01}\n  bad: [1]",
              "bad:", 0, "metadata.bad", ["unknown field 'bad'"])
    assert "datetime" not in p.message


# --- ranges and rules between fields -------------------------------------------------------


RANGES = [
    case("SITE", "count: 32", "count: 0", "spec.gpus[0].count", "must be >= 1, got 0",
         name="site-gpus-count-0"),
    case("WORKLOAD", "    gpus: 1", "    gpus: 0", "spec.replica.gpus", "must be >= 1, got 0",
         name="replica-gpus-0"),
    case("SITE", "price_per_gpu_hour: 1.27", "price_per_gpu_hour: -1.5",
         "spec.gpus[0].price_per_gpu_hour", "must be >= 0", "got -1.5", name="negative-price"),
    case("WORKLOAD", "rps_per_replica: 40", "rps_per_replica: 0", "spec.rps_per_replica",
         "must be > 0", "got 0", name="rps-per-replica-0"),
    case("WORKLOAD", "{min: 2, max: 16}", "{min: -1, max: 16}", "spec.replicas.min",
         "must be >= 0, got -1", name="replicas-min-negative"),
    case("WORKLOAD", "{min: 2, max: 16}", "{min: 2, max: 0}", "spec.replicas.max",
         "must be >= 1, got 0", name="replicas-max-0"),
    case("WORKLOAD", "{min_sites: 1}", "{min_sites: 0}", "spec.spread.min_sites",
         "must be >= 1, got 0", name="spread-min-sites-0"),
    case("WORKLOAD", "gpu_memory_gb: 40", "gpu_memory_gb: -40", "spec.replica.gpu_memory_gb",
         "must be > 0", "got -40", name="negative-memory"),
    case("WORKLOAD", "priority: 100", "priority: 5000", "spec.priority",
         "must be <= 1000, got 5000", name="priority-too-high"),
    case("SITE", "pue: 1.25", "pue: 0.9", "spec.power.pue", "must be >= 1", "got 0.9",
         name="pue-below-1"),
    case("SITE", "it_capacity_kw: 40", "it_capacity_kw: 0", "spec.power.it_capacity_kw",
         "must be > 0", "got 0", name="it-capacity-0"),
    case("SITE", "carbon_g_per_kwh: 380", "carbon_g_per_kwh: -380",
         "spec.energy.carbon_g_per_kwh", "must be >= 0", "got -380", name="negative-carbon"),
    case("SITE", "{eu-central: 2}", "{eu-central: -2}", "spec.latency_ms.eu-central",
         "must be >= 0", "got -2", name="negative-latency"),
    case("REGION", "lat: 50.11", "lat: 150.11", "spec.location.lat", "must be <= 90",
         "got 150.11", name="latitude"),
    case("WORKLOAD", "gb_per_hour: 2}", "gb_per_hour: -2}", "spec.data[0].gb_per_hour",
         "must be >= 0", "got -2", name="negative-data-volume"),
    case("SITE", GPUS, "", "spec.gpus", "expected a list, got nothing (null)",
         at="power: {it_capacity_kw: 40", offset=-1, name="site-with-gpus-left-blank"),
    case("SITE", "  gpus:\n" + GPUS, "  gpus: []\n", "spec.gpus",
         "expected at least 1 item(s), got 0", name="site-with-an-empty-gpu-list"),
    case("WORKLOAD", "{min: 2, max: 16}", "{min: 20, max: 16}", "spec.replicas.min",
         "must be <= replicas.max (16), got 20", name="replicas-min-above-max"),
    case("JOB", "{min: 1, max: 2}", "{min: 0, max: 2}", "spec.replicas.min",
         "a training job needs at least 1 replica, got 0", name="job-without-replicas"),
    case("WORKLOAD", "{min_sites: 1}", "{min_sites: 3, max_sites: 2}", "spec.spread.min_sites",
         "must be <= spread.max_sites (2), got 3", name="spread-min-sites-above-max-sites"),
    case("WORKLOAD", "{min_sites: 1}", "{min_sites: 20}", "spec.spread.min_sites",
         "must be <= replicas.max (16)", "got 20", name="spread-min-sites-above-replicas-max"),
    case("JOB", "  replicas: {min: 1, max: 2}\n",
         "  replicas: {min: 1, max: 2}\n  demand: {eu-central: 10}\n  rps_per_replica: 5\n",
         "spec.demand", "only for inference workloads", "this one is training",
         at="demand: {eu-central: 10}", name="demand-on-a-training-job"),
    # a missing field is reported on the line of its parent mapping (here: spec)
    case("WORKLOAD", "  rps_per_replica: 40\n", "", "spec.rps_per_replica",
         "required when demand is given", at="  type: inference", offset=-1,
         name="demand-without-rps-per-replica"),
]


@pytest.mark.parametrize(CASE, RANGES)
def test_out_of_range(fleet_dir, template, old, new, at, offset, path, words):
    check(fleet_dir, template, old, new, at, offset, path, words)


def test_a_problem_reads_like_the_design(fleet_dir):
    # DESIGN.md: fleet/sites.yaml:14 spec.gpus[0].count: must be >= 1, got 0
    f = fleet_dir.broken("SITE", "count: 32", "count: 0")
    (p,) = fleet_dir.errors()
    assert str(p) == f"{f}:{fleet_dir.line(f, 'count: 0')} spec.gpus[0].count: must be >= 1, got 0"


def test_an_infinite_price_is_rejected(fleet_dir):
    check(fleet_dir, "SITE", "price_per_gpu_hour: 1.27", "price_per_gpu_hour: .inf", ".inf", 0,
          "spec.gpus[0].price_per_gpu_hour", [])


# --- GPU SKUs ------------------------------------------------------------------------------


SKUS = [
    case("SITE", "sku: H100-SXM", "sku: H100-SMX", "spec.gpus[0].sku",
         "unknown SKU 'H100-SMX' (did you mean H100-SXM",
         "for a custom SKU give memory_gb and tdp_w",
         "known SKUs: H100-SXM, H100-PCIE, H200, B200, A100-80GB, L40S, L4, A10G, MI300X",
         name="unknown-at-a-site"),
    case("SITE", "sku: H100-SXM", "sku: Gaudi3\n      memory_gb: 128", "spec.gpus[0].sku",
         "unknown SKU 'Gaudi3'", "for a custom SKU give memory_gb and tdp_w", name="custom-no-tdp"),
    case("SITE", "sku: H100-SXM", "sku: Gaudi3\n      tdp_w: 900", "spec.gpus[0].sku",
         "unknown SKU 'Gaudi3'", "for a custom SKU give memory_gb and tdp_w",
         name="custom-no-memory"),
    case("SITE", "      price_per_gpu_hour: 1.27\n",
         "      price_per_gpu_hour: 1.27\n    - {sku: H100-SXM, count: 4}\n", "spec.gpus[1].sku",
         "SKU 'H100-SXM' listed twice (also at spec.gpus[0])", at="{sku: H100-SXM, count: 4}",
         name="twice-at-a-site"),
    case("WORKLOAD", "[H100-SXM, H200]", "[H100-SXM, H20O]", "spec.replica.gpu_skus[1]",
         "unknown SKU 'H20O' (did you mean H200", at="H20O", name="unknown-in-a-workload"),
]


@pytest.mark.parametrize(CASE, SKUS)
def test_gpu_sku(fleet_dir, template, old, new, at, offset, path, words):
    check(fleet_dir, template, old, new, at, offset, path, words)


def test_a_custom_sku_with_memory_and_tdp_is_accepted_and_can_be_required(fleet_dir):
    site = fleet_dir.edit(fleet_dir.SITE, "sku: H100-SXM",
                          "sku: Gaudi3\n      memory_gb: 128\n      tdp_w: 900")
    workload = fleet_dir.edit(fleet_dir.WORKLOAD, "[H100-SXM, H200]", "[Gaudi3]")
    fleet_dir.fleet(SITE=site, WORKLOAD=workload)
    loaded = fleet_dir.load()
    assert loaded.warnings == ()
    model = loaded.fleet.gpu_model(loaded.fleet.sites["fra-1"].spec.gpus[0])
    assert (model.sku, model.memory_gb, model.tdp_w, model.vendor) == ("Gaudi3", 128, 900, "custom")
    assert "Gaudi3" in loaded.fleet.known_skus()
    cli = fleet_dir.validate()
    assert cli.exit_code == 0 and cli.stdout.startswith("ok:")


# --- references between resources ----------------------------------------------------------


REFERENCES = [
    case("WORKLOAD", "{eu-central: 120}", "{eu-centrl: 120}", "spec.demand.eu-centrl",
         "unknown region 'eu-centrl' (did you mean 'eu-central'?)", at="eu-centrl",
         name="demand-from-an-unknown-region"),
    case("WORKLOAD", "{site: fra-1,", "{site: fra-2,", "spec.data[0].site",
         "unknown site 'fra-2' (did you mean 'fra-1'?)", at="fra-2",
         name="data-at-an-unknown-site"),
    case("SITE", "{eu-central: 2}", "{eu-central: 2, us-east: 90}", "spec.latency_ms.us-east",
         "unknown region 'us-east'", at="us-east: 90", name="latency-to-an-unknown-region"),
    case("POLICY", "denied: {sites: []}", "denied: {sites: [fra-2]}", "spec.denied.sites[0]",
         "unknown site 'fra-2' (did you mean 'fra-1'?)", at="fra-2",
         name="policy-denies-unknown-site"),
    case("POLICY", "colo]}", "colo], sites: [fra-1, fra-2]}", "spec.allowed.sites[1]",
         "unknown site 'fra-2' (did you mean 'fra-1'?)", at="fra-2",
         name="policy-allows-unknown-site"),
    # the site has an error of its own; the workload's reference to it is not a second one
    case("SITE", "count: 32", "count: 0", "spec.gpus[0].count", "must be >= 1",
         name="a-failed-resource-still-counts-as-known"),
]


@pytest.mark.parametrize(CASE, REFERENCES)
def test_reference(fleet_dir, template, old, new, at, offset, path, words):
    check(fleet_dir, template, old, new, at, offset, path, words)


def test_a_fleet_without_sites(fleet_dir):
    fleet_dir.write("fleet.yaml", fleet_dir.REGION, fleet_dir.JOB)
    (p,) = fleet_dir.errors()
    fleet_dir.assert_problem(p, "<fleet>", None, "", "no Site resources found")
    assert fleet_dir.validate().exit_code == 2


@pytest.mark.parametrize("case_", ["nameless-site", "misspelled-kind", "malformed-yaml",
                                   "missing-path"])
def test_a_broken_site_is_not_also_reported_as_no_sites(fleet_dir, case_):
    if case_ == "missing-path":
        with pytest.raises(SpecError) as info:
            load_fleet([fleet_dir.root / "nope"])
        assert [str(p) for p in info.value.errors] == [
            f"{fleet_dir.root / 'nope'}: no such file or folder"]
        return
    old, new = {"nameless-site": ("name: fra-1", "nmae: fra-1"),
                "misspelled-kind": ("kind: Site", "kind: Stie"),
                "malformed-yaml": ("  cooling_kw: 45", "   cooling_kw: 45")}[case_]
    fleet_dir.broken("SITE", old, new)
    errors = fleet_dir.errors()
    assert not any("no Site resources" in p.message for p in errors), [str(p) for p in errors]


# --- names ---------------------------------------------------------------------------------


def test_the_same_name_twice_in_one_kind_names_the_first(fleet_dir):
    f = fleet_dir.broken("REGION_WEST", "name: eu-west", "name: eu-central")
    first = fleet_dir.line(f, "name: eu-central", nth=1)
    second = fleet_dir.line(f, "name: eu-central", nth=2)
    fleet_dir.expect_error(f, second, "metadata.name",
                           f"duplicate Region name 'eu-central' (first defined at {f}:{first})")


def test_the_same_name_twice_across_files_names_the_first_file(fleet_dir):
    a = fleet_dir.write("a-sites.yaml", fleet_dir.SITE)
    b = fleet_dir.write("b-more.yaml", fleet_dir.edit(fleet_dir.SITE, "country: DE", "country: FR"))
    fleet_dir.write("c-rest.yaml", fleet_dir.REGION, fleet_dir.WORKLOAD)
    first = f"{a}:{fleet_dir.line(a, 'name: fra-1')}"
    fleet_dir.expect_error(b, fleet_dir.line(b, "name: fra-1"), "metadata.name",
                           f"duplicate Site name 'fra-1' (first defined at {first})")


def test_the_same_name_in_different_kinds_is_fine(fleet_dir):
    policy = fleet_dir.edit(fleet_dir.POLICY, "name: eu-residency", "name: fra-1")
    job = fleet_dir.edit(fleet_dir.JOB, "name: train-llm", "name: eu-central")
    fleet_dir.fleet(POLICY=policy, JOB=job)
    fleet = fleet_dir.load().fleet
    assert "fra-1" in fleet.sites and "fra-1" in fleet.policies
    assert "eu-central" in fleet.regions and "eu-central" in fleet.workloads


@pytest.mark.parametrize(("old", "new", "first", "second", "path"), [
    ("  cooling_kw: 45\n", "  cooling_kw: 45\n  cooling_kw: 50\n", "cooling_kw: 45",
     "cooling_kw: 50", "spec.cooling_kw"),
    ("{lat: 50.11, lon: 8.68}\n---", "{lat: 50.11, lon: 8.68, lat: 51}\n---", "lat: 51",
     "lat: 51", "spec.location.lat"),
    ("  name: train-llm\n", "  name: train-llm\n  name: train-2\n", "name: train-llm",
     "train-2", "metadata.name"),
], ids=["block", "flow", "metadata"])
def test_a_duplicate_yaml_key(fleet_dir, old, new, first, second, path):
    f = fleet_dir.write("fleet.yaml", fleet_dir.edit("---\n".join(fleet_dir.ALL), old, new))
    key = path.rsplit(".", 1)[-1]
    fleet_dir.expect_error(f, fleet_dir.line(f, second), path,
                           f"duplicate key '{key}' (first on line {fleet_dir.line(f, first)})")


def test_two_objectives(fleet_dir):
    other = fleet_dir.edit(fleet_dir.OBJECTIVE, "name: default", "name: cheap")
    f = fleet_dir.write("fleet.yaml", *fleet_dir.ALL, other)
    (p,) = fleet_dir.errors()
    assert (p.file, p.path) == (str(f), "kind")
    assert p.message == "at most one Objective per fleet, found 2: default, cheap"
    # the second Objective's document
    assert fleet_dir.line(f, "name: cheap") - 2 <= p.line <= fleet_dir.line(f, "name: cheap")
    assert fleet_dir.validate().exit_code == 2


def test_two_objectives_points_at_the_kind_line(fleet_dir):
    other = fleet_dir.edit(fleet_dir.OBJECTIVE, "name: default", "name: cheap")
    f = fleet_dir.write("fleet.yaml", *fleet_dir.ALL, other)
    fleet_dir.expect_error(f, fleet_dir.line(f, "kind: Objective", nth=2), "kind",
                           "at most one Objective")


NAMES = [
    case("JOB", "name: train-llm", "name: Train-LLM", "metadata.name", NAME_RULE,
         "got 'Train-LLM'", name="uppercase"),
    case("JOB", "name: train-llm", "name: train_llm", "metadata.name", NAME_RULE,
         "got 'train_llm'", name="underscore"),
    case("JOB", "name: train-llm", "name: '-train'", "metadata.name",
         "starting and ending with a letter or digit", "got '-train'", name="leading-hyphen"),
    case("JOB", "name: train-llm", "name: " + "a" * 64, "metadata.name",
         "must be at most 63 characters, got 64", name="64-characters"),
    case("SITE", "country: DE", "country: de", "spec.country", COUNTRY_RULE, "got 'de'",
         name="country-lowercase"),
    case("SITE", "country: DE", "country: DEU", "spec.country", COUNTRY_RULE, "got 'DEU'",
         name="country-alpha-3"),
    case("POLICY", "[DE, FR]", "[DE, France]", "spec.allowed.countries[1]", COUNTRY_RULE,
         "got 'France'", at="France", name="country-in-a-policy"),
    case("WORKLOAD", "model: support-llm:3", "model: support-llm", "spec.model", MODEL_RULE,
         "got 'support-llm'", name="model-without-version"),
    case("WORKLOAD", "model: support-llm:3", "model: Support-LLM:3", "spec.model", MODEL_RULE,
         "got 'Support-LLM:3'", name="model-uppercase"),
    case("WORKLOAD", "model: support-llm:3", "model: 'support-llm:'", "spec.model", MODEL_RULE,
         "got 'support-llm:'", name="model-empty-version"),
    case("WORKLOAD", "model: support-llm:3", "model: support llm:3", "spec.model", MODEL_RULE,
         "got 'support llm:3'", name="model-with-a-space"),
]


@pytest.mark.parametrize(CASE, NAMES)
def test_invalid_name_or_code(fleet_dir, template, old, new, at, offset, path, words):
    check(fleet_dir, template, old, new, at, offset, path, words)


def test_a_name_of_63_characters_is_fine(fleet_dir):
    fleet_dir.broken("JOB", "name: train-llm", "name: " + "a" * 63)
    assert "a" * 63 in fleet_dir.load().fleet.workloads


@pytest.mark.parametrize("model", ["support-llm:3", "assist-70b@prod", "org/embed-m:v1.2"])
def test_valid_model_references(fleet_dir, model):
    fleet_dir.broken("WORKLOAD", "model: support-llm:3", f"model: '{model}'")
    assert fleet_dir.load().fleet.workloads["support-chat-eu"].spec.model == model


def test_unquoted_norway_gets_a_hint(fleet_dir):
    p = check(fleet_dir, "POLICY", "[DE, FR]", "[DE, NO]", "NO]", 0, "spec.allowed.countries[1]",
              [])
    assert "NO" in p.message or "quote" in p.message


# --- extensions: replication windows and time zones --------------------------------------

EXTENSIONS = [
    case("SITE", "  cooling_kw: 45", "  cooling_kw: 45\n  timezone: Europe/Berln", "spec.timezone",
         "expected an IANA time zone such as Europe/Berlin or UTC", "got 'Europe/Berln'",
         at="timezone:", name="timezone-misspelled"),
    case("SITE", "  cooling_kw: 45", "  cooling_kw: 45\n  sync_windows: ['25:00-03:00']",
         "spec.sync_windows[0]", "expected a window HH:MM-HH:MM", "got '25:00-03:00'",
         at="sync_windows:", name="window-hour-25"),
    case("SITE", "  cooling_kw: 45", "  cooling_kw: 45\n  sync_windows: ['01:00-01:00']",
         "spec.sync_windows[0]", "an empty window (01:00-01:00)", "00:00-24:00",
         at="sync_windows:", name="window-empty"),
]


@pytest.mark.parametrize(CASE, EXTENSIONS)
def test_extension_fields(fleet_dir, template, old, new, at, offset, path, words):
    check(fleet_dir, template, old, new, at, offset, path, words)


# --- extensions: GPU servers, fabrics and interconnect needs (issue 8) ------------------------

PRICE = "      price_per_gpu_hour: 1.27"
INTERCONNECT = [
    case("SITE", PRICE, PRICE + "\n      gpus_per_server: 0", "spec.gpus[0].gpus_per_server",
         "must be >= 1, got 0", at="gpus_per_server:", name="gpus-per-server-zero"),
    case("SITE", PRICE, PRICE + "\n      gpus_per_server: 8.5", "spec.gpus[0].gpus_per_server",
         "expected a whole number, got 8.5", at="gpus_per_server:", name="gpus-per-server-fraction"),
    case("SITE", PRICE, PRICE + "\n      fabric: {type: infiniban, gbps: 400}", "spec.gpus[0].fabric.type",
         "expected one of none, ethernet, roce, infiniband, got 'infiniban' (did you mean 'infiniband'?)",
         at="fabric:", name="fabric-type-misspelled"),
    case("SITE", PRICE, PRICE + "\n      fabric: {type: nvlink, gbps: 400}", "spec.gpus[0].fabric.type",
         "expected one of none, ethernet, roce, infiniband, got 'nvlink'", at="fabric:", name="fabric-type-wrong"),
    case("SITE", PRICE, PRICE + "\n      fabric: {type: roce, gbps: 400, domain_servers: 0}",
         "spec.gpus[0].fabric.domain_servers", "must be >= 1, got 0", at="fabric:", name="domain-servers-zero"),
    case("SITE", PRICE, PRICE + "\n      fabric: {type: roce, gpbs: 400}", "spec.gpus[0].fabric.gpbs",
         "unknown field 'gpbs' (did you mean 'gbps'?)", at="fabric:", name="fabric-field-misspelled"),
    case("SITE", PRICE, PRICE + "\n      fabric: {type: roce}", "spec.gpus[0].fabric.gbps",
         "required for a fabric of type roce", at="fabric:", name="fabric-without-gbps"),
    case("SITE", PRICE, PRICE + "\n      fabric: {type: none, gbps: 100}", "spec.gpus[0].fabric.gbps",
         "has no meaning for a fabric of type none", at="fabric:", name="no-fabric-with-gbps"),
    case("SITE", PRICE, PRICE + "\n      interconnect: nvlnk", "spec.gpus[0].interconnect",
         "expected one of nvlink, infinity-fabric, pcie, got 'nvlnk' (did you mean 'nvlink'?)",
         at="interconnect:", name="pool-link-misspelled"),
    case("JOB", "  replicas: {min: 1, max: 2}", "  replicas: {min: 1, max: 2}\n  interconnect: {between_servers: rdam}",
         "spec.interconnect.between_servers", "got 'rdam' (did you mean 'rdma'?)", at="interconnect:",
         name="between-servers-misspelled"),
    case("JOB", "  replicas: {min: 1, max: 2}", "  replicas: {min: 1, max: 2}\n  interconnect: {within_server: pcie}",
         "spec.interconnect.within_server", "expected one of any, gpu-link, nvlink, infinity-fabric, got 'pcie'",
         at="interconnect:", name="within-server-pcie"),
    case("JOB", "  replicas: {min: 1, max: 2}",
         "  replicas: {min: 1, max: 2}\n  interconnect: {between_servers: none, min_gbps: 400}",
         "spec.interconnect.min_gbps", "has no effect with between_servers: none", at="interconnect:",
         name="min-gbps-without-fabric"),
]


@pytest.mark.parametrize(CASE, INTERCONNECT)
def test_interconnect_fields(fleet_dir, template, old, new, at, offset, path, words):
    check(fleet_dir, template, old, new, at, offset, path, words)


def test_servers_fabric_and_interconnect_load_and_default_to_the_catalog(fleet_dir):
    site = fleet_dir.edit(fleet_dir.SITE, PRICE, PRICE + "\n      gpus_per_server: 4\n"
                          "      fabric: {type: infiniband, gbps: 3200, domain_servers: 2}")
    job = fleet_dir.edit(fleet_dir.JOB, "  replicas: {min: 1, max: 2}", "  replicas: {min: 1, max: 2}\n"
                         "  interconnect: {within_server: nvlink, between_servers: rdma, min_gbps: 400}")
    fleet_dir.fleet(SITE=site, JOB=job)
    loaded = fleet_dir.load().fleet
    pool = loaded.sites["fra-1"].spec.gpus[0]
    assert (pool.gpus_per_server, pool.fabric_or_none.type, pool.fabric_or_none.domain_servers) == (4, "infiniband", 2)
    model = loaded.gpu_model(pool)
    assert (model.gpus_per_server, model.interconnect.kind, model.interconnect.describe()) == (
        4, "nvlink", "NVLink 4, 900 GB/s")
    need = loaded.workloads["train-llm"].spec.interconnect
    assert need is not None and (need.within_server, need.between_servers, need.min_gbps) == ("nvlink", "rdma", 400)


def test_without_the_new_fields_a_pool_has_8_gpu_servers_and_no_fabric(fleet_dir):
    fleet_dir.fleet()
    loaded = fleet_dir.load().fleet
    pool = loaded.sites["fra-1"].spec.gpus[0]
    assert (pool.gpus_per_server, pool.fabric) == (None, None) and pool.fabric_or_none.type == "none"
    assert loaded.gpu_model(pool).gpus_per_server == 8
    assert loaded.workloads["support-chat-eu"].spec.interconnect is None


def test_valid_time_zone_and_windows(fleet_dir):
    fleet_dir.broken("SITE", "  cooling_kw: 45", "  cooling_kw: 45\n  timezone: Europe/Berlin\n"
                     "  sync_windows: ['22:00-02:00', '12:00-24:00']")
    spec = fleet_dir.load().fleet.sites["fra-1"].spec
    assert (spec.timezone, spec.sync_windows) == ("Europe/Berlin", ["22:00-02:00", "12:00-24:00"])


@pytest.mark.parametrize("zone", ["Europe", "x" * 300], ids=["a-tz-folder", "too-long"])
def test_a_time_zone_that_is_no_file_is_a_problem(fleet_dir, zone):
    check(fleet_dir, "SITE", "  cooling_kw: 45", f"  cooling_kw: 45\n  timezone: {zone}", "timezone:",
          0, "spec.timezone", ["expected an IANA time zone"])


# --- warnings ------------------------------------------------------------------------------


def test_a_policy_that_matches_nothing_is_a_warning(fleet_dir):
    f = fleet_dir.broken("POLICY", "{residency: eu}", "{residency: us}")
    loaded = fleet_dir.load()
    (w,) = loaded.warnings
    fleet_dir.assert_problem(w, f, fleet_dir.line(f, "{residency: us}"), "spec.selector",
                             "matches no workload (selector residency=us)", severity="warning")
    assert "eu-residency" in loaded.fleet.policies
    cli = fleet_dir.validate()
    assert cli.exit_code == 0
    assert str(w) in cli.stderr and "warning:" in cli.stderr
    assert cli.stdout.startswith("ok: 2 regions, 1 sites, 2 workloads, 1 policies")


def test_warnings_are_shown_next_to_errors(fleet_dir):
    policy = fleet_dir.edit(fleet_dir.POLICY, "{residency: eu}", "{residency: us}")
    site = fleet_dir.edit(fleet_dir.SITE, "count: 32", "count: 0")
    f = fleet_dir.fleet(POLICY=policy, SITE=site)
    problems = fleet_dir.problems()
    assert [(p.severity, p.path) for p in problems] == [
        ("error", "spec.gpus[0].count"), ("warning", "spec.selector")]
    cli = fleet_dir.validate()
    assert cli.exit_code == 2 and "1 error in the fleet specification" in cli.stderr
    where = f"{f}:{fleet_dir.line(f, '{residency: us}')}"
    assert f"{where} spec.selector: warning: matches no workload" in cli.stderr


def test_a_latency_slo_without_demand_is_a_warning(fleet_dir):
    f = fleet_dir.broken("JOB", "  replicas: {min: 1, max: 2}\n",
                         "  replicas: {min: 1, max: 2}\n  latency_slo_ms: 30\n")
    (w,) = fleet_dir.load().warnings
    fleet_dir.assert_problem(w, f, fleet_dir.line(f, "latency_slo_ms: 30"), "spec.latency_slo_ms",
                             "has no effect without demand", severity="warning")


# --- files and folders ---------------------------------------------------------------------


def test_a_folder_without_yaml_files(fleet_dir):
    (fleet_dir.root / "notes.txt").write_text("not a spec\n")
    errors = fleet_dir.errors()
    assert f"{fleet_dir.root}: folder has no *.yaml or *.yml files" in [str(p) for p in errors]
    cli = fleet_dir.validate()
    assert cli.exit_code == 2 and cli.stdout == ""
    assert f"{fleet_dir.root}: folder has no *.yaml or *.yml files" in cli.stderr


def test_a_path_that_does_not_exist(fleet_dir):
    missing = fleet_dir.root / "nope.yaml"
    assert f"{missing}: no such file or folder" in [str(p) for p in fleet_dir.errors(missing)]
    cli = fleet_dir.validate(missing)
    assert cli.exit_code == 2 and cli.stdout == ""
    assert f"{missing}: no such file or folder" in cli.stderr


def test_a_file_that_is_not_utf8(fleet_dir):
    fleet_dir.fleet()
    bad = fleet_dir.root / "latin1.yaml"
    bad.write_bytes("apiVersion: fleetyard/v1\nmetadata: {name: café}\n".encode("latin-1"))
    (p,) = fleet_dir.errors()
    assert (p.file, p.line, p.path) == (str(bad), 2, "") and "not UTF-8 text" in p.message
    cli = fleet_dir.validate()
    assert cli.exit_code == 2 and f"{bad}" in cli.stderr and "not UTF-8" in cli.stderr


# --- everything at once --------------------------------------------------------------------


def test_five_mistakes_in_one_file_are_five_problems_sorted_by_line(fleet_dir):
    # Cross-resource mistakes in the first document, schema mistakes further down: the
    # checks find them in another order; the report is sorted by line.
    workload = fleet_dir.edit(fleet_dir.WORKLOAD, "{eu-central: 120}", "{eu-cental: 120}")
    workload = fleet_dir.edit(workload, "{min: 2, max: 16}", "{min: 20, max: 16}")
    site = fleet_dir.edit(fleet_dir.SITE, "count: 32", "count: 0")
    site = fleet_dir.edit(site, "pue: 1.25", "peu: 1.25")
    region = fleet_dir.edit(fleet_dir.REGION_WEST, "lat: 48.86", "lat: north")
    f = fleet_dir.write("fleet.yaml", workload, fleet_dir.REGION, site, region)
    expected = [
        ("{min: 20", "spec.replicas.min", "must be <= replicas.max (16), got 20"),
        ("eu-cental", "spec.demand.eu-cental", "unknown region 'eu-cental'"),
        ("count: 0", "spec.gpus[0].count", "must be >= 1, got 0"),
        ("peu: 1.25", "spec.power.peu", "unknown field 'peu' (did you mean 'pue'?)"),
        ("lat: north", "spec.location.lat", "expected a number, got 'north'"),
    ]
    errors = fleet_dir.errors()
    assert [(p.line, p.path) for p in errors] == [(fleet_dir.line(f, at), path)
                                                  for at, path, _ in expected]
    for p, (_, _, words) in zip(errors, expected, strict=True):
        assert p.file == str(f) and words in p.message
    assert [p.line for p in errors] == sorted(p.line for p in errors)
    cli = fleet_dir.validate()
    assert cli.exit_code == 2 and "5 errors in the fleet specification" in cli.stderr
    assert [ln for ln in cli.stderr.splitlines() if ln.startswith(str(f))] == [
        str(p) for p in errors]


def test_problems_in_two_files_are_all_reported(fleet_dir):
    sites = fleet_dir.write("sites.yaml", fleet_dir.edit(fleet_dir.SITE, "count: 32", "count: 0"))
    apps = fleet_dir.write("apps.yaml", fleet_dir.REGION,
                           fleet_dir.edit(fleet_dir.WORKLOAD, "{site: fra-1,", "{site: fra-9,"))
    errors = fleet_dir.errors()
    assert [(p.file, p.line, p.path) for p in errors] == [
        (str(apps), fleet_dir.line(apps, "fra-9"), "spec.data[0].site"),
        (str(sites), fleet_dir.line(sites, "count: 0"), "spec.gpus[0].count"),
    ]
    cli = fleet_dir.validate()
    assert cli.exit_code == 2 and "2 errors in the fleet specification" in cli.stderr
    assert cli.stderr.index(str(apps)) < cli.stderr.index(str(sites))


def test_text_input_reports_the_given_name():
    text = ("apiVersion: fleetyard/v1\nkind: Region\nmetadata: {name: Bad}\n"
            "spec: {location: {lat: 1, lon: 2}}\n")
    with pytest.raises(SpecError) as info:
        load_fleet_text(text, "inline.yaml")
    assert ("inline.yaml", 3, "metadata.name") in {(p.file, p.line, p.path)
                                                    for p in info.value.errors}


# --- extension: burst and fallback (issue 8) -----------------------------------------------

BURST = "  resilience: n-1\n  burst:\n"

BURST_CASES = [
    case("OBJECTIVE", "  resilience: n-1", BURST + "    prefer: [small-dc, clolo, hyperscaler]",
         "spec.burst.prefer[1]", "expected one of small-dc, colo, edge, hyperscaler", "got 'clolo'",
         "(did you mean 'colo'?)", at="prefer:", name="burst-prefer-unknown-site-type"),
    case("OBJECTIVE", "  resilience: n-1", BURST + "    prefer: [colo, small-dc, colo]",
         "spec.burst.prefer[2]", "site type 'colo' listed twice (also at spec.burst.prefer[0])",
         at="prefer:", name="burst-prefer-twice"),
    case("OBJECTIVE", "  resilience: n-1", BURST + "    max_spend_per_hour: -50",
         "spec.burst.max_spend_per_hour", "must be >= 0", "got -50", at="max_spend_per_hour:",
         name="burst-negative-cap"),
    case("OBJECTIVE", "  resilience: n-1", BURST + "    per_team: {support: -1}",
         "spec.burst.per_team.support", "must be >= 0", "got -1", at="per_team:", name="burst-negative-team-cap"),
    case("OBJECTIVE", "  resilience: n-1", BURST + "    burst_site_types: []",
         "spec.burst.burst_site_types", "expected at least 1 item(s), got 0", at="burst_site_types:",
         name="burst-no-burst-site-types"),
    case("OBJECTIVE", "  resilience: n-1", BURST + "    max_spend: 500",
         "spec.burst.max_spend", "unknown field 'max_spend' (did you mean 'max_spend_per_hour'?)",
         at="max_spend:", name="burst-misspelled-cap"),
    case("WORKLOAD", "  rps_per_replica: 40", "  rps_per_replica: 40\n  burst: nevr", "spec.burst",
         "expected one of allowed, never", "got 'nevr'", "(did you mean 'never'?)", at="burst: nevr",
         name="workload-burst-typo"),
]


@pytest.mark.parametrize(CASE, BURST_CASES)
def test_burst_fields(fleet_dir, template, old, new, at, offset, path, words):
    check(fleet_dir, template, old, new, at, offset, path, words)


def test_a_valid_burst_section_loads_with_its_defaults(fleet_dir):
    fleet_dir.broken("OBJECTIVE", "  resilience: n-1",
                     BURST + "    prefer: [small-dc, colo]\n    max_spend_per_hour: 500\n"
                     "    per_team: {support: 250}")
    loaded = fleet_dir.load()
    assert loaded.warnings == ()
    burst = loaded.fleet.objective.spec.burst
    assert burst is not None
    assert (burst.prefer, burst.burst_site_types, burst.max_spend_per_hour, burst.per_team,
            burst.premium_per_gpu_hour) == (["small-dc", "colo"], ["hyperscaler"], 500, {"support": 250}, 0.5)
    assert loaded.fleet.workloads["support-chat-eu"].spec.burst == "allowed"


def test_a_team_cap_for_a_team_no_workload_has_is_a_warning(fleet_dir):
    f = fleet_dir.broken("OBJECTIVE", "  resilience: n-1", BURST + "    per_team: {suport: 100}")
    loaded = fleet_dir.load()
    (w,) = loaded.warnings
    fleet_dir.assert_problem(w, f, fleet_dir.line(f, "per_team:"), "spec.burst.per_team.suport",
                             "no workload has the label team=suport", "(did you mean 'support'?)",
                             severity="warning")
    assert loaded.fleet.objective.spec.burst is not None
    cli = fleet_dir.validate()
    assert cli.exit_code == 0 and "warning:" in cli.stderr
