"""`fleetyard events`: what the control plane did and why.

    fleetyard events [--kind site.down|rollout.] [--subject par-1] [--after ID] [--limit N]
                     [--watch] [--format table|json]

`--watch` prints new events as they happen (it polls with `after`, a bounded pause
between polls) until Ctrl-C; with `--format json` each event is one JSON line.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer

from fleetyard.cli.common import Format, console
from fleetyard.cli.output import structured
from fleetyard.cli.server_cmd import DEFAULT_SERVER, FormatOpt, ServerOpt, TokenOpt, _api, _json
from fleetyard.cli.server_render import events_table
from fleetyard.services.client import ApiError, Client
from fleetyard.services.wire import EventOut

__all__ = ["register"]

POLL_S = 1.0
POLL_MAX_S = 30.0


def register(app: typer.Typer) -> None:
    app.command("events")(events)


def _show(rows: list[EventOut], output: Format, *, lines: bool) -> None:
    if structured(output):
        if lines:
            for e in rows:
                console.print(e.model_dump_json(), highlight=False, soft_wrap=True)
        else:
            _json(rows, output)
    elif rows:
        console.print(events_table(rows))


def _watch(api: Client, after: int | None, kind: str | None, subject: str | None, output: Format,
           poll: float) -> None:
    """Print what comes after `after` until interrupted; an unreachable server is retried, slower each time."""
    pause = poll
    while True:
        try:
            rows = api.events(after=after, limit=1000, kind=kind, subject=subject)
            pause = poll
        except ApiError as exc:
            if exc.status != 0:
                raise
            pause = min(POLL_MAX_S, pause * 2)
            rows = []
        _show(rows, output, lines=True)
        if rows:
            after = rows[-1].id
        time.sleep(pause)


def events(
    server: ServerOpt = DEFAULT_SERVER,
    token: TokenOpt = None,
    kind: Annotated[str | None, typer.Option("--kind", help="A kind (site.down) or a prefix ending in '.' "
                                             "(rollout.).")] = None,
    subject: Annotated[str | None, typer.Option("--subject", help="Only events about this site or workload.")] = None,
    after: Annotated[int | None, typer.Option("--after", min=0, max=2**31 - 1,
                                              help="Only events after this id.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="How many to list.")] = 50,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Keep printing new events until Ctrl-C.")] = False,
    poll: Annotated[float, typer.Option("--poll", min=0.1, max=POLL_MAX_S, help="Seconds between polls "
                                        "with --watch.")] = POLL_S,
    output: FormatOpt = Format.table,
) -> None:
    """Site down/up, re-plans, rollout waves, rollbacks, flag changes: oldest first."""
    with _api(server, token) as api:
        rows = api.events(after=after, limit=limit, kind=kind, subject=subject)
        _show(rows, output, lines=watch)
        if not watch:
            if not rows and output is Format.table:
                console.print("No events.", style="dim")
            return
        try:
            _watch(api, rows[-1].id if rows else (after or 0), kind, subject, output, poll)
        except KeyboardInterrupt:
            return
