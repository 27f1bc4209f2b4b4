"""The CostModel resource: its defaults, and bad values as problems at file, line and field (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetyard.cli.app import app
from fleetyard.spec import SpecError, load_fleet
from fleetyard.spec.costmodel_spec import CostModelSpec
from fleetyard.spec.fleet import DEFAULT_COST_MODEL
from tests.energy.tco_fleet import COST_MODEL, REGION, SITES, WORKLOADS

ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, cost_model: str | None = COST_MODEL) -> Path:
    (tmp_path / "fleet.yaml").write_text("---\n".join([REGION, SITES, WORKLOADS]))
    if cost_model is not None:
        (tmp_path / "costmodel.yaml").write_text(cost_model)
    return tmp_path


def _line(text: str, snippet: str) -> int:
    hits = [i for i, line in enumerate(text.splitlines(), 1) if snippet in line]
    assert len(hits) == 1, f"{snippet!r} occurs {len(hits)} times"
    return hits[0]


def test_without_a_cost_model_every_default_applies(tmp_path):
    fleet = load_fleet([_write(tmp_path, None)]).fleet
    assert fleet.cost_model is DEFAULT_COST_MODEL
    spec = fleet.cost_model.spec
    assert (spec.years, spec.cost_of_capital, spec.colo.price_per_kw_month) == (4, 0.08, 200.0)
    assert spec.capex_per_gpu("H100-SXM") == 50_000 and spec.on_demand("H100-SXM") == 6.90
    assert spec.committed("H100-SXM") == pytest.approx(4.14)
    assert spec.hyperscaler.egress_per_gb == 0.09


def test_the_example_writes_out_exactly_the_defaults():
    fleet = load_fleet([ROOT / "examples" / "fleet"]).fleet
    assert fleet.cost_model.name == "default"
    assert fleet.origin("CostModel", "default") is not None
    assert fleet.cost_model.spec == CostModelSpec()


def test_a_partial_cost_model_keeps_the_other_defaults(tmp_path):
    spec = load_fleet([_write(tmp_path, COST_MODEL.replace("years: 4", "years: 5"))]).fleet.cost_model.spec
    assert spec.years == 5 and spec.hardware.capex_per_gpu == {"H100-SXM": 50_000}
    assert spec.capex_per_gpu("L4") == 50_000  # not listed: the `other` figure
    assert spec.owned == CostModelSpec().owned


def case(old: str, new: str, path: str, *words: str, name: str):
    return pytest.param(old, new, path, words, id=name)


BAD = [
    case("years: 4", "years: 0", "spec.years", "must be >= 1, got 0", name="years-zero"),
    case("years: 4", "years: 4.5", "spec.years", "expected a whole number, got 4.5", name="years-fraction"),
    case("cost_of_capital: 0.08", "cost_of_capital: 1.5", "spec.cost_of_capital", "must be <= 1", name="rate"),
    case("cost_of_capital: 0.08", "cost_of_capital: -0.1", "spec.cost_of_capital", "must be >= 0",
         name="rate-negative"),
    case("{price_per_kw_month: 200}", "{price_per_kw_month: 1.0e+308}", "spec.colo.price_per_kw_month",
         "must be <= 100,000", name="colo-huge"),
    case("{price_per_kw_month: 200}", "{power: maybe}", "spec.colo.power", "included", name="colo-power"),
    case("{H100-SXM: 50000}", "{H100-SXM: .nan}", "spec.hardware.capex_per_gpu.H100-SXM", "finite",
         name="capex-nan"),
    case("{H100-SXM: 50000}", "{H100-SMX: 50000}", "spec.hardware.capex_per_gpu.H100-SMX",
         "unknown SKU 'H100-SMX' (did you mean", name="capex-unknown-sku"),
    case("years: 4", "yeers: 4", "spec.yeers", "unknown field", name="unknown-field"),
]


@pytest.mark.parametrize(("old", "new", "path", "words"), BAD)
def test_a_bad_value_is_a_problem_at_its_field(tmp_path, old, new, path, words):
    text = COST_MODEL.replace(old, new)
    assert text != COST_MODEL
    folder = _write(tmp_path, text)
    with pytest.raises(SpecError) as exc:
        load_fleet([folder])
    [problem] = [p for p in exc.value.errors if p.path == path]
    assert problem.file == str(folder / "costmodel.yaml")
    assert problem.line == _line(text, new.split(":")[0].strip("{ "))
    for w in words:
        assert w in problem.message, problem.message
    chart = tmp_path / "tco.svg"
    run = CliRunner().invoke(app, ["tco", str(folder), "--chart", str(chart)])
    assert run.exit_code == 2, run.output
    assert path in run.stderr and "nothing was planned" in run.stderr
    assert run.stdout == "" and "Traceback" not in run.output
    assert not chart.exists()


def test_at_most_one_cost_model(tmp_path):
    folder = _write(tmp_path)
    second = COST_MODEL.replace("name: default", "name: second")
    (folder / "second.yaml").write_text(second)
    with pytest.raises(SpecError) as exc:
        load_fleet([folder])
    [p] = exc.value.errors
    assert (p.file, p.line, p.path) == (str(folder / "second.yaml"), 2, "kind")
    assert "at most one CostModel per fleet, found 2: default, second" in p.message


def test_a_committed_price_above_on_demand_is_a_warning(tmp_path):
    text = COST_MODEL + "  hyperscaler: {committed_per_gpu_hour: {L4: 2.0}}\n"
    loaded = load_fleet([_write(tmp_path, text)])
    [w] = loaded.warnings
    assert w.path == "spec.hyperscaler.committed_per_gpu_hour.L4" and "above the on-demand one (0.8)" in w.message
