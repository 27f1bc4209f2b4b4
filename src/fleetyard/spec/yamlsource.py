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


MERGE_TAG = "tag:yaml.org,2002:merge"
NULL_TAG = "tag:yaml.org,2002:null"


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.constructor = yaml.constructor.SafeConstructor()
        self.problems: list[Problem] = []
        self._open: set[int] = set()  # nodes being built: an alias back to one is a loop

    def build(self, node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> Any:
        lines.setdefault(loc, node.start_mark.line + 1)
        if id(node) in self._open:
            self.problems.append(Problem(self.file, node.start_mark.line + 1, format_path(loc),
                                         "recursive alias: an anchor that contains itself"))
            return None
        self._open.add(id(node))
        try:
            return self._build(node, loc, lines)
        finally:
            self._open.discard(id(node))

    def _build(self, node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> Any:
        if isinstance(node, yaml.MappingNode):
            explicit = {id(k) for k, _ in node.value if k.tag != MERGE_TAG}
            self.constructor.flatten_mapping(node)
            out: dict[Any, Any] = {}
            merged: set[str] = set()  # keys that came from a merge (<<) and may be overridden
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
                from_merge = id(key_node) not in explicit
                if key_s in out and not (key_s in merged and not from_merge):
                    if from_merge:
                        continue  # an explicit key beats a merged one
                    self.problems.append(
                        Problem(self.file, key_node.start_mark.line + 1, format_path(child),
                                f"duplicate key '{key_s}' (first on line {lines[child]})")
                    )
                    continue
                merged.discard(key_s)
                if from_merge:
                    merged.add(key_s)
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
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        return [], [Problem(name, line, "", f"not UTF-8 text: {exc.reason} at byte {exc.start}")]
    except OSError as exc:
        return [], [Problem(name, None, "", f"cannot read file: {exc.strerror or exc}")]
    return parse_documents(text, name)


def parse_documents(text: str, name: str) -> tuple[list[Document], list[Problem]]:
    """Parse YAML text (all documents); see `read_documents`."""
    builder = _Builder(name)
    docs: list[Document] = []
    try:
        for i, node in enumerate(_iter_nodes(text)):
            if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == NULL_TAG):
                continue  # an empty document (a stray '---', or only comments), as kubectl skips
            lines: dict[Loc, int] = {}
            data = builder.build(node, (), lines)
            docs.append(Document(name, i, node.start_mark.line + 1, data, lines))
    except yaml.MarkedYAMLError as exc:
        # An unclosed quote or bracket is reported where it opened; other errors where
        # the parser noticed them; the message names both lines.
        problem_line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
        context_line = exc.context_mark.line + 1 if exc.context_mark is not None else None
        what = exc.problem or "cannot parse"
        line = problem_line or context_line
        if exc.context and context_line is not None and context_line != problem_line:
            what = f"{what} (line {problem_line}) {exc.context} that starts on line {context_line}"
            if "quoted" in exc.context or "flow" in exc.context:
                line = context_line
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
