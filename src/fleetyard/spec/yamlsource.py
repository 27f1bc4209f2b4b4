"""Read YAML documents while remembering the line of every key and value.

PyYAML composes a node tree whose nodes carry their start marks; we build plain
Python data from that tree ourselves so that each field path maps to a line, and
so that duplicate keys (silently overwritten by a plain `yaml.safe_load`) become
problems instead of lost data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fleetyard.spec.errors import Problem, format_path

try:  # the C composer is several times faster on big fleets
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - libyaml missing
    _Loader = yaml.SafeLoader

Loc = tuple[str | int, ...]


@dataclass
class Document:
    """One YAML document: its data, where it came from and the line of every path."""

    file: str
    index: int
    line: int
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Loc) -> int:
        """Line of the deepest known prefix of `loc` (a missing field points at its parent)."""
        for end in range(len(loc), -1, -1):
            found = self.lines.get(tuple(loc[:end]))
            if found is not None:
                return found
        return self.line


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.constructor = yaml.constructor.SafeConstructor()
        self.problems: list[Problem] = []

    def build(self, node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> Any:
        lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            self.constructor.flatten_mapping(node)
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.constructor.construct_object(key_node, deep=True)
                if not isinstance(key, str | int | float | bool) or key is None:
                    self.problems.append(
                        Problem(self.file, key_node.start_mark.line + 1, format_path(loc),
                                f"expected a plain key, got {type(key).__name__}")
                    )
                    continue
                key_s = key if isinstance(key, str) else str(key)
                child = (*loc, key_s)
                if key_s in out:
                    self.problems.append(
                        Problem(self.file, key_node.start_mark.line + 1, format_path(child),
                                f"duplicate key '{key_s}' (first on line {lines[child]})")
                    )
                    continue
                lines[child] = key_node.start_mark.line + 1
                out[key_s] = self.build(value_node, child, lines)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*loc, i), lines) for i, item in enumerate(node.value)]
        return self.constructor.construct_object(node, deep=True)


def read_documents(path: Path, display: str | None = None) -> tuple[list[Document], list[Problem]]:
    """Parse every document of one YAML file. Malformed YAML is one problem with its line."""
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return [], [Problem(name, None, "", f"not UTF-8 text: {exc.reason} at byte {exc.start}")]
    except OSError as exc:
        return [], [Problem(name, None, "", f"cannot read file: {exc.strerror or exc}")]
    return parse_documents(text, name)


def parse_documents(text: str, name: str) -> tuple[list[Document], list[Problem]]:
    """Parse YAML text (all documents); see `read_documents`."""
    builder = _Builder(name)
    docs: list[Document] = []
    try:
        for i, node in enumerate(_iter_nodes(text)):
            if node is None:
                continue
            lines: dict[Loc, int] = {}
            data = builder.build(node, (), lines)
            docs.append(Document(name, i, node.start_mark.line + 1, data, lines))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = exc.problem or exc.context or "cannot parse"
        return docs, [*builder.problems, Problem(name, line, "", f"malformed YAML: {what}")]
    except yaml.YAMLError as exc:
        return docs, [*builder.problems, Problem(name, None, "", f"malformed YAML: {exc}")]
    return docs, builder.problems


def _iter_nodes(text: str) -> Iterator[yaml.Node | None]:
    loader = _Loader(text)
    try:
        while loader.check_node():
            yield loader.get_node()
    finally:
        loader.dispose()
