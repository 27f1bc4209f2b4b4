"""Diffs on the command line: what an apply changes field by field, the plan history,
and the difference between two plans.

    fleetyard apply -f DIR [--dry-run]     ... then per resource + created, - deleted, ~ updated
    fleetyard get revisions                the stored plan revisions, newest first
    fleetyard get plan --revision N        one stored plan
    fleetyard plan diff A B [-o json]      A, B: revisions on the server, or plan JSON files

A plan JSON file is what `fleetyard plan -o json` or `fleetyard get plan -o json` writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from pydantic import ValidationError
from rich.console import Group
from rich.table import Table
from rich.text import Text

from fleetyard.cli.common import EXIT_ERROR, EXIT_INVALID, EXIT_OK, Format, console, fail
from fleetyard.cli.output import emit, structured, table
from fleetyard.cli.render import money
from fleetyard.services.client import ApiError, Client
from fleetyard.services.wire import PlanOut, PlanRevisionOut, ResourceDiff
from fleetyard.spec.plan import Plan

if TYPE_CHECKING:
    from fleetyard.services.plan_history import PlanDiffOut

__all__ = ["EXIT_CHANGES", "detailed_code", "diff_view", "invalid_exits", "plan_diff", "plan_diff_command",
           "plan_diff_view", "previous_plan", "read_plan_file", "revisions_table"]

EXIT_CHANGES = 2  # plan --detailed-exitcode: the plan differs (terraform's code)

_SIGN = {"created": ("+", "green"), "deleted": ("-", "red"), "updated": ("~", "yellow")}


def diff_view(diffs: list[ResourceDiff]) -> Group:
    """`kubectl diff` for an apply: one line per resource, then each changed field old -> new."""
    lines: list[Text] = [Text("Diff", style="bold")]
    for d in diffs:
        sign, style = _SIGN[d.action]
        lines.append(Text.assemble((f"{sign} {d.kind}/{d.name}", style), f"  {d.action}"))
        for f in d.fields:
            before = "(none)" if f.before is None else f.before
            after = "(none)" if f.after is None else f.after
            lines.append(Text.assemble("    ", (f.path, "bold"), ": ", (before, "red"), " -> ", (after, "green")))
    if not diffs:
        lines.append(Text("no resource changes", style="dim"))
    return Group(*lines)


def revisions_table(rows: list[PlanRevisionOut]) -> Table:
    t = table(title="Plan revisions")
    for col in ("Revision", "Created (UTC)", "By", "Action", "Changed", "Assignments", "Replicas", "Unplaced", "$/h"):
        t.add_column(col, justify="right" if col in ("Revision", "Assignments", "Replicas", "Unplaced", "$/h")
                     else "left")
    for r in rows:
        changed = ", ".join(r.changed[:3]) + (f" +{len(r.changed) - 3}" if len(r.changed) > 3 else "")
        t.add_row(f"{r.revision}{' *' if r.current else ''}", r.created_at.strftime("%Y-%m-%d %H:%M:%S"), r.actor,
                  r.action or "-", changed or "-", str(r.assignments), str(r.replicas_placed), str(r.unplaced),
                  money(r.cost_per_hour))
    return t


def plan_diff_view(d: PlanDiffOut) -> Group:
    head = Text.assemble(("Plan diff ", "bold"), f"{d.before} -> {d.after}: ",
                         (f"{len(d.changes)} change(s)" if d.changes else "no placement changes",
                          "yellow" if d.changes else "green"))
    parts: list[Text | Table] = [head]
    if d.changes:
        t = table()
        for col in ("Workload", "Site", "SKU", "Before", "After", "Change", "Why"):
            t.add_column(col, justify="right" if col in ("Before", "After") else "left")
        for c in d.changes:
            kind = "added" if c.before == 0 else "removed" if c.after == 0 else f"{c.after - c.before:+d}"
            t.add_row(c.workload, c.site, c.gpu_sku, str(c.before), str(c.after),
                      Text(kind, style="green" if c.after > c.before else "red"), c.reason)
        parts.append(t)
    parts.append(Text(f"Cost  {money(d.cost_per_hour_before)}/h -> {money(d.cost_per_hour_after)}/h"))
    return Group(*parts)


def read_plan_file(path: Path, code: int = EXIT_INVALID) -> Plan:
    """A plan JSON file (`fleetyard plan -o json`), or exit `code` with one line saying why not."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"{path}: cannot read plan file: {exc.strerror or exc}", code)
    except UnicodeDecodeError as exc:
        fail(f"{path}: not UTF-8 text: {exc.reason} at byte {exc.start}", code)
    try:
        doc = json.loads(text)
    except ValueError as exc:
        fail(f"{path}: not a plan JSON (fleetyard plan -o json): {exc}", code)
    try:  # `get plan -o json` adds the server's fields (revision, created_at, models)
        return (PlanOut if isinstance(doc, dict) and "revision" in doc else Plan).model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "(document)"
        fail(f"{path}: not a plan JSON (fleetyard plan -o json): {where}: {first['msg']}", code)


def _side(arg: str, api: Client | None) -> tuple[Plan, str]:
    """A revision number (needs the server) or a plan file."""
    if arg.isdigit():
        if api is None:
            fail(f"plan diff: {arg!r} is a revision number: give --server (or FLEETYARD_SERVER), "
                 "or a plan JSON file")
        return api.plan(int(arg)), f"revision {int(arg)}"
    path = Path(arg)
    if not path.exists():
        fail(f"plan diff: expected a revision number or a plan JSON file, got {arg!r} (no such file)")
    return read_plan_file(path), str(path)


def plan_diff(a: str, b: str, api: Client | None, output: Format) -> None:
    """Print how plan `b` differs from plan `a` (table, or `-o json`)."""
    before, before_label = _side(a, api)
    after, after_label = _side(b, api)
    from fleetyard.services.plan_history import diff_plans  # the database layer, only when diffing

    d = diff_plans(before, after, before_label, after_label)
    if structured(output):
        emit(d.model_dump_json(), output)
    else:
        console.print(plan_diff_view(d))


def plan_diff_command(args: list[Path], server: str | None, token: str | None, output: Format) -> None:
    """`fleetyard plan diff A B`: exactly two sides; revisions need a server."""
    if len(args) != 2:
        fail(f"plan diff: expected two plans A B (revision numbers or plan JSON files), got {len(args)}")
    a, b = (str(x) for x in args)
    if not (a.isdigit() or b.isdigit()):
        plan_diff(a, b, None, output)
        return
    from fleetyard.cli.server_cmd import DEFAULT_SERVER, _api

    with _api(server or DEFAULT_SERVER, token) as api:
        plan_diff(a, b, api, output)


@contextmanager
def invalid_exits(detailed: bool) -> Iterator[None]:
    """With --detailed-exitcode, invalid input exits 1 as every error does (terraform's
    convention: 0 no change, 1 error, 2 changes); without it, unchanged."""
    try:
        yield
    except typer.Exit as exc:
        if detailed and exc.exit_code == EXIT_INVALID:
            raise typer.Exit(EXIT_ERROR) from None
        raise


def previous_plan(server: str | None, token: str | None, against: Path | None) -> tuple[Plan | None, str]:
    """What `plan --detailed-exitcode` compares with: the `--against` file, else the server's
    current plan (None before its first apply: everything is a change)."""
    if against is not None:
        return read_plan_file(against, EXIT_ERROR), str(against)
    from fleetyard.cli.contexts import connection_or_exit
    from fleetyard.cli.server_cmd import _api

    if server is None:
        current_context = connection_or_exit()
        if current_context.context is None:
            fail("--detailed-exitcode: nothing to compare with: give --server URL (or FLEETYARD_SERVER), "
                 "a context (fleetyard config) or --against PLAN.json", EXIT_ERROR)
        server = current_context.server

    with _api(server, token) as api:
        try:
            current = api.plan()
        except ApiError as exc:
            if exc.status != 404:
                raise
            return None, f"{server} (no plan yet)"
    return current, f"revision {current.revision} on {server}"


def detailed_code(before: tuple[Plan | None, str], after: Plan, output: Format) -> int:
    """0 when `after` places the same replicas as the previous plan, 2 when any assignment
    moved, appeared, disappeared or changed replicas (timing and solver fields never count);
    in table output, the changes follow the plan."""
    from fleetyard.services.plan_history import diff_plans

    d = diff_plans(before[0], after, before[1], "this plan")
    if not structured(output):
        console.print(plan_diff_view(d))
    return EXIT_CHANGES if d.changes else EXIT_OK
