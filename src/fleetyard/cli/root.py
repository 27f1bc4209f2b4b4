"""The root of the `fleetyard` command: its options, and which module holds each command.

The console script (`cli/main.py`) imports only the module of the command it runs, so
`fleetyard --version` or `fleetyard config get-contexts` do not pay for the solver, the
database layer and the web framework. `cli/app.py` builds the whole tree (help, shell
completion, tests). `COMMANDS` is checked against that tree by tests/cli/test_lazy.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

# top-level command -> the module (under fleetyard.cli) whose register(app) adds it
COMMANDS: dict[str, str] = {
    **dict.fromkeys(("validate", "plan", "explain", "whatif", "catalog"), "plan_cmd"),
    **dict.fromkeys(("server", "apply", "get", "delete", "status", "audit", "token"), "server_cmd"),
    "agent": "agent_cmd", "demo": "demo_cmd",
    **dict.fromkeys(("backup", "restore"), "backup_cmd"),
    "config": "config_cmd", "keys": "keys_cmd",
    "rollout": "rollout_cmd", "flags": "flags_cmd", "events": "events_cmd", "export": "export_cmd",
    "cost": "cost_cmd", "schedule": "schedule_cmd", "tco": "tco_cmd", "describe": "describe_cmd",
    "pki": "pki_cmd", "registry": "registry_cmd", "secrets": "secrets_cmd",
}
MODULES: tuple[str, ...] = tuple(dict.fromkeys(COMMANDS.values()))  # help lists commands in this order
# root options that take a value (the command name is the first other word)
VALUE_OPTIONS = frozenset({"--context", "--token-file", "--ca", "--cert", "--key"})


def _quiet_flags() -> None:
    """Help without `<bool>` after every flag (Typer 0.2x prints the type of each option)."""
    from typer.core import TyperOption

    shown = getattr(TyperOption, "display_type_rich", None)
    if shown is None or getattr(shown, "_fleetyard", False):
        return

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else shown(self, ctx)

    display_type_rich._fleetyard = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"fleetyard {version('fleetyard')}")
        raise typer.Exit()


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
    from fleetyard.cli.contexts import selected  # here: `--version` does not need it

    selected["context"] = context
    selected["token_file"] = str(token_file) if token_file else None
    selected["ca"] = str(ca) if ca else None
    selected["cert"] = str(cert) if cert else None
    selected["key"] = str(key) if key else None


def new_app(modules: tuple[str, ...] = MODULES) -> typer.Typer:
    """The root application with the commands of `modules` registered."""
    from importlib import import_module

    _quiet_flags()
    app = typer.Typer(
        name="fleetyard",
        help="Control plane for running AI on a fleet of small data centers.",
        no_args_is_help=True,
        add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, PowerShell)
        pretty_exceptions_enable=False,
    )
    app.callback()(root)
    for name in modules:
        import_module(f"fleetyard.cli.{name}").register(app)
    return app


def command_of(argv: list[str]) -> str | None:
    """The top-level command named in `argv` (program name excluded), or None."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word in VALUE_OPTIONS:
            skip = True
        elif not word.startswith("-"):
            return word
    return None
