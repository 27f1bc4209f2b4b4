"""Tables of the placement benchmark (see placement_bench.py): one function, `report`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def fmt(v: float | None, digits: int = 2) -> str:
    if v is None:
        return "-"
    return f"{v:,.{digits}f}"


def pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = [
        "| "
        + " | ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        + " |"
        for r in rows
    ]
    return "\n".join([line, sep, *body])


def verdict(opt: dict[str, Any], gr: dict[str, Any]) -> str:
    """Compare service first (priority-weighted unplaced GPUs, unserved rps), then cost."""
    if opt["replicas_placed"] == 0 and gr["replicas_placed"] > 0:
        return f"optimizer found NO plan ({opt['status']})"
    more = opt["unplaced_priority_gpus"] < gr["unplaced_priority_gpus"] - 1e-9
    less = opt["unplaced_priority_gpus"] > gr["unplaced_priority_gpus"] + 1e-9
    cheaper = (gr["cost"] - opt["cost"]) / gr["cost"] if gr["cost"] else 0.0
    if less:
        return "optimizer serves LESS (priority-weighted)"
    if more:
        if cheaper < 0:
            return f"optimizer serves more, costs {-cheaper:.1%} more"
        return f"optimizer serves more and is {cheaper:.1%} cheaper"
    if abs(cheaper) < 1e-6:
        return "equal service and cost (no better than greedy)"
    if cheaper > 0:
        return f"equal service, optimizer {cheaper:.1%} cheaper"
    return f"equal service, optimizer {-cheaper:.1%} MORE EXPENSIVE"


def label(r: dict[str, Any]) -> str:
    return f"{r['sites']} x {r['workloads']:,}" + (" tight" if r["tightness"] > 1.0 else "")


def report(results: list[dict[str, Any]], info: dict[str, Any]) -> str:
    out = [
        f"machine: {info['cpu']}, {info['cores']} cores, {info.get('memory_gb', info.get('ram_gib'))} GiB RAM; "
        f"Python {info['python']}, highspy {info['highspy']}, ortools {info['ortools']}, "
        f"numpy {info['numpy']}; {info['platform']}",
        "",
    ]
    ok = [r for r in results if "optimizer" in r]

    out.append(
        "Instances (fleetgen; GPUs needed = replicas.min of jobs + replicas that all inference demand needs;"
        " load avg = 1-minute load of the machine when the size started / ended)"
    )
    out.append(
        table(
            [
                "size",
                "regions",
                "sites (dc/colo/edge/cloud)",
                "pools",
                "mix (inf/ft/train/batch)",
                "GPUs",
                "needed",
                "ratio",
                "load avg",
            ],
            [
                [
                    label(r),
                    str(r["instance"]["regions"]),
                    "/".join(
                        str(r["instance"]["site_types"].get(k, 0)) for k in ("small-dc", "colo", "edge", "hyperscaler")
                    ),
                    str(r["instance"]["pools"]),
                    "/".join(
                        str(r["instance"]["mix"].get(k, 0)) for k in ("inference", "fine-tune", "training", "batch")
                    ),
                    f"{r['instance']['gpus']:,}",
                    f"{r['instance']['gpus_needed']:,}",
                    f"{r['instance']['demand_ratio']:.2f}",
                    f"{r.get('loadavg_start', '-')} / {r.get('loadavg_end', '-')}",
                ]
                for r in ok
            ],
        )
    )
    out.append("")
    out.append(
        "Optimizer (HiGHS): Planner(fleet).plan(PlanOptions(resilience=False)). gap = proven gap on cost alone "
        "(its bound is the objective bound minus the plan's shortfall penalty, 0 when the fleet is short); "
        "objective gap = the gap the solver proves on its objective, cost + shortfall penalty (M x (1 + "
        "priority) x GPUs per replica short, docs/planning.md); stage gaps = the staged objective's "
        "(service: priority-weighted GPU demand served; cost: with that service held)"
    )
    out.append(
        table(
            [
                "size",
                "vars",
                "rows",
                "plan s",
                "status",
                "peak RSS MB",
                "cost $/h",
                "bound $/h",
                "gap",
                "objective gap",
                "service stage gap",
                "cost stage gap",
                "unplaced repl.",
                "unplaced GPUs",
                "unserved rps",
            ],
            [
                [
                    label(r),
                    f"{r['optimizer']['variables']:,}",
                    f"{r['optimizer']['constraints']:,}",
                    fmt(r["optimizer"]["total_s"]),
                    r["optimizer"]["status"],
                    fmt(r["rss_peak_mb"], 0),
                    fmt(r["optimizer"]["cost"]),
                    fmt(r["optimizer"]["bound"]),
                    pct(r["optimizer"]["gap"]),
                    pct(r["optimizer"].get("objective_gap")),
                    pct(r["optimizer"].get("service_gap")),
                    pct(r["optimizer"].get("cost_stage_gap")),
                    str(r["optimizer"]["replicas_unplaced"]),
                    str(r["optimizer"]["unplaced_gpus"]),
                    fmt(r["optimizer"]["unserved_rps"], 1),
                ]
                for r in ok
            ],
        )
    )
    out.append("")
    out.append(
        "Greedy baseline on the same instance (plan s excludes the shared Planner construction; cost + penalty "
        "= both plans scored by placement/objective.py, whole replicas short, the scale the optimizer minimizes)"
    )
    rows = []
    for r in ok:
        o, g = r["optimizer"], r["greedy"]
        rows.append(
            [
                label(r),
                fmt(g["plan_s"]),
                fmt(g["cost"]),
                fmt(o.get("objective"), 0),
                fmt(g.get("objective"), 0),
                str(g["replicas_unplaced"]),
                str(g["unplaced_gpus"]),
                fmt(g["unserved_rps"], 1),
                fmt(o["cost"] - g["cost"]),
                verdict(o, g),
            ]
        )
    out.append(
        table(
            [
                "size",
                "greedy s",
                "greedy $/h",
                "opt cost + penalty",
                "greedy cost + penalty",
                "unplaced repl.",
                "unplaced GPUs",
                "unserved rps",
                "opt - greedy $/h",
                "verdict",
            ],
            rows,
        )
    )
    out.append("")
    out.append(
        "Where the optimizer's time goes (s): compile + candidates = Planner(fleet); "
        "greedy start = "
        "the greedy plan used as first incumbent; lagrange and repair = the big-fleet path (capacity prices "
        "by subgradient, priced greedy repair), '-' when the full MIP is solved; build = MILP columns and rows; "
        "encode = start as "
        "solver hint; csc = triplets to CSC; HiGHS = each solver call (incl. passing the model); "
        "extract; assemble = Plan with explanations"
    )
    rows = []
    for r in ok:
        st = r["optimizer"]["stages"]["seconds"]
        highs = ", ".join(f"{s:.2f} ({status})" for s, status in r["optimizer"]["stages"]["highs"])
        rows.append(
            [
                label(r),
                fmt(st.get("compile", 0.0)),
                fmt(st.get("candidates", 0.0)),
                fmt(st.get("greedy", 0.0)),
                fmt(st.get("lagrange")),
                fmt(st.get("repair")),
                fmt(st.get("build", 0.0)),
                fmt(st.get("encode", 0.0)),
                fmt(st.get("csc", 0.0)),
                highs or "-",
                fmt(st.get("extract", 0.0)),
                fmt(st.get("assemble", 0.0)),
                fmt(r["optimizer"]["total_s"]),
            ]
        )
    out.append(
        table(
            [
                "size",
                "compile",
                "candidates",
                "greedy start",
                "lagrange",
                "repair",
                "build",
                "encode",
                "csc",
                "HiGHS runs (s, status)",
                "extract",
                "assemble",
                "total",
            ],
            rows,
        )
    )
    out.append("")
    notes = [r for r in ok if r["optimizer"].get("notes")]
    if notes:
        out.append(
            "Optimizer notes: " + "; ".join(f"{label(r)}: " + " / ".join(r["optimizer"]["notes"]) for r in notes)
        )
        out.append("")
    prio = [r for r in ok if "unplaced_gpus_by_priority" in r["optimizer"]]
    if prio:
        out.append("Unplaced GPUs by workload priority, optimizer / greedy (what 'serves more' means)")
        levels = ("1000", "500", "100", "10")
        out.append(
            table(
                ["size", *(f"priority {p}" for p in levels)],
                [
                    [label(r)]
                    + [
                        f"{r['optimizer']['unplaced_gpus_by_priority'].get(p, 0)} / "
                        f"{r['greedy']['unplaced_gpus_by_priority'].get(p, 0)}"
                        for p in levels
                    ]
                    for r in prio
                ],
            )
        )
        out.append("")
    res = [r for r in results if "resilience" in r]
    if res:
        out.append(
            "Resilience report (resilience_report on the optimizer's placement; "
            "greedy failover per "
            "hosting site, exact MILP failover where greedy cannot absorb)"
        )
        rows = []
        for r in res:
            x = r["resilience"]
            if "seconds" in x:
                st = x["stages"]["seconds"]
                rows.append(
                    [
                        label(r),
                        fmt(x["seconds"]),
                        f"{x['hosting']}/{x['sites']}",
                        str(x["greedy_failovers"]),
                        str(x["exact_failovers"]),
                        fmt(st.get("highs", 0.0)),
                        str(x["not_absorbable"]),
                        fmt(x["rss_peak_mb"], 0),
                    ]
                )
            else:
                rows.append(
                    [
                        label(r),
                        x.get("error", "?"),
                        "-",
                        str(x.get("greedy", "-")),
                        str(x.get("exact", "-")),
                        "-",
                        "-",
                        "-",
                    ]
                )
        out.append(
            table(
                [
                    "size",
                    "seconds",
                    "hosting/sites",
                    "greedy failovers",
                    "exact failovers",
                    "HiGHS s",
                    "not absorbable",
                    "peak RSS MB",
                ],
                rows,
            )
        )
        out.append("")
    det = [r for r in ok if "deterministic" in r]
    if det:
        out.append(
            "Determinism (fleet regenerated from the seed, planned again by a fresh Planner): "
            + "; ".join(
                f"{label(r)}: fleet "
                f"{'identical' if r['deterministic']['fleet_equal'] else 'DIFFERS'}"
                f", plan {'identical' if r['deterministic']['plan_equal'] else 'DIFFERS'}"
                + (" (both empty: no solution)" if r["optimizer"]["replicas_placed"] == 0 else "")
                for r in det
            )
        )
    cps = [r for r in ok if "cpsat" in r]
    if cps:
        out.append("")
        out.append(
            "CP-SAT: "
            + "; ".join(
                f"{label(r)}: {r['cpsat']['message']}"
                + (
                    f", {fmt(r['cpsat']['plan_s'])} s, ${fmt(r['cpsat']['cost'])}/h, "
                    f"gap {pct(r['cpsat']['gap'])}, "
                    f"unplaced {r['cpsat']['replicas_unplaced']}"
                    if "cost" in r["cpsat"]
                    else ""
                )
                for r in cps
            )
        )
    failed = [r for r in results if "error" in r]
    for r in failed:
        seen = f"; highest RSS seen {r['rss_seen_mb'] / 1024:.1f} GB" if r.get("rss_seen_mb") else ""
        out.append(f"{label(r)}: planning FAILED: {r['error']}{seen}")
    return "\n".join(out)
