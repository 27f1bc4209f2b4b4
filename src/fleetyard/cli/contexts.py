"""Named contexts, kubectl-style: which control plane, token, registry and keys a command uses.

The file is `$FLEETYARD_CONFIG`, else `$XDG_CONFIG_HOME/fleetyard/config.yaml`
(`~/.config/fleetyard/config.yaml`):

    current-context: prod
    contexts:
      - name: prod
        server: https://fleetyard.example.internal
        token-file: ~/.config/fleetyard/prod.token
        registry: s3://models/fleet
        trusted-keys: [~/.config/fleetyard/release.pub]
        ca: ~/.config/fleetyard/prod-ca.crt      # verify the https:// server against it (docs/tls.md)
        cert: ~/.config/fleetyard/me.crt         # optional client certificate (mutual TLS)
        key: ~/.config/fleetyard/me.key

Resolution, the same for every command (docs/contexts.md): a flag, then its environment
variable (FLEETYARD_SERVER, FLEETYARD_TOKEN, FLEETYARD_TOKEN_FILE, FLEETYARD_REGISTRY,
FLEETYARD_CA, FLEETYARD_CERT, FLEETYARD_KEY),
then the context named by `--context` / FLEETYARD_CONTEXT / `current-context`, then the
built-in default (http://127.0.0.1:8080, no token). The file is written whole and
atomically with mode 0600; a token written inline in a file others can read is a
warning (use `token-file`).
"""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fleetyard.services.tls import ClientTLS
from fleetyard.spec import Problem
from fleetyard.spec.yamlsource import parse_documents

__all__ = ["BUILTIN_SERVER", "Config", "ConfigProblem", "Connection", "Context", "config_path", "connection",
           "connection_or_exit", "load_config", "save_config", "selected"]

BUILTIN_SERVER = "http://127.0.0.1:8080"
MAX_CONFIG_BYTES = 1 << 20


class Context(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    server: str | None = None
    token: str | None = None
    token_file: str | None = Field(default=None, alias="token-file")
    registry: str | None = None
    trusted_keys: list[str] = Field(default_factory=list, alias="trusted-keys")
    ca: str | None = None    # CA bundle the server's certificate must chain to (docs/tls.md)
    cert: str | None = None  # client certificate for mutual TLS, with `key`
    key: str | None = None


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    current_context: str | None = Field(default=None, alias="current-context")
    contexts: list[Context] = Field(default_factory=list)

    def get(self, name: str) -> Context | None:
        return next((c for c in self.contexts if c.name == name), None)


class ConfigProblem(Exception):
    """The config file (or a context or token file it names) is wrong; the CLI exits 2."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def config_path() -> Path:
    explicit = os.environ.get("FLEETYARD_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "fleetyard" / "config.yaml"


def load_config(path: Path | None = None) -> tuple[Config, list[Problem]]:
    """The config (empty when the file does not exist) and its warnings; ConfigProblem if it is wrong."""
    path = path or config_path()
    name = str(path)
    try:
        raw = path.read_bytes()[: MAX_CONFIG_BYTES + 1]
    except FileNotFoundError:
        return Config(), []
    except OSError as exc:
        raise ConfigProblem([Problem(name, None, "", f"cannot read the config file: {exc.strerror or exc}")]) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigProblem([Problem(name, None, "", f"expected at most {MAX_CONFIG_BYTES} bytes; found more")])
    docs, problems = parse_documents(raw.decode("utf-8", errors="replace"), name)
    if problems:
        raise ConfigProblem(problems)
    if not docs:
        return Config(), []
    if len(docs) > 1:
        raise ConfigProblem([Problem(name, docs[1].line, "", "expected one YAML document; found several")])
    doc = docs[0]
    if not isinstance(doc.data, dict):
        raise ConfigProblem([Problem(name, doc.line, "", f"expected a mapping; found {type(doc.data).__name__}")])
    try:
        config = Config.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigProblem([
            Problem(name, doc.line_of(tuple(e["loc"])), ".".join(str(x) for x in e["loc"]),
                    f"{e['msg']}; found {_short(e.get('input'))}")
            for e in exc.errors()]) from None
    names = [c.name for c in config.contexts]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigProblem([Problem(name, doc.line, "contexts",
                                     f"context names must be unique; found '{dup[0]}' twice")])
    warnings = []
    mode = path.stat().st_mode
    if any(c.token for c in config.contexts) and mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.append(Problem(name, None, "contexts", f"holds a token and is readable by others (mode "
                                f"{stat.S_IMODE(mode):o}); chmod 600 it, or use token-file", "warning"))
    return config, warnings


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def save_config(config: Config, path: Path | None = None) -> Path:
    """Write the whole file atomically, mode 0600."""
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = config.model_dump(by_alias=True, exclude_none=True, exclude_defaults=False)
    for ctx in doc.get("contexts", []):
        if not ctx.get("trusted-keys"):
            ctx.pop("trusted-keys", None)
    text = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
    fd, tmp = tempfile.mkstemp(prefix=".config.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@dataclass(frozen=True)
class Connection:
    """Where a command goes and as whom, after flags, environment and the context."""

    server: str
    token: str | None
    registry: str | None
    trusted_keys: tuple[Path, ...]
    context: str | None
    tls: ClientTLS = field(default_factory=ClientTLS)


# Set by the root callback from `fleetyard --context NAME` / `--token-file PATH` / `--ca` / `--cert` / `--key`.
selected: dict[str, str | None] = {"context": None, "token_file": None, "ca": None, "cert": None, "key": None}


def _context(config: Config, path: Path) -> Context | None:
    name = selected["context"] or os.environ.get("FLEETYARD_CONTEXT") or config.current_context
    if not name:
        return None
    ctx = config.get(name)
    if ctx is None:
        known = ", ".join(c.name for c in config.contexts) or "none"
        raise ConfigProblem([Problem(str(path), None, "current-context" if name == config.current_context else "",
                                     f"no context '{name}' (known: {known})")])
    return ctx


def _read_token(file: str, where: str) -> str:
    p = Path(file).expanduser()
    try:
        token = p.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigProblem([Problem(where, None, "token-file", f"cannot read token file {p}: "
                                                                  f"{exc.strerror or exc}")]) from None
    if not token:
        raise ConfigProblem([Problem(where, None, "token-file", f"token file {p} is empty")])
    return token


def connection(server: str | None = None, token: str | None = None) -> tuple[Connection, list[Problem]]:
    """Resolve what a command talks to. `server`/`token` are the flag values (Typer has already
    folded FLEETYARD_SERVER / FLEETYARD_TOKEN into them); empty means not given."""
    path = config_path()
    config, warnings = load_config(path)
    ctx = _context(config, path)
    token_file = selected["token_file"] or os.environ.get("FLEETYARD_TOKEN_FILE")
    if not token and token_file:
        token = _read_token(token_file, "--token-file" if selected["token_file"] else "FLEETYARD_TOKEN_FILE")
    # The context's token (and TLS files) go only to the context's server (a --server elsewhere gets none).
    ours = ctx is not None and (not server or server.rstrip("/") == (ctx.server or "").rstrip("/"))
    if not token and ctx is not None and ours:
        token = ctx.token or (_read_token(ctx.token_file, f"{path} context {ctx.name}") if ctx.token_file else None)
    return Connection(
        server=server or (ctx.server if ctx and ctx.server else BUILTIN_SERVER),
        token=token or None,
        registry=os.environ.get("FLEETYARD_REGISTRY") or (ctx.registry if ctx else None),
        trusted_keys=tuple(Path(k).expanduser() for k in (ctx.trusted_keys if ctx else [])),
        context=ctx.name if ctx else None,
        tls=_tls(ctx if ours else None, path),
    ), warnings


def _tls(ctx: Context | None, path: Path) -> ClientTLS:
    """--ca/--cert/--key, then FLEETYARD_CA/_CERT/_KEY, then the context's ca/cert/key."""
    def pick(name: str) -> tuple[Path | None, str]:
        flag = selected.get(name)
        if flag:
            return Path(flag).expanduser(), f"--{name}"
        env = os.environ.get(f"FLEETYARD_{name.upper()}")
        if env:
            return Path(env).expanduser(), f"FLEETYARD_{name.upper()}"
        value = getattr(ctx, name) if ctx is not None else None
        return (Path(value).expanduser(), f"{path} context {ctx.name if ctx else ''} {name}") if value else (None, "")

    ca, ca_option = pick("ca")
    cert, _ = pick("cert")
    key, _ = pick("key")
    return ClientTLS(ca=ca, cert=cert, key=key, ca_option=ca_option or "--ca")


def connection_or_exit(server: str | None = None, token: str | None = None) -> Connection:
    """`connection`, printing its warnings; a wrong config, context or token file exits 2."""
    import typer

    from fleetyard.cli.common import EXIT_INVALID, print_problems

    try:
        conn, warnings = connection(server, token)
    except ConfigProblem as exc:
        print_problems(exc.problems)
        raise typer.Exit(EXIT_INVALID) from None
    print_problems(warnings)
    return conn
