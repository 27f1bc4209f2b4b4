"""The root `fleetyard` Typer application; each command group lives in its own module.

Exit codes (scripts may rely on them):

* 0 - success
* 1 - an unexpected error (a bug, or an I/O failure outside the user's input)
* 2 - invalid input: a spec, a reference or an argument is wrong; nothing was changed
* 3 - the command worked but its result is a failure the caller asked to hear about
      (e.g. `plan --fail-on-unplaced` when some work could not be placed)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from fleetyard.cli import (
    agent_cmd,
    backup_cmd,
    config_cmd,
    cost_cmd,
    demo_cmd,
    describe_cmd,
    events_cmd,
    export_cmd,
    flags_cmd,
    keys_cmd,
    pki_cmd,
    plan_cmd,
    rollout_cmd,
    schedule_cmd,
    server_cmd,
    tco_cmd,
)
from fleetyard.cli.contexts import selected
from fleetyard.cli.registry_cmd import registry_app

app = typer.Typer(
    name="fleetyard",
    help="Control plane for running AI on a fleet of small data centers.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, PowerShell)
    pretty_exceptions_enable=False,
)


def _quiet_flags() -> None:
    """Help without `<bool>` after every flag (Typer 0.2x prints the type of each option)."""
    from typer.core import TyperOption

    shown = getattr(TyperOption, "display_type_rich", None)
    if shown is None:
        return

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else shown(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_quiet_flags()


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"fleetyard {version('fleetyard')}")
        raise typer.Exit()


@app.callback()
def root(
    context: Annotated[str | None, typer.Option("--context", envvar="FLEETYARD_CONTEXT", show_default=False,
                                                help="Use this context of the config file (fleetyard config).")]
    = None,
    token_file: Annotated[Path | None, typer.Option("--token-file", envvar="FLEETYARD_TOKEN_FILE",
                                                    show_default=False, help="Read the bearer token from "
                                                    "this file (instead of --token).")] = None,
    ca: Annotated[Path | None, typer.Option("--ca", envvar="FLEETYARD_CA", show_default=False,
                                            help="Verify an https:// server against this CA bundle (PEM; "
                                            "default: the context's ca, else the system's).")] = None,
    cert: Annotated[Path | None, typer.Option("--cert", envvar="FLEETYARD_CERT", show_default=False,
                                              help="Client certificate (PEM) for a server that asks for "
                                              "one (mutual TLS); with --key.")] = None,
    key: Annotated[Path | None, typer.Option("--key", envvar="FLEETYARD_KEY", show_default=False,
                                             help="Private key (PEM) of --cert.")] = None,
    version: Annotated[bool, typer.Option("--version", "-V", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Control plane for running AI on a fleet of small data centers."""
    selected["context"] = context
    selected["token_file"] = str(token_file) if token_file else None
    selected["ca"] = str(ca) if ca else None
    selected["cert"] = str(cert) if cert else None
    selected["key"] = str(key) if key else None


plan_cmd.register(app)
server_cmd.register(app)
agent_cmd.register(app)
demo_cmd.register(app)
backup_cmd.register(app)
config_cmd.register(app)
keys_cmd.register(app)
rollout_cmd.register(app)
flags_cmd.register(app)
events_cmd.register(app)
export_cmd.register(app)
cost_cmd.register(app)
schedule_cmd.register(app)
tco_cmd.register(app)
describe_cmd.register(app)
pki_cmd.register(app)
app.add_typer(registry_app, name="registry")


def main() -> None:
    """Entry point of the `fleetyard` console script."""
    app()
