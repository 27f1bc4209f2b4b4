"""Helpers for the spec tests: write YAML fleets to tmp_path, load them, run `fleetyard validate`.

`fleet_dir` is a `FleetDir` on a fresh folder. Its templates (`REGION`, `SITE`, ...) are
valid resources of format v1; a test breaks one of them with `edit` (which insists the
text to replace occurs exactly once), writes it, and checks the problem: file, line
(`line` finds the line of a unique snippet, so no test hard-codes a line that an edit
of a template would shift), field path and message. `expect_error` also runs the real
`fleetyard validate` command (in-process, through Typer's runner) and checks exit code
2, the problem printed on stderr, nothing on stdout and no traceback.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetyard.cli.app import app
from fleetyard.spec import Loaded, Problem, SpecError, load_fleet

REGION = """\
apiVersion: fleetyard/v1
kind: Region
metadata: {name: eu-central}
spec:
  location: {lat: 50.11, lon: 8.68}
"""

REGION_WEST = """\
apiVersion: fleetyard/v1
kind: Region
metadata: {name: eu-west}
spec:
  location: {lat: 48.86, lon: 2.35}
"""

SITE = """\
apiVersion: fleetyard/v1
kind: Site
metadata:
  name: fra-1
  labels: {owner: platform}
spec:
  type: small-dc
  country: DE
  location: {lat: 50.11, lon: 8.68}
  gpus:
    - sku: H100-SXM
      count: 32
      price_per_gpu_hour: 1.27
  power: {it_capacity_kw: 40, pue: 1.25}
  cooling_kw: 45
  energy: {price_per_kwh: 0.17, carbon_g_per_kwh: 380}
  egress_price_per_gb: 0.0
  network: {uplink_gbps: 10}
  latency_ms: {eu-central: 2}
"""

WORKLOAD = """\
apiVersion: fleetyard/v1
kind: Workload
metadata:
  name: support-chat-eu
  labels: {team: support, residency: eu}
spec:
  type: inference
  model: support-llm:3
  priority: 100
  replica:
    gpus: 1
    gpu_memory_gb: 40
    gpu_skus: [H100-SXM, H200]
  replicas: {min: 2, max: 16}
  demand: {eu-central: 120}
  rps_per_replica: 40
  latency_slo_ms: 40
  spread: {min_sites: 1}
  data:
    - {site: fra-1, gb_per_hour: 2}
"""

JOB = """\
apiVersion: fleetyard/v1
kind: Workload
metadata:
  name: train-llm
  labels: {class: training}
spec:
  type: training
  model: base-llm@prod
  replica: {gpus: 8, gpu_memory_gb: 80}
  replicas: {min: 1, max: 2}
"""

POLICY = """\
apiVersion: fleetyard/v1
kind: Policy
metadata: {name: eu-residency}
spec:
  selector: {residency: eu}
  allowed: {countries: [DE, FR], site_types: [small-dc, colo]}
  denied: {sites: []}
"""

OBJECTIVE = """\
apiVersion: fleetyard/v1
kind: Objective
metadata: {name: default}
spec:
  carbon_price_per_tonne: 80
  resilience: n-1
"""


TEMPLATES = ("REGION", "REGION_WEST", "SITE", "WORKLOAD", "JOB", "POLICY", "OBJECTIVE")


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def edit(text: str, old: str, new: str) -> str:
    """`text` with `old` (which must occur exactly once) replaced by `new`."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times, expected once"
    return text.replace(old, new)


def line(path: Path, snippet: str, nth: int | None = None) -> int:
    """1-based number of the line of `path` holding `snippet`: its only occurrence, or
    with `nth` its nth one."""
    hits = [
        i
        for i, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if snippet in text
    ]
    if nth is None:
        assert len(hits) == 1, (
            f"{snippet!r} is on lines {hits} of {path}; expected one (or pass nth)"
        )
        return hits[0]
    assert len(hits) >= nth, f"{snippet!r} found on lines {hits} of {path}"
    return hits[nth - 1]


def assert_problem(
    p: Problem,
    file: Path | str,
    line_no: int | None,
    path: str,
    *words: str,
    severity: str = "error",
) -> None:
    """`p` is at file:line path and its message holds every one of `words`."""
    assert (p.file, p.line, p.path, p.severity) == (str(file), line_no, path, severity), str(p)
    for word in words:
        assert word in p.message, f"{word!r} not in {p.message!r}"


class FleetDir:
    """A folder of fleet YAML files, with the templates above and checks on loading it."""

    REGION = REGION
    REGION_WEST = REGION_WEST
    SITE = SITE
    WORKLOAD = WORKLOAD
    JOB = JOB
    POLICY = POLICY
    OBJECTIVE = OBJECTIVE
    ALL = (REGION, REGION_WEST, SITE, WORKLOAD, JOB, POLICY, OBJECTIVE)

    edit = staticmethod(edit)
    line = staticmethod(line)
    assert_problem = staticmethod(assert_problem)

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._runner = CliRunner()

    def write(self, name: str, *docs: str) -> Path:
        """Write the documents (dedented, joined by `---`) to `name` in the folder."""
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("---\n".join(textwrap.dedent(d) for d in docs), encoding="utf-8")
        return path

    def fleet(self, name: str = "fleet.yaml", **replace: str) -> Path:
        """Write every template to one file; `replace` swaps templates by name, e.g.
        `fleet(SITE=edit(SITE, 'count: 32', 'count: 0'))`."""
        assert set(replace) <= set(TEMPLATES), set(replace) - set(TEMPLATES)
        return self.write(name, *(replace.get(key, getattr(self, key)) for key in TEMPLATES))

    def broken(self, template: str, old: str, new: str) -> Path:
        """Write every template, with `old` replaced by `new` in the one named `template`."""
        return self.fleet(**{template: edit(getattr(self, template), old, new)})

    def load(self, *paths: Path | str) -> Loaded:
        return load_fleet(list(paths) or [self.root])

    def problems(self, *paths: Path | str) -> list[Problem]:
        """Every problem (errors and warnings) of an input that must fail to load."""
        with pytest.raises(SpecError) as info:
            load_fleet(list(paths) or [self.root])
        assert info.value.errors, "SpecError without errors"
        return list(info.value.problems)

    def errors(self, *paths: Path | str) -> list[Problem]:
        return [p for p in self.problems(*paths) if p.severity == "error"]

    def validate(self, *paths: Path | str) -> CliResult:
        """Run `fleetyard validate` in-process; a Python exception fails the test."""
        args = ["validate", *(str(p) for p in (paths or (self.root,)))]
        result = self._runner.invoke(app, args, catch_exceptions=True)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"validate raised {result.exception!r}") from result.exception
        out = CliResult(result.exit_code, result.stdout, result.stderr)
        assert "Traceback" not in out.stdout + out.stderr
        return out

    def expect_error(self, file: Path, line_no: int | None, path: str, *words: str) -> Problem:
        """Loading the folder yields exactly one error, at file:line path, naming `words`;
        `fleetyard validate` prints it on stderr and exits 2 with nothing on stdout."""
        errors = self.errors()
        assert len(errors) == 1, "\n".join(map(str, errors))
        assert_problem(errors[0], file, line_no, path, *words)
        cli = self.validate()
        assert cli.exit_code == 2, cli
        assert str(errors[0]) in cli.stderr
        assert "1 error in the fleet specification" in cli.stderr
        assert cli.stdout == ""
        return errors[0]


@pytest.fixture
def fleet_dir(tmp_path: Path) -> FleetDir:
    return FleetDir(tmp_path / "fleet")
