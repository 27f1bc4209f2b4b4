"""Shared CLI plumbing: consoles, exit codes, loading a fleet or exiting with its problems."""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console

from fleetyard.spec.errors import Problem

if TYPE_CHECKING:
    from fleetyard.spec import Fleet

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_INVALID = 2
EXIT_RESULT = 3

console = Console(width=int(os.environ["COLUMNS"]) if os.environ.get("COLUMNS", "").isdigit() else None)
err = Console(stderr=True)


class Format(StrEnum):
    """`-o`: a table that fits 80 columns, the wide table, or the data as JSON or YAML (cli/output.py)."""

    table = "table"
    wide = "wide"
    json = "json"
    yaml = "yaml"


def fail(message: str, code: int = EXIT_INVALID) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def print_problems(problems: Sequence[Problem]) -> None:
    for p in problems:
        style = "yellow" if p.severity == "warning" else "red"
        err.print(f"[{style}]{p}[/]", highlight=False, markup=True, soft_wrap=True)


def load_or_exit(paths: Sequence[Path]) -> Fleet:
    """Load and validate the fleet; on any error print every problem and exit 2."""
    from fleetyard.spec import SpecError, load_fleet

    try:
        loaded = load_fleet(paths)
    except SpecError as exc:
        print_problems(exc.problems)
        n = len(exc.errors)
        err.print(f"[bold red]{n} error{'s' if n != 1 else ''}[/] in the fleet specification; nothing was planned.",
                  highlight=False)
        raise typer.Exit(EXIT_INVALID) from None
    print_problems(loaded.warnings)
    return loaded.fleet


def did_you_mean(value: str, choices: Sequence[str]) -> str:
    hint = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.5)
    return f" (did you mean '{hint[0]}'?)" if hint else ""
