"""`fleetyard config ...`: named contexts in ~/.config/fleetyard/config.yaml (cli/contexts.py).

    fleetyard config set-context prod --server https://fy.example --token-file ~/.fy/prod.token
    fleetyard config use-context prod
    fleetyard config get-contexts
    fleetyard config current-context | view | delete-context NAME

Tokens are never printed (`view` shows `<redacted>`).
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from fleetyard.cli.common import EXIT_INVALID, console, did_you_mean, fail, print_problems
from fleetyard.cli.contexts import Config, ConfigProblem, Context, config_path, load_config, save_config
from fleetyard.cli.output import table

__all__ = ["register"]

config_app = typer.Typer(help="Named contexts: server, token, registry, trusted keys (docs/contexts.md).",
                         no_args_is_help=True)


class Out(StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")


def _load() -> Config:
    try:
        config, warnings = load_config()
    except ConfigProblem as exc:
        print_problems(exc.problems)
        raise typer.Exit(EXIT_INVALID) from None
    print_problems(warnings)
    return config


def _named(config: Config, name: str) -> Context:
    ctx = config.get(name)
    if ctx is None:
        names = [c.name for c in config.contexts]
        fail(f"no context '{name}' in {config_path()}{did_you_mean(name, names)}"
             f" (known: {', '.join(names) or 'none'})")
    return ctx


def _redacted(ctx: Context) -> dict[str, Any]:
    doc = ctx.model_dump(by_alias=True, exclude_none=True)
    if "token" in doc:
        doc["token"] = "<redacted>"
    return doc


@config_app.command("get-contexts")
def get_contexts(output: Annotated[Out, typer.Option("--output", "-o", help="table, json or yaml.")] = Out.table,
                 ) -> None:
    """List the contexts; `*` marks the current one."""
    config = _load()
    rows: list[dict[str, Any]] = [
        {"current": c.name == config.current_context, "name": c.name, "server": c.server or "",
             "auth": "token-file" if c.token_file else ("token" if c.token else "none"),
             "registry": c.registry or "", "trusted_keys": len(c.trusted_keys)} for c in config.contexts]
    if output is Out.json:
        console.print_json(json.dumps(rows))
        return
    if output is Out.yaml:
        console.print(yaml.safe_dump(rows, sort_keys=False), end="", highlight=False)
        return
    if not rows:
        console.print(f"no contexts in {config_path()} (fleetyard config set-context NAME --server URL)",
                      highlight=False)
        return
    rows_table = table("CURRENT", "NAME", "SERVER", "AUTH", "REGISTRY", "KEYS")
    for r in rows:
        rows_table.add_row("*" if r["current"] else "", r["name"], r["server"], r["auth"], r["registry"],
                      str(r["trusted_keys"]))
    console.print(rows_table)


@config_app.command("current-context")
def current_context() -> None:
    """Print the current context's name (exit 2 if none is set)."""
    config = _load()
    if not config.current_context:
        fail(f"no current context in {config_path()} (fleetyard config use-context NAME)")
    console.print(config.current_context, highlight=False)


@config_app.command("use-context")
def use_context(name: Annotated[str, typer.Argument(help="Context to make current.")]) -> None:
    """Make NAME the current context."""
    config = _load()
    _named(config, name)
    config.current_context = name
    path = save_config(config)
    console.print(f"switched to context '{name}' ({path})", highlight=False)


@config_app.command("set-context")
def set_context(
    name: Annotated[str, typer.Argument(help="Context to create or update.")],
    server: Annotated[str | None, typer.Option(help="Control plane URL.")] = None,
    token_file: Annotated[Path | None, typer.Option(help="File holding the bearer token (preferred).")] = None,
    token: Annotated[str | None, typer.Option(help="Bearer token written into the file (mode 600).")] = None,
    registry: Annotated[str | None, typer.Option(help="Registry folder or s3:// URL.")] = None,
    trusted_key: Annotated[list[Path], typer.Option("--trusted-key", help="Public key (PEM) to verify "
                                                    "signatures with (repeatable; replaces the list).")] = [],  # noqa: B006
    current: Annotated[bool, typer.Option("--use", help="Also make it the current context.")] = False,
    ca: Annotated[Path | None, typer.Option(help="CA bundle (PEM) the https:// server must chain to.")] = None,
    cert: Annotated[Path | None, typer.Option(help="Client certificate (PEM) for mutual TLS.")] = None,
    key: Annotated[Path | None, typer.Option(help="Private key (PEM) of --cert.")] = None,
) -> None:
    """Create or update a context (only the given fields change)."""
    config = _load()
    if token and token_file:
        fail("give --token or --token-file, not both")
    if server is not None:
        from fleetyard.services.client import InvalidServerUrl, check_server_url

        try:
            server = check_server_url(server)
        except InvalidServerUrl as exc:
            fail(f"--server: {exc.message}")
    ctx = config.get(name)
    update: dict[str, Any] = {k: v for k, v in (("server", server), ("registry", registry)) if v is not None}
    if token_file is not None:
        update |= {"token_file": str(token_file.expanduser().resolve()), "token": None}
    if token is not None:
        update |= {"token": token, "token_file": None}
    if trusted_key:
        missing = [k for k in trusted_key if not k.is_file()]
        if missing:
            fail(f"--trusted-key: {missing[0]} is not a file")
        update["trusted_keys"] = [str(k.expanduser().resolve()) for k in trusted_key]
    for field, path in (("ca", ca), ("cert", cert), ("key", key)):
        if path is not None:
            if not path.expanduser().is_file():
                fail(f"--{field}: {path} is not a file")
            update[field] = str(path.expanduser().resolve())
    base = ctx.model_dump() if ctx is not None else {"name": name}
    try:
        updated = Context.model_validate({**base, **update})
    except ValueError as exc:
        fail(f"context '{name}': {str(exc).splitlines()[-1].strip()}")
    if ctx is None:
        config.contexts.append(updated)
        verb = "created"
    else:
        config.contexts[config.contexts.index(ctx)] = updated
        verb = "updated"
    if current or config.current_context is None:
        config.current_context = name
    path = save_config(config)
    console.print(f"{verb} context '{name}' in {path}"
                  + (" (current)" if config.current_context == name else ""), highlight=False)


@config_app.command("delete-context")
def delete_context(name: Annotated[str, typer.Argument(help="Context to delete.")]) -> None:
    """Delete a context (the current one too: then none is current)."""
    config = _load()
    config.contexts.remove(_named(config, name))
    if config.current_context == name:
        config.current_context = None
    save_config(config)
    console.print(f"deleted context '{name}'", highlight=False)


@config_app.command("view")
def view() -> None:
    """The config file as YAML, tokens redacted."""
    config = _load()
    doc: dict[str, Any] = {}
    if config.current_context:
        doc["current-context"] = config.current_context
    doc["contexts"] = [_redacted(c) for c in config.contexts]
    console.print(f"# {config_path()}", highlight=False)
    console.print(yaml.safe_dump(doc, sort_keys=False), end="", highlight=False, markup=False)
