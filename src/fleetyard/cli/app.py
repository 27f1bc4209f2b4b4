"""The root `fleetyard` Typer application; each command group lives in its own module.

Exit codes (scripts may rely on them):

* 0 - success
* 1 - an unexpected error (a bug, or an I/O failure outside the user's input)
* 2 - invalid input: a spec, a reference or an argument is wrong; nothing was changed
* 3 - the command worked but its result is a failure the caller asked to hear about
      (e.g. `plan --fail-on-unplaced` when some work could not be placed)
"""

from __future__ import annotations

import typer

from fleetyard.cli import (
    agent_cmd,
    backup_cmd,
    cost_cmd,
    demo_cmd,
    describe_cmd,
    events_cmd,
    export_cmd,
    flags_cmd,
    plan_cmd,
    rollout_cmd,
    schedule_cmd,
    server_cmd,
    tco_cmd,
)
from fleetyard.cli.registry_cmd import registry_app

app = typer.Typer(
    name="fleetyard",
    help="Control plane for running AI on a fleet of small data centers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


plan_cmd.register(app)
server_cmd.register(app)
agent_cmd.register(app)
demo_cmd.register(app)
backup_cmd.register(app)
rollout_cmd.register(app)
flags_cmd.register(app)
events_cmd.register(app)
export_cmd.register(app)
cost_cmd.register(app)
schedule_cmd.register(app)
tco_cmd.register(app)
describe_cmd.register(app)
app.add_typer(registry_app, name="registry")


def main() -> None:
    """Entry point of the `fleetyard` console script."""
    app()
