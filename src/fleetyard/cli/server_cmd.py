"""The control plane from the command line, like kubectl.

    fleetyard server [--db URL] [--listen HOST:PORT] [--data DIR]
    fleetyard apply -f DIR [--dry-run]            validate, store, re-plan; show the plan diff
    fleetyard get sites|workloads|regions|policies|objectives|flags|secrets|plan|models [NAME]
    fleetyard delete KIND NAME [--dry-run]
    fleetyard status | audit
    fleetyard token create --role R [--site S] (--db URL | --server URL --token T)
    fleetyard token ls | revoke ID

`--server` and `--token` also come from FLEETYARD_SERVER and FLEETYARD_TOKEN. Every
read command takes `--format json`. Exit codes as in `fleetyard.cli.app`: a server that
cannot be reached or refuses the token is one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import BaseModel, ValidationError

from fleetyard.cli.common import EXIT_ERROR, EXIT_INVALID, Format, console, err, fail, print_problems
from fleetyard.cli.contexts import connection_or_exit
from fleetyard.cli.output import emit, structured, working
from fleetyard.cli.plan_history_cmd import diff_view, revisions_table
from fleetyard.cli.server_render import (
    apply_view,
    audit_table,
    deferred_table,
    models_table,
    plan_view,
    resources_table,
    status_table,
    tokens_table,
)
from fleetyard.cli.watch import DEFAULT_INTERVAL_S, IntervalOpt, WatchOpt, json_line, status_key, watch, watch_command
from fleetyard.services.client import KINDS, ApiError, Client, InvalidServerUrl, TLSError, read_spec_files
from fleetyard.services.wire import Role, TokenCreate
from fleetyard.spec import Problem

__all__ = ["register"]

DEFAULT_SERVER = ""  # not given: the context's server, else http://127.0.0.1:8080 (cli/contexts.py)
ServerOpt = Annotated[str, typer.Option("--server", envvar="FLEETYARD_SERVER", show_default=False,
                                        help="Control plane URL (default: the context's, else "
                                             "http://127.0.0.1:8080).")]
TokenOpt = Annotated[str | None, typer.Option("--token", envvar="FLEETYARD_TOKEN", show_default=False,
                                              help="Bearer token (or FLEETYARD_TOKEN; better: --token-file "
                                                   "or a context).")]
FormatOpt = Annotated[Format, typer.Option("--format", "-o", help="Output: table, wide, json or yaml.")]
token_app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    for name, fn in (("server", server), ("apply", apply), ("get", get), ("delete", delete),
                     ("status", status), ("audit", audit)):
        app.command(name)(fn)
    app.add_typer(token_app, name="token")


@contextmanager
def _api(server: str, token: str | None) -> Iterator[Client]:
    """A client; API errors become one line (and the spec problems) and the exit code."""
    conn = connection_or_exit(server, token)
    try:
        with Client(conn.server, conn.token, tls=conn.tls) as client:
            yield client
    except ApiError as exc:
        if exc.problems:
            print_problems([Problem(p.file, p.line, p.path, p.message, p.severity) for p in exc.problems])
            err.print(f"[bold red]{exc.detail}[/].", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_INVALID) from None
        invalid = isinstance(exc, InvalidServerUrl | TLSError) or exc.status in (401, 403, 404, 412, 413, 422)
        code = EXIT_INVALID if invalid else EXIT_ERROR
        fail(exc.message, code)


def _json(value: BaseModel | list[Any], output: Format = Format.json) -> None:
    """A result as JSON or YAML (cli/output.py)."""
    emit(value, output)


def server(
    db: Annotated[str | None, typer.Option(help="Database URL (default: sqlite:///DATA/fleetyard.db).",
                                           show_default=False)] = None,
    listen: Annotated[str | None, typer.Option(help="HOST:PORT (default: 127.0.0.1:8080).",
                                               show_default=False)] = None,
    data: Annotated[Path | None, typer.Option(help="Data folder: SQLite file and registry "
                                              "(default: ~/.local/share/fleetyard/server).",
                                              show_default=False)] = None,
    registry: Annotated[str | None, typer.Option(help="Registry: a folder or s3://BUCKET[/PREFIX], shared by "
                                                 "every server of one database (default: DATA/registry; "
                                                 "docs/scale-out.md).", show_default=False)] = None,
    public_url: Annotated[str | None, typer.Option(help="URL agents use to reach this server.")] = None,
    admin_token_file: Annotated[Path | None, typer.Option(help="Also write the first admin token here.")] = None,
    heartbeat_interval: Annotated[float | None, typer.Option(help="Agent heartbeat seconds (default: 5).",
                                                             show_default=False)] = None,
    plan_time_limit: Annotated[float | None, typer.Option(help="Optimizer seconds per apply (default: 60).",
                                                          show_default=False)] = None,
    attested_capacity: Annotated[bool | None, typer.Option(
        "--attested-capacity/--declared-capacity", show_default=False,
        help="Plan with min(declared, found) GPUs at sites whose agent reported its GPUs "
             "(docs/attestation.md; default: declared).")] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="Serve HTTPS with this certificate (PEM; docs/tls.md).",
                                                  show_default=False)] = None,
    tls_key: Annotated[Path | None, typer.Option(help="Private key (PEM) of --tls-cert.", show_default=False)]
    = None,
    client_ca: Annotated[Path | None, typer.Option(help="Ask clients for a certificate from this CA (mutual "
                                                   "TLS); an agent's must name its token's site.",
                                                   show_default=False)] = None,
    require_client_cert: Annotated[bool | None, typer.Option("--require-client-cert", help="Refuse "
                                                             "connections without a client certificate.",
                                                             show_default=False)] = None,
    secrets_key: Annotated[Path | None, typer.Option("--secrets-key", envvar="FLEETYARD_SECRETS_KEY_FILE",
                                                     show_default=False,
                                                     help="Master key of Secret values (default: DATA/secrets.key, "
                                                          "made at the first start; docs/secrets.md).")] = None,
) -> None:
    """Run the control plane (FastAPI + uvicorn); migrates the database at start."""
    from fleetyard.server.run import serve
    from fleetyard.server.settings import Settings
    from fleetyard.services.db import DatabaseError, DatabaseUrlError
    from fleetyard.services.secret_box import SecretKeyError
    from fleetyard.services.tls import TLSConfigError

    given: dict[str, Any] = {"db": db, "listen": listen, "data": data, "registry": registry, "public_url": public_url,
             "admin_token_file": admin_token_file, "heartbeat_interval": heartbeat_interval,
             "plan_time_limit": plan_time_limit, "attested_capacity": attested_capacity,
             "tls_cert": tls_cert, "tls_key": tls_key, "client_ca": client_ca,
             "require_client_cert": require_client_cert, "secrets_key_file": secrets_key}
    try:
        settings = Settings.model_validate({k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        msg = first["msg"].removeprefix("Value error, ")
        fail(f"--{'-'.join(str(x) for x in first['loc']).replace('_', '-')}: {msg}" if first["loc"] else msg)
    try:
        serve(settings)
    except TLSConfigError as exc:
        fail(str(exc), EXIT_INVALID)
    except DatabaseError as exc:
        fail(str(exc), EXIT_INVALID if isinstance(exc, DatabaseUrlError) else EXIT_ERROR)
    except SecretKeyError as exc:
        fail(str(exc), EXIT_INVALID)
    except OSError as exc:
        fail(exc.strerror or str(exc), EXIT_ERROR)


def apply(
    files: Annotated[list[Path], typer.Option("--filename", "-f", help="Spec file or folder (repeatable).",
                                              show_default=False)],
    server: ServerOpt = DEFAULT_SERVER,
    token: TokenOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and plan, store nothing.")] = False,
    output: FormatOpt = Format.table,
) -> None:
    """Create or update the resources in the files, re-plan, and show what the plan changes."""
    specs, problems = read_spec_files(files)
    if problems:
        print_problems(problems)
        n = len(problems)
        err.print(f"[bold red]{n} error{'s' if n != 1 else ''}[/] in the fleet specification; nothing was applied.",
                  highlight=False)
        raise typer.Exit(EXIT_INVALID)
    with _api(server, token) as api:
        with working("applying and re-planning" + (" (dry run)" if dry_run else "")):
            result = api.apply(specs, dry_run=dry_run)
    print_problems([Problem(p.file, p.line, p.path, p.message, p.severity) for p in result.warnings])
    if structured(output):
        _json(result, output)
    else:
        console.print(apply_view(result, "applied"))
        console.print(diff_view(result.diff))


def get(
    what: Annotated[str, typer.Argument(help=f"{'|'.join(KINDS)}|plan|revisions|models", show_default=False)],
    name: Annotated[str | None, typer.Argument(help="One resource (printed as YAML).")] = None,
    server: ServerOpt = DEFAULT_SERVER,
    token: TokenOpt = None,
    output: FormatOpt = Format.table,
    revision: Annotated[int | None, typer.Option("--revision", min=1, max=2**31 - 1, show_default=False,
                                                 help="get plan: this stored revision (fleetyard get revisions).")]
    = None,
    watch_: WatchOpt = False,
    interval: IntervalOpt = DEFAULT_INTERVAL_S,
) -> None:
    """Show stored resources, the current plan (or a stored revision) or the registry's models."""
    if watch_:
        watch_command(lambda: get(what, name, server=server, token=token, output=output, revision=revision),
                      interval=interval, output=output)
        return
    kind = {"site": "sites", "workload": "workloads", "region": "regions", "policy": "policies",
            "objective": "objectives", "flag": "flags", "secret": "secrets", "model": "models"}.get(what, what)
    if kind not in (*KINDS, "plan", "revisions", "models"):
        fail(f"cannot get {what!r}: expected one of {', '.join(KINDS)}, plan, revisions, models")
    if revision is not None and kind != "plan":
        fail(f"--revision: only for 'get plan', got 'get {what}'")
    with _api(server, token) as api:
        if kind == "revisions":
            revs = api.plan_revisions(limit=500)
            _json(revs, output) if structured(output) else console.print(revisions_table(revs))
        elif kind == "plan":
            p = api.plan(revision)
            _json(p, output) if structured(output) else console.print(plan_view(p))
        elif kind == "models":
            models = api.models()
            _json(models, output) if structured(output) else console.print(models_table(models))
        elif name is not None:
            r = api.resource(kind, name)
            if structured(output):
                _json(r, output)
            else:
                console.print(yaml.safe_dump(r.document, sort_keys=False).rstrip(), highlight=False,
                              markup=False)
        else:
            rows = api.resources(kind)
            if structured(output):
                _json(rows, output)
            else:  # sites: with what their agents found (issue 14, docs/attestation.md)
                found = {s.site: s.inventory for s in api.status().sites} if kind == "sites" else None
                console.print(resources_table(kind, rows, found))


def delete(
    kind: Annotated[str, typer.Argument(help="site, workload, region, policy, objective or flag.", show_default=False)],
    name: Annotated[str, typer.Argument(help="Resource name.", show_default=False)],
    server: ServerOpt = DEFAULT_SERVER,
    token: TokenOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan change, delete nothing.")] = False,
    output: FormatOpt = Format.table,
) -> None:
    """Delete a resource and re-plan (refused if the rest of the fleet would not validate)."""
    with _api(server, token) as api:
        result = api.delete(kind, name, dry_run=dry_run)
    if structured(output):
        _json(result, output)
    else:
        console.print(apply_view(result, "deleted"), diff_view(result.diff))


def status(server: ServerOpt = DEFAULT_SERVER, token: TokenOpt = None, output: FormatOpt = Format.table,
           watch_: WatchOpt = False, interval: IntervalOpt = DEFAULT_INTERVAL_S) -> None:
    """Per site: last heartbeat, models synced/active, bytes fetched, replicas, sync progress."""
    with _api(server, token) as api:
        if watch_:
            watch(api.status, lambda st: _show_status(st, output, lines=True), status_key, interval=interval,
                  output=output)
            return
        st = api.status()
    _show_status(st, output)


def _show_status(st: Any, output: Format, *, lines: bool = False) -> None:
    if structured(output):
        console.print(json_line(st), highlight=False, soft_wrap=True) if lines else _json(st, output)
        return
    console.print(status_table(st, wide=str(output) == "wide"))
    if st.deferred:
        console.print(deferred_table(st))


def audit(
    server: ServerOpt = DEFAULT_SERVER,
    token: TokenOpt = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Newest entries to show.")] = 50,
    output: FormatOpt = Format.table,
) -> None:
    """Who changed what, when (newest first); `--format json` includes before/after."""
    with _api(server, token) as api:
        rows = api.audit(limit)
    _json(rows, output) if structured(output) else console.print(audit_table(rows))


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help="admin, operator, viewer, agent or scrape (only /metrics).",
                                     show_default=False)],
    site: Annotated[str | None, typer.Option(help="The site of an agent token.")] = None,
    ttl_hours: Annotated[float | None, typer.Option(help="Expire after this many hours.")] = None,
    description: Annotated[str, typer.Option(help="What the token is for.")] = "",
    db: Annotated[str | None, typer.Option(help="Create it directly in this database (bootstrap).")] = None,
    server: ServerOpt = DEFAULT_SERVER,
    token: TokenOpt = None,
    output: FormatOpt = Format.table,
) -> None:
    """Create a token and print it once (stdout); only its hash is stored."""
    try:
        request = TokenCreate(role=role, site=site, ttl_hours=ttl_hours, description=description)  # type: ignore[arg-type]
    except ValidationError:
        fail(f"--role: expected admin, operator, viewer, agent or scrape, got {role!r}")
    if db is not None:
        created = _create_in_db(db, request)
    else:
        with _api(server, token) as api:
            r: Role = request.role
            created = api.create_token(r, request.site, ttl_hours=request.ttl_hours, description=description)
    if structured(output):
        _json(created, output)
        return
    scope = f", site {created.site}" if created.site else ""
    err.print(f"created token {created.id} ({created.role}{scope}); it is shown only now:", highlight=False)
    sys.stdout.write(created.token + "\n")


def _create_in_db(url: str, request: TokenCreate) -> Any:
    from fleetyard.services import tokens
    from fleetyard.services.db import Database, DatabaseError, DatabaseUrlError, migrate
    from fleetyard.services.errors import ServiceError
    from fleetyard.services.identity import LOCAL_ADMIN

    try:
        database = Database(url)
        try:
            migrate(database.engine)
            with database.session() as s:
                created = tokens.create_token(s, request, LOCAL_ADMIN)
                s.commit()
        finally:
            database.dispose()
    except DatabaseError as exc:
        fail(str(exc), EXIT_INVALID if isinstance(exc, DatabaseUrlError) else EXIT_ERROR)
    except ServiceError as exc:
        fail(exc.message)
    return created


@token_app.command("ls")
def token_ls(server: ServerOpt = DEFAULT_SERVER, token: TokenOpt = None, output: FormatOpt = Format.table) -> None:
    """Active tokens (admin only), without their secrets."""
    with _api(server, token) as api:
        rows = api.tokens()
    _json(rows, output) if structured(output) else console.print(tokens_table(rows))


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(metavar="ID", help="Token id (tok_...).")],
    server: ServerOpt = DEFAULT_SERVER,
    token: TokenOpt = None,
) -> None:
    """Revoke a token at once (admin only)."""
    with _api(server, token) as api:
        api.revoke_token(token_id)
    console.print(f"revoked {token_id}", highlight=False)
