"""`fleetyard export DIR --to kubernetes|karmada`: the plan as manifests for the engines teams run.

Plans exactly as `fleetyard plan` does (or reads a plan JSON from `plan -o json`), then
writes the files of the pure `fleetyard.export` engine under OUT. docs/export.md.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import pydantic
import typer

from fleetyard.cli.common import console, did_you_mean, fail, load_or_exit
from fleetyard.cli.plan_cmd import Paths, StrategyOpt, options, planned
from fleetyard.export import karmada_files, kubernetes_files
from fleetyard.placement.milp import WorkLimits
from fleetyard.spec.plan import Plan


class Target(StrEnum):
    kubernetes = "kubernetes"
    karmada = "karmada"


def register(app: typer.Typer) -> None:
    app.command("export")(export)


def _read_plan(path: Path) -> Plan:
    try:
        return Plan.model_validate_json(path.read_bytes())
    except OSError as exc:
        fail(f"--plan {path}: cannot read: {exc.strerror}")
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        fail(f"--plan {path}: not a plan JSON from `fleetyard plan -o json`: {where}: {first['msg']}")


def _write(out: Path, files: dict[str, bytes]) -> None:
    if out.exists() and not out.is_dir():
        fail(f"-o {out}: exists and is not a folder")
    try:
        for rel, data in files.items():
            target = out / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    except OSError as exc:
        fail(f"-o {out}: cannot write {exc.filename}: {exc.strerror}")


def export(
    paths: Paths,
    to: Annotated[str, typer.Option("--to", help="kubernetes (a folder per site) or karmada.",
                                    show_default=False)],
    out: Annotated[Path, typer.Option("--output", "-o", help="Folder to write (created).")] = Path("export"),
    plan_file: Annotated[Path | None, typer.Option("--plan", show_default=False, help=(
        "A plan JSON from `fleetyard plan -o json`: export it instead of planning."))] = None,
    strategy: StrategyOpt = "optimizer",
) -> None:
    """Write the plan as Kubernetes manifests per site, or as Karmada policies across sites."""
    targets = [t.value for t in Target]
    if to not in targets:
        fail(f"--to: expected one of {', '.join(targets)}, got '{to}'{did_you_mean(to, targets)}")
    missing = [p for p in paths if not p.exists()]
    if missing:
        fail(f"{missing[0]}: no such file or folder")
    opts = options(strategy, 60.0, 0.002, WorkLimits.max_nodes or 0)  # `plan`'s defaults
    fleet = load_or_exit(paths)
    plan = _read_plan(plan_file) if plan_file is not None else planned(fleet, opts)
    specs = {name: w.spec for name, w in fleet.workloads.items()}
    unknown = sorted({a.workload for a in plan.assignments} - set(specs))
    if unknown:
        fail(f"the plan places workloads the fleet does not define: {', '.join(unknown)}")
    files = kubernetes_files(plan, specs) if to == Target.kubernetes else karmada_files(plan, specs)
    _write(out, files)
    console.print(f"[green]wrote[/] {len(files)} files for {to} to {out}", highlight=False)
