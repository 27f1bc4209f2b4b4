"""`fleetyard validate | plan | explain | whatif | catalog`: the planner on files alone."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from fleetyard.cli.common import (
    EXIT_RESULT,
    Format,
    console,
    did_you_mean,
    fail,
    load_or_exit,
)
from fleetyard.cli.output import emit, structured, table, working
from fleetyard.cli.plan_history_cmd import detailed_code, invalid_exits, plan_diff_command, previous_plan
from fleetyard.cli.plan_time import AtOpt, DayOpt, ExtendChoice, ExtendOpt, at_fleet, over_day_text, with_over_day
from fleetyard.cli.render import explanation_table, money, render_plan, unplaced_table
from fleetyard.placement import STRATEGIES, OptimizerOptions, Planner, PlanOptions, failover
from fleetyard.placement.milp import WorkLimits
from fleetyard.placement.planner import explain_workload
from fleetyard.placement.resilience import moves
from fleetyard.spec import CATALOG, SERVER_POWER_FACTOR, Fleet
from fleetyard.spec.plan import Plan

Paths = Annotated[list[Path], typer.Argument(help="Fleet spec files or folders (every *.yaml/*.yml).",
                                             show_default=False)]
StrategyOpt = Annotated[str, typer.Option("--strategy", "-s", help=f"One of: {', '.join(STRATEGIES)}.")]
FormatOpt = Annotated[Format, typer.Option("--format", "-o", help="Output: table, wide, json or yaml.")]
TimeLimitOpt = Annotated[float, typer.Option("--time-limit", min=1.0, help=(
    "Safety net on the clock, seconds: a plan cut by it says so (the stop rules count work)."))]
GapOpt = Annotated[float, typer.Option("--mip-gap", min=0.0, max=1.0, help="Stop when proven within this gap.")]
StallOpt = Annotated[int, typer.Option("--max-nodes", min=0, help=(
    "Stop each solver stage after this many branch-and-bound nodes (0: no node limit). "
    "Counted in work, not seconds, so a busy machine gives the same plan."))]


def options(strategy: str, time_limit: float, mip_gap: float, stall: int,
             resilience: bool = True) -> PlanOptions:
    if strategy not in STRATEGIES:
        hint = did_you_mean(strategy, STRATEGIES)
        fail(f"--strategy: expected one of {', '.join(STRATEGIES)}, got '{strategy}'{hint}")
    return PlanOptions(strategy=strategy,
                       optimizer=OptimizerOptions(time_limit=time_limit, mip_gap=mip_gap,
                                                          limits=WorkLimits(max_nodes=stall or None)),
                       resilience=resilience)


def planned(fleet: Fleet, opts: PlanOptions, at: str | None = None, day: str | None = None,
            extend: ExtendChoice = ExtendChoice.none) -> Plan:
    """The plan `fleetyard plan` prints: the planner at `at`, with the day's view when asked."""
    return with_over_day(fleet, Planner(at_fleet(fleet, at, extend)).plan(opts), at, day, extend)


def _source(paths: list[Path]) -> str:
    return ", ".join(str(p) for p in paths)


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
    app.command("plan")(plan)
    app.command("explain")(explain)
    app.command("whatif")(whatif)
    app.command("catalog")(catalog)


def validate(paths: Paths) -> None:
    """Check fleet specs: every problem of every file, with file, line and field."""
    fleet = load_or_exit(paths)
    console.print(
        f"[green]ok[/]: {len(fleet.regions)} regions, {len(fleet.sites)} sites, {len(fleet.workloads)} workloads, "
        f"{len(fleet.policies)} policies" + (f", {len(fleet.flags)} flags" if fleet.flags else ""), highlight=False)


def plan(
    paths: Paths,
    strategy: StrategyOpt = "optimizer",
    output: FormatOpt = Format.table,
    time_limit: TimeLimitOpt = 60.0,
    mip_gap: GapOpt = 0.002,
    stall: StallOpt = WorkLimits.max_nodes or 0,
    resilience: Annotated[bool, typer.Option(help="Check, per site, whether its loss is absorbable.")] = True,
    fail_on_unplaced: Annotated[bool, typer.Option(help="Exit 3 if any work is unplaced or unserved.")] = False,
    at: AtOpt = None,
    day: DayOpt = None,
    extend: ExtendOpt = ExtendChoice.none,
    detailed_exitcode: Annotated[bool, typer.Option("--detailed-exitcode", help=(
        "Exit 0 if the plan places the same replicas as the server's current plan (or --against), "
        "2 if anything changes, 1 on any error, invalid input included (as terraform)."))] = False,
    against: Annotated[Path | None, typer.Option("--against", show_default=False, help=(
        "With --detailed-exitcode: compare with this plan JSON (plan -o json) instead of the server's."))] = None,
    server: Annotated[str | None, typer.Option("--server", envvar="FLEETYARD_SERVER", show_default=False,
                                               help="Control plane URL: --detailed-exitcode, plan diff.")] = None,
    token: Annotated[str | None, typer.Option("--token", envvar="FLEETYARD_TOKEN", show_default=False,
                                              help="Bearer token (or FLEETYARD_TOKEN).")] = None,
) -> None:
    """Plan where every workload runs, for all workloads at once, and explain it.
    `fleetyard plan diff A B` compares two plans (revision numbers or plan JSON files)."""
    if paths and paths[0] == Path("diff"):
        plan_diff_command(paths[1:], server, token, output)
        return
    with invalid_exits(detailed_exitcode):
        opts = options(strategy, time_limit, mip_gap, stall, resilience)
        fleet = load_or_exit(paths)
        before = previous_plan(server, token, against) if detailed_exitcode else None
        if before is not None and before[0] is not None:
            # As the control plane re-plans: from what runs now, moving work only where a move
            # pays for itself (placement/movecost.py), so unchanged specs give an unchanged plan.
            from dataclasses import replace

            from fleetyard.placement.movecost import running_from_assignments

            opts = replace(opts, current=running_from_assignments(before[0].assignments), replan="full")
        with working(f"planning {len(fleet.workloads)} workloads on {len(fleet.sites)} sites"):
            result = planned(fleet, opts, at, day, extend)
    if structured(output):
        emit(result.model_dump_json(), output)
    else:
        render_plan(console, result, fleet, _source(paths), wide=output is Format.wide)
        if result.over_day is not None:
            console.print(over_day_text(result))
    if fail_on_unplaced and result.unplaced:
        raise typer.Exit(EXIT_RESULT)
    if before is not None:
        raise typer.Exit(detailed_code(before, result, output))


def explain(
    paths: Paths,
    workload: Annotated[str, typer.Argument(help="The workload to explain.", show_default=False)],
    strategy: StrategyOpt = "optimizer",
    output: FormatOpt = Format.table,
    time_limit: TimeLimitOpt = 60.0,
    mip_gap: GapOpt = 0.002,
    stall: StallOpt = WorkLimits.max_nodes or 0,
) -> None:
    """Show every site's verdict for one workload: rejected (all reasons), chosen, or not chosen."""
    opts = options(strategy, time_limit, mip_gap, stall, resilience=False)
    paths_ = paths
    fleet = load_or_exit(paths_)
    if workload not in fleet.workloads:
        fail(f"unknown workload '{workload}'{did_you_mean(workload, list(fleet.workloads))}")
    planner = Planner(fleet)
    placement = planner.place(opts)
    ex = explain_workload(planner, placement, workload)
    if structured(output):
        emit(json.dumps(dataclasses.asdict(ex)), output)
        return
    console.print(Text.assemble((f"{ex.workload}", "bold cyan"), f"  {ex.type}, priority {ex.priority}"))
    console.print(f"needs: {ex.needs}", highlight=False)
    if ex.policies:
        console.print(f"policies: {', '.join(ex.policies)}", highlight=False)
    console.print(ex.summary, highlight=False)
    if ex.routes:
        t = table(title="Routes")
        for col in ("Region", "Site", "rps", "RTT ms"):
            t.add_column(col)
        for region, site, rps, ms in ex.routes:
            t.add_row(region, site, f"{rps:g}", f"{ms:.1f}")
        console.print(t)
    console.print(explanation_table(ex.sites, wide=output is Format.wide))
    if ex.unplaced_reasons:
        console.print(Text("Not placed or not served:", style="bold red"))
        for r in ex.unplaced_reasons:
            console.print(f"- {r}", highlight=False)


def whatif(
    paths: Paths,
    fail_sites: Annotated[list[str], typer.Option("--fail", help="A site that goes dark (repeatable).",
                                                  show_default=False)],
    strategy: StrategyOpt = "optimizer",
    output: FormatOpt = Format.table,
    replan: Annotated[bool, typer.Option(help="Re-plan everything instead of failing over only what moved.")] = False,
    time_limit: TimeLimitOpt = 60.0,
    mip_gap: GapOpt = 0.002,
    stall: StallOpt = WorkLimits.max_nodes or 0,
    fail_on_unserved: Annotated[bool, typer.Option(help="Exit 3 if the loss is not absorbable.")] = False,
) -> None:
    """Fail sites and show what moves, what it costs, and what can no longer be served."""
    opts = options(strategy, time_limit, mip_gap, stall, resilience=False)
    fleet = load_or_exit(paths)
    for site in fail_sites:
        if site not in fleet.sites:
            fail(f"--fail: unknown site '{site}'{did_you_mean(site, list(fleet.sites))}")
    with working(f"planning with and without {', '.join(fail_sites)}"):
        planner = Planner(fleet)
        before = planner.place(opts)
        before_plan = planner.to_plan(before, dataclasses.replace(opts, resilience=False))
        no_resilience = dataclasses.replace(opts, resilience=False)
        if replan:
            after_planner = Planner(fleet.without_sites(fail_sites))
            after = after_planner.place(opts)
            changed = list(fleet.workloads)
            after_plan = after_planner.to_plan(after, no_resilience)
        else:
            result = failover(planner, before, fail_sites, exact=strategy == "optimizer", options=opts.optimizer)
            after_planner, after, changed = planner, result.after, result.affected
            after_plan = planner.to_plan(after, no_resilience, down=fail_sites)
        diff = moves(planner, before, after_planner, after, changed)
    if replan:
        before_short = {u.workload: u for u in before_plan.unplaced}
        worse = [u for u in after_plan.unplaced
                 if u.workload not in before_short or u.replicas > before_short[u.workload].replicas
                 or sum(u.unserved.values()) > sum(before_short[u.workload].unserved.values()) + 1e-6]
    else:
        worse = result.unplaced
    absorbable = not worse
    delta = after_plan.totals.cost_per_hour - before_plan.totals.cost_per_hour
    if structured(output):
        console.print_json(json.dumps({
            "failed_sites": fail_sites, "mode": "replan" if replan else "failover", "absorbable": absorbable,
            "moves": [dataclasses.asdict(m) for m in diff],
            "cost_per_hour_before": before_plan.totals.cost_per_hour,
            "cost_per_hour_after": after_plan.totals.cost_per_hour,
            "cost_delta_per_hour": round(delta, 4),
            "unplaced": [u.model_dump() for u in worse],
            "plan": after_plan.model_dump(),
        }))
    else:
        mode = ("full re-plan without them" if replan else
                "failover: displaced work re-placed; other work moves, or stops for higher priorities, "
                "only to make room")
        console.print(Text.assemble(("What if ", "bold"), (", ".join(fail_sites), "bold red"),
                                    f" fails - {mode}"))
        t = table(title="What moves")
        for col in ("Workload", "Site", "SKU", "Before", "After"):
            t.add_column(col)
        for m in diff:
            style = "red" if m.after < m.before else "green"
            t.add_row(m.workload, m.site, m.gpu_sku, str(m.before), Text(str(m.after), style=style))
        console.print(t if diff else Text("Nothing moves.", style="green"))
        console.print(f"cost: {money(before_plan.totals.cost_per_hour)}/h -> "
                      f"{money(after_plan.totals.cost_per_hour)}/h ({'+' if delta >= 0 else '-'}{money(abs(delta))}/h)",
                      highlight=False)
        if worse:
            console.print(unplaced_table(worse, "No longer placed or served"))
        else:
            console.print(Text("Absorbable: everything served before is still served.", style="bold green"))
    if fail_on_unserved and not absorbable:
        raise typer.Exit(EXIT_RESULT)


def catalog(output: FormatOpt = Format.table) -> None:
    """The built-in GPU catalog (memory, board power, default replica power, link inside a server)."""
    if structured(output):
        emit([{"sku": m.sku, "vendor": m.vendor, "memoryGB": m.memory_gb, "tdpW": m.tdp_w,
               "replicaKWPerGPU": round(m.tdp_w * SERVER_POWER_FACTOR / 1000, 4),
               "link": m.interconnect.describe(), "gpusPerServer": m.gpus_per_server} for m in CATALOG.values()],
             output)
        return
    t = table(title="GPU catalog")
    for col in ("SKU", "Vendor", "Memory GB", "TDP W", "Replica kW per GPU", "Link in server", "GPUs per server"):
        t.add_column(col)
    for m in CATALOG.values():
        t.add_row(m.sku, m.vendor, f"{m.memory_gb:g}", f"{m.tdp_w:g}", f"{m.tdp_w * SERVER_POWER_FACTOR / 1000:.2f}",
                  m.interconnect.describe(), str(m.gpus_per_server))
    console.print(t)
    console.print(f"Replica power, unless a workload sets replica.power_kw: GPUs x TDP x {SERVER_POWER_FACTOR} "
                  "(server overhead: an 8-GPU H100 server draws ~10.2 kW).", highlight=False)
