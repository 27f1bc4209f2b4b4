"""`fleetyard rollout`: watch and steer the rollouts of new versions, like Argo Rollouts.

    fleetyard rollout status [WORKLOAD] [--watch] [--format table|json]
    fleetyard rollout pause|resume|promote|abort WORKLOAD
    fleetyard rollout undo WORKLOAD [--to REF]

Exit codes: 0 ok; 2 bad input, no such workload or rollout, or an action the rollout's
state does not allow (e.g. promote a rollout that succeeded); 3 `status --watch` saw the
rollout end rolled back or aborted; 1 anything unexpected (server unreachable, ...).
"""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table

from fleetyard.cli.common import EXIT_ERROR, EXIT_INVALID, EXIT_RESULT, Format, console, fail
from fleetyard.cli.contexts import connection_or_exit
from fleetyard.cli.output import structured
from fleetyard.cli.rollout_render import rollout_view, rollouts_table
from fleetyard.cli.server_cmd import DEFAULT_SERVER, FormatOpt, ServerOpt, TokenOpt, _json
from fleetyard.services.client import ApiError, Client, InvalidServerUrl, TLSError
from fleetyard.services.wire import RolloutOut

__all__ = ["register", "rollout_app"]

rollout_app = typer.Typer(help="Watch and steer rollouts: status, pause, resume, promote, abort, undo.",
                          no_args_is_help=True)
TERMINAL = ("succeeded", "rolled_back", "aborted")
WorkloadArg = Annotated[str, typer.Argument(metavar="WORKLOAD", help="The workload.", show_default=False)]


def register(app: typer.Typer) -> None:
    app.add_typer(rollout_app, name="rollout")


def _fail(exc: ApiError) -> None:
    invalid = isinstance(exc, InvalidServerUrl | TLSError) or exc.status in (401, 403, 404, 409, 413, 422)
    fail(exc.message, EXIT_INVALID if invalid else EXIT_ERROR)


def _fetch(api: Client, workload: str | None) -> list[RolloutOut]:
    return [api.rollout(workload)] if workload else api.rollouts()


def _render(rows: list[RolloutOut], workload: str | None) -> Group | Table:
    return rollout_view(rows[0]) if workload else rollouts_table(rows)


@rollout_app.command("status")
def status(
    workload: Annotated[str | None, typer.Argument(metavar="[WORKLOAD]", help="One workload (default: all).")] = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Refresh until every rollout shown has ended.")] = False,
    interval: Annotated[float, typer.Option(min=0.2, max=3600, help="Seconds between refreshes (--watch).")] = 2.0,
    server: ServerOpt = DEFAULT_SERVER,
    token: TokenOpt = None,
    output: FormatOpt = Format.table,
) -> None:
    """The latest rollout of WORKLOAD (its waves), or of every workload."""
    try:
        with _client(server, token) as api:
            rows = _fetch(api, workload)
            if watch:
                rows = _watch(api, workload, rows, interval, output)
    except ApiError as exc:
        _fail(exc)
        return
    if not watch:
        _json(rows[0] if workload else rows, output) if structured(output) else console.print(_render(rows, workload))
    if watch and any(r.state in ("rolled_back", "aborted") for r in rows):
        raise typer.Exit(EXIT_RESULT)


def _watch(api: Client, workload: str | None, rows: list[RolloutOut], interval: float,
           output: Format) -> list[RolloutOut]:
    if structured(output):  # one JSON document per change, then the last one
        last = ""
        while True:
            doc = (rows[0] if workload else rows)
            text = doc.model_dump_json() if isinstance(doc, RolloutOut) else str([r.model_dump_json() for r in doc])
            if text != last:
                _json(doc, output)
                last = text
            if all(r.state in TERMINAL for r in rows):
                return rows
            time.sleep(interval)
            rows = _fetch(api, workload)
    with Live(_render(rows, workload), console=console, auto_refresh=False) as live:
        while not all(r.state in TERMINAL for r in rows):
            time.sleep(interval)
            rows = _fetch(api, workload)
            live.update(_render(rows, workload), refresh=True)
    return rows


def _client(server: str, token: str | None) -> Client:
    conn = connection_or_exit(server, token)  # flags, environment, the context (cli/contexts.py)
    return Client(conn.server, conn.token, tls=conn.tls)


def _act(action: str, workload: str, server: str, token: str | None, output: Format, to: str | None = None) -> None:
    try:
        with _client(server, token) as api:
            r = api.rollout_action(workload, action, to=to)
    except ApiError as exc:
        _fail(exc)
        return
    if structured(output):
        _json(r, output)
    else:
        console.print(rollout_view(r))


@rollout_app.command("pause")
def pause(workload: WorkloadArg, server: ServerOpt = DEFAULT_SERVER, token: TokenOpt = None,
          output: FormatOpt = Format.table) -> None:
    """Freeze wave progress (the gates are still judged: a failure still rolls back)."""
    _act("pause", workload, server, token, output)


@rollout_app.command("resume")
def resume(workload: WorkloadArg, server: ServerOpt = DEFAULT_SERVER, token: TokenOpt = None,
           output: FormatOpt = Format.table) -> None:
    """Continue a paused rollout (a wave halted by a failed gate is tried again)."""
    _act("resume", workload, server, token, output)


@rollout_app.command("promote")
def promote(workload: WorkloadArg, server: ServerOpt = DEFAULT_SERVER, token: TokenOpt = None,
            output: FormatOpt = Format.table) -> None:
    """Skip the remaining bakes and gates: every site gets the new version now."""
    _act("promote", workload, server, token, output)


@rollout_app.command("abort")
def abort(workload: WorkloadArg, server: ServerOpt = DEFAULT_SERVER, token: TokenOpt = None,
          output: FormatOpt = Format.table) -> None:
    """Halt the rollout and return every switched site to the previous version."""
    _act("abort", workload, server, token, output)


@rollout_app.command("undo")
def undo(
    workload: WorkloadArg,
    to: Annotated[str | None, typer.Option("--to", metavar="REF", help="Pin this version (name:version or "
                                           "name@alias) instead of the previous one.")] = None,
    server: ServerOpt = DEFAULT_SERVER,
    token: TokenOpt = None,
    output: FormatOpt = Format.table,
) -> None:
    """Pin the previous (or the given) version fleet-wide, as its own rollout (audited).

    The pin holds until the workload's spec asks for another version."""
    _act("undo", workload, server, token, output, to)
