"""End to end: `fleetyard tco` on the example fleet, as a user runs it (a subprocess, COLUMNS=200).

Planning the example takes a couple of seconds, so each command line runs once per module
and several tests read its output. The chart is checked as a file a reader opens: the SVG
is XML with both panels, the PNG an image of the stated size, and the same input gives
the same bytes.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from fleetyard.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "fleet"
ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
ENV.pop("FORCE_COLOR", None)
SVG = "{http://www.w3.org/2000/svg}"
LABELS = ("Owned small DCs", "Colocation", "Edge nodes", "Hyperscaler on-demand", "Hyperscaler committed")


def fleetyard(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fleetyard", *map(str, args)], capture_output=True, text=True,
                          env=ENV, cwd=cwd, timeout=300)


@cache
def json_run(*args: str) -> dict:
    run = fleetyard("tco", EXAMPLE, "--format", "json", *args)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


@pytest.fixture(scope="module")
def charts(tmp_path_factory) -> dict[str, list[bytes]]:
    """The SVG twice and the PNG twice, from separate processes (greedy load: quick)."""
    folder = tmp_path_factory.mktemp("charts")
    out: dict[str, list[bytes]] = {"svg": [], "png": []}
    for i in range(2):
        for fmt in out:
            path = folder / f"tco-{i}.{fmt}"
            run = fleetyard("tco", EXAMPLE, "--strategy", "greedy", "--chart", path)
            assert run.returncode == 0, run.stderr
            assert f"chart written to {path}" in run.stdout
            out[fmt].append(path.read_bytes())
    return out


def test_the_table_shows_every_option_and_its_break_even():
    run = fleetyard("tco", EXAMPLE)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "TCO " in out and "the planned load (optimizer)" in out
    assert "Cost per year at" in out and "Per delivered GPU-hour" in out
    for label in LABELS:
        assert out.count(label) == 2, label  # one row in each table
    for col in ("Capex/yr", "Energy", "Staff", "Maintenance", "Network", "Egress", "Rent", "Total/yr",
                "$/GPU-h", "Break-even vs on-demand", "vs committed"):
        assert col in out
    assert "utilization" in out and "GPU-weighted" in out


def test_json_shape_and_arithmetic():
    doc = json_run()
    assert set(doc) == {"load", "inputs", "options"}
    load = doc["load"]
    assert set(load) == {"gpus", "gpus_total", "it_kw", "sites", "energy_per_it_kwh", "utilization",
                         "egress_gb_per_month", "notes"}
    assert load["gpus_total"] == sum(load["gpus"].values()) > 0
    assert 0 < load["utilization"] <= 1 and load["it_kw"] > 0
    assert doc["inputs"]["years"] == 4 and doc["inputs"]["cost_of_capital"] == 0.08
    assert [o["option"] for o in doc["options"]] == ["owned", "colo", "edge", "on-demand", "committed"]
    hours = load["gpus_total"] * 8760 * load["utilization"]
    for o in doc["options"]:
        assert set(o["opex_per_year"]) == {"energy", "staff", "maintenance", "network", "egress", "rent"}
        assert o["total_per_year"] == pytest.approx(o["capex_per_year"] + sum(o["opex_per_year"].values()), abs=0.1)
        assert o["per_delivered_gpu_hour"] == pytest.approx(o["total_per_year"] / hours, rel=1e-3)
        assert o["total_per_year"] == pytest.approx(o["fixed_per_year"] + o["variable_per_gpu_hour"] * hours,
                                                    rel=1e-4)
        if o["option"] in ("on-demand", "committed"):
            assert o["break_even"] is None and o["capex"] == 0 and o["fixed_per_year"] == 0
        else:
            assert set(o["break_even"]) == {"on_demand", "committed"}
            assert 0 < o["break_even"]["on_demand"] < o["break_even"]["committed"]
            assert o["capex"] > 0 and o["opex_per_year"]["staff"] > 0
    by = {o["option"]: o for o in doc["options"]}
    assert by["committed"]["opex_per_year"]["rent"] == pytest.approx(0.6 * by["on-demand"]["opex_per_year"]["rent"],
                                                                     rel=1e-6)
    assert by["colo"]["opex_per_year"]["rent"] == pytest.approx(load["it_kw"] * 200 * 12, rel=1e-4)


def test_years_and_utilization_from_the_command_line():
    base, longer = json_run(), json_run("--years", "6", "--utilization", "0.9")
    assert longer["inputs"]["years"] == 6 and longer["load"]["utilization"] == 0.9
    owned = [next(o for o in d["options"] if o["option"] == "owned") for d in (base, longer)]
    assert owned[1]["capex_per_year"] < owned[0]["capex_per_year"]  # spread over more years
    assert owned[1]["per_delivered_gpu_hour"] < owned[0]["per_delivered_gpu_hour"]
    assert owned[1]["break_even"]["on_demand"] < owned[0]["break_even"]["on_demand"]


def test_the_svg_is_xml_with_both_panels(charts):
    root = ET.fromstring(charts["svg"][0])
    assert root.tag == f"{SVG}svg"
    ids = {el.get("id") for el in root.iter() if el.get("id")}
    assert {"axes_1", "axes_2", "legend_1", "legend_2"} <= ids
    assert len(list(root.iter(f"{SVG}path"))) > 50
    assert b"<dc:date>" not in charts["svg"][0]


def test_the_png_is_an_image(charts):
    image = Image.open(io.BytesIO(charts["png"][0]))
    assert image.format == "PNG" and image.size == (1200, 500)


def test_the_same_input_gives_the_same_bytes(charts):
    assert charts["svg"][0] == charts["svg"][1]
    assert charts["png"][0] == charts["png"][1]


@pytest.mark.parametrize(("args", "words"), [
    (("--chart", "{tmp}/tco.pdf"), "--chart: expected a file ending in .svg or .png"),
    (("--chart", "{tmp}/no/such/folder/tco.svg"), "--chart: no such folder"),
    (("--strategy", "gredy", "--chart", "{tmp}/tco.svg"), "did you mean 'greedy'?"),
    (("--years", "0", "--chart", "{tmp}/tco.svg"), "--years"),
    (("--utilization", "1.5", "--chart", "{tmp}/tco.svg"), "--utilization"),
])
def test_bad_arguments_exit_2_and_write_nothing(tmp_path, args, words):
    run = CliRunner().invoke(app, ["tco", str(EXAMPLE), *(a.format(tmp=tmp_path) for a in args)])
    assert run.exit_code == 2, run.output
    assert words in run.stderr, run.stderr
    assert run.stdout == "" and "Traceback" not in run.output
    assert list(tmp_path.iterdir()) == []
