"""One way to print a result: `-o table|wide|json|yaml` on every read command.

`json` and `yaml` carry the same data (yaml is the JSON structure, keys in the same order,
no anchors); `wide` is the table with its wide columns (`table` fits 80 columns).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel, TypeAdapter
from rich.console import Console
from rich.table import Table

from fleetyard.cli.common import Format, console, err

__all__ = ["emit", "jsonable", "size", "structured", "table", "working"]


def structured(output: Format | str) -> bool:
    """True for json and yaml: print data, not a table."""
    return str(output) in ("json", "yaml")


def jsonable(value: Any) -> Any:
    """Plain JSON data from a model, a list of models, JSON text or plain data."""
    if isinstance(value, str):
        return json.loads(value)
    if isinstance(value, BaseModel):
        return json.loads(value.model_dump_json())
    return json.loads(TypeAdapter(Any).dump_json(value))


def emit(value: Any, output: Format | str, out: Console | None = None) -> None:
    """Print `value` as JSON or YAML (the same data either way)."""
    from fleetyard.export.manifests import to_yaml

    target = out or console
    data = jsonable(value)
    if str(output) == "yaml":
        text = to_yaml(data).decode() if isinstance(data, dict | list) else json.dumps(data) + "\n"
        target.print(text, end="", markup=False, highlight=False, soft_wrap=True)
    else:
        target.print_json(json.dumps(data))


def table(*columns: str | tuple[str, dict[str, Any]], title: str | None = None, title_style: str = "bold") -> Table:
    """The CLI's one table style: Rich's default box (heavy header rule, light column rules, which
    scripts and tests split on `│`), bold header, a title on the left.

    A column is a header or (header, Rich column options). Name columns should pass
    `{"no_wrap": True}` so names are never cut (other columns wrap instead)."""
    t = Table(title=title, title_justify="left", title_style=title_style, header_style="bold")
    for col in columns:
        name, kw = (col, {}) if isinstance(col, str) else col
        t.add_column(name, **kw)
    return t


def size(n: float) -> str:
    """The CLI's one byte-size format: decimal units, one decimal (humanize): `3.0 MB`, `999 Bytes`."""
    import humanize

    return str(humanize.naturalsize(n, format="%.1f"))


@contextmanager
def working(text: str) -> Iterator[None]:
    """A spinner on stderr while work that can take seconds runs (plan, whatif, apply); only
    when stderr is a terminal, so pipes, JSON output and logs stay clean."""
    if not err.is_terminal:
        yield
        return
    with err.status(text, spinner="dots"):
        yield
