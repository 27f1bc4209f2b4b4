"""`fleetyard flags eval FLAG PATH... --site SITE [--key K] [--context k=v]`: a flag's answer on files.

The same evaluation the site's OFREP listener does (`rollout.flags.evaluate`), from a fleet
folder, so a rule can be checked before it is applied:

    $ fleetyard flags eval new-tokenizer examples/fleet --site fra-1 --key user-12
    new-tokenizer at fra-1 (DE, region eu-central) for user-12: true (variant true, SPLIT: rule 0, bucket 861 < 2000)

An unknown flag or site, or a context that is not k=v, is one line and exit 2; an
evaluation error (e.g. TARGETING_KEY_MISSING) is printed as OFREP gives it, exit 3.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from fleetyard.cli.common import EXIT_RESULT, Format, console, did_you_mean, fail, load_or_exit
from fleetyard.cli.output import structured
from fleetyard.rollout.flags import BUCKETS, bucket, evaluate, resolve, site_facts

__all__ = ["register"]

flags_app = typer.Typer(help="Feature flags (docs/flags.md).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(flags_app, name="flags")


def _context(pairs: list[str], key: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            fail(f"--context {pair!r}: expected NAME=VALUE, e.g. plan=pro")
        out[name] = value
    if key is not None:
        out["targetingKey"] = key
    return out


@flags_app.command("eval")
def eval_flag(
    flag: Annotated[str, typer.Argument(help="The flag's name.", show_default=False)],
    paths: Annotated[list[Path], typer.Argument(help="Fleet spec files or folders.", show_default=False)],
    site: Annotated[str, typer.Option("--site", help="The site that answers.", show_default=False)],
    key: Annotated[str | None, typer.Option("--key", help="The caller's targetingKey.")] = None,
    context: Annotated[list[str] | None, typer.Option("--context", help="NAME=VALUE of the evaluation "
                                                      "context; repeatable.")] = None,
    output: Annotated[Format, typer.Option("--format", "-o", help="Output: table, wide, json or yaml.")] = Format.table,
) -> None:
    """Evaluate a flag at a site for a caller, on files alone."""
    ctx = _context(context or [], key)
    fleet = load_or_exit(paths)
    if flag not in fleet.flags:
        fail(f"unknown flag '{flag}'{did_you_mean(flag, list(fleet.flags))}"
             + (f"; flags: {', '.join(fleet.flags)}" if fleet.flags else "; the fleet has no Flag resources"))
    if site not in fleet.sites:
        fail(f"unknown site '{site}'{did_you_mean(site, list(fleet.sites))}")
    facts = site_facts(fleet, site)
    f = fleet.flags[flag]
    e = evaluate(f, facts, ctx)
    why = ""
    if e.reason in ("SPLIT", "TARGETING_MATCH"):
        resolved = resolve(f, facts)
        rule = next(r for r in resolved.rules if r.variant == e.variant)
        why = f": rule {rule.index}"
        raw = ctx.get(resolved.bucket_by)
        if e.reason == "SPLIT" and raw is not None:
            b = bucket(flag, str(raw))
            why += f", bucket {b} < {round((rule.percent or 0) * BUCKETS / 100)}"
    if structured(output):
        console.print_json(json.dumps({
            "key": flag, "site": site, "country": facts.country, "region": facts.region, "value": e.value,
            "variant": e.variant, "reason": e.reason, "errorCode": e.error.code if e.error else None,
            "errorDetails": e.error.detail if e.error else None}))
    else:
        who = f" for {key}" if key is not None else ""
        where = f"{site} ({facts.country}, region {facts.region or 'none'})"
        if e.error is not None:
            console.print(f"{flag} at {where}{who}: ERROR {e.error.code}: {e.error.detail}", highlight=False,
                          soft_wrap=True)
        else:
            console.print(f"{flag} at {where}{who}: {json.dumps(e.value)} (variant {e.variant}, {e.reason}{why})",
                          highlight=False, soft_wrap=True)
    if e.error is not None:
        raise typer.Exit(EXIT_RESULT)
