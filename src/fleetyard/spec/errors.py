"""Problems found in user input, and the exception that carries them.

A `Problem` names the file, the line, the field path, what was expected and what
was found, e.g. ``fleet/sites.yaml:14 spec.gpus[0].count: must be >= 1, got 0``.
Loading collects every problem of every file before it gives up, so a user sees
all of them at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Problem:
    """One mistake (or, with severity warning, one suspicious thing) in the input."""

    file: str
    line: int | None
    path: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        prefix = "warning: " if self.severity == "warning" else ""
        if self.path:
            return f"{where} {self.path}: {prefix}{self.message}"
        return f"{where}: {prefix}{self.message}"

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "path": self.path,
            "message": self.message,
            "severity": self.severity,
        }


class SpecError(Exception):
    """Raised when the input has at least one error; carries all problems found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        errors = [p for p in self.problems if p.severity == "error"]
        super().__init__(
            f"{len(errors)} problem(s) in the fleet specification:\n"
            + "\n".join(str(p) for p in errors)
        )

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "warning")


def has_errors(problems: Iterable[Problem]) -> bool:
    return any(p.severity == "error" for p in problems)


def format_path(loc: Sequence[str | int]) -> str:
    """Render a location tuple as a field path: ``("spec", "gpus", 0, "count")`` ->
    ``spec.gpus[0].count``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


SHOWN_CHARACTERS = 80  # a longer text is shown by its start and its length


def quoted(text: str) -> str:
    """Text as a message shows what was found: quoted, control characters (a NUL, an
    escape) as escapes so that a message never carries them, a long text cut short."""
    cut = text[:SHOWN_CHARACTERS]
    if not cut.isprintable():
        cut = "".join(c if c.isprintable() else repr(c)[1:-1] for c in cut)
    if len(text) > SHOWN_CHARACTERS:
        return f"'{cut}...' ({len(text):,} characters)"
    return f"'{cut}'"
