"""Read YAML documents while remembering the line of every key and value.

PyYAML composes a node tree whose nodes carry their start marks; we build plain
Python data from that tree ourselves so that each field path maps to a line, and
so that duplicate keys (silently overwritten by a plain `yaml.safe_load`) become
problems instead of lost data. Reading is bounded by `InputLimits` (`spec.limits`):
the size first, then nodes, aliases, nesting, text and integers while the node tree is
composed (`spec.compose`), so nothing too big or too deep is ever built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fleetyard.spec.compose import LimitExceeded, check_size, compose_all
from fleetyard.spec.errors import Problem, format_path, quoted
from fleetyard.spec.limits import DEFAULT_LIMITS, InputLimits

try:  # the C parser is several times faster on big fleets
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
LIBYAML_DEPTH = "exceeded maximum nesting depth"  # libyaml's scanner, at 1,000 levels of flow
NULL_TAG = "tag:yaml.org,2002:null"
TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"  # kept as its text: JSON-storable, parsed by the model


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.constructor = yaml.constructor.SafeConstructor()
        self.problems: list[Problem] = []
        self._open: set[int] = set()  # nodes being built: an alias back to one is a loop

    def next_document(self) -> None:
        """Forget the scalars built so far (the constructor caches every node it built)."""
        self.constructor.constructed_objects.clear()
        self.constructor.recursive_objects.clear()

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
                if "\0" in key_s:
                    self.problems.append(Problem(self.file, key_node.start_mark.line + 1, format_path(loc),
                                                 f"a key contains a NUL character (\\0), got {quoted(key_s)}"))
                    continue
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
        if node.tag == TIMESTAMP_TAG:
            return str(node.value)
        value = self.constructor.construct_object(node, deep=True)
        if isinstance(value, str) and "\0" in value:
            # a YAML escape (\0, \x00) can write one; no database column or argv can hold it
            self.problems.append(Problem(self.file, node.start_mark.line + 1, format_path(loc),
                                         f"text contains a NUL character (\\0), got {quoted(value)}"))
            return value.replace("\0", "")  # reported once: the checks that follow see plain text
        return value


def read_documents(path: Path, display: str | None = None,
                   limits: InputLimits = DEFAULT_LIMITS) -> tuple[list[Document], list[Problem]]:
    """Parse every document of one YAML file. Malformed YAML is one problem with its line;
    so is the first of `limits` the file crosses (a file too big is not read past it)."""
    name = display or str(path)
    try:
        with path.open("rb") as fh:
            raw = fh.read(limits.max_bytes + 1)
    except OSError as exc:
        return [], [Problem(name, None, "", f"cannot read file: {exc.strerror or exc}")]
    too_big = check_size(raw, name, limits)
    if too_big is not None:
        return [], [too_big]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return [], [Problem(name, line, "", f"not UTF-8 text: {exc.reason} at byte {exc.start}")]
    # universal newlines, as reading in text mode does
    return parse_documents(text.replace("\r\n", "\n").replace("\r", "\n"), name, limits)


def parse_documents(text: str, name: str,
                    limits: InputLimits = DEFAULT_LIMITS) -> tuple[list[Document], list[Problem]]:
    """Parse YAML text (all documents); see `read_documents`."""
    too_big = check_size(text, name, limits)
    if too_big is not None:
        return [], [too_big]
    builder = _Builder(name)
    docs: list[Document] = []
    try:
        for i, node in enumerate(compose_all(text, name, limits, _Loader)):
            if isinstance(node, yaml.ScalarNode) and node.tag == NULL_TAG:
                continue  # an empty document (a stray '---', or only comments), as kubectl skips
            lines: dict[Loc, int] = {}
            data = builder.build(node, (), lines)
            builder.next_document()
            docs.append(Document(name, i, node.start_mark.line + 1, data, lines))
    except LimitExceeded as exc:
        return docs, [*builder.problems, exc.problem]
    except UnicodeEncodeError as exc:  # text from JSON can hold a lone surrogate; no UTF-8 file can
        where = text[: exc.start].count("\n") + 1
        what = f"a lone surrogate U+{ord(text[exc.start]):04X}" if exc.start < len(text) else exc.reason
        return docs, [*builder.problems, Problem(name, where, "", f"not UTF-8 text: {what} at character {exc.start}")]
    except yaml.MarkedYAMLError as exc:
        if exc.problem == LIBYAML_DEPTH:
            deep = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
            return docs, [*builder.problems, Problem(name, deep, "", (
                "input limit: nesting deeper than 1,000 levels, the YAML parser's own limit; "
                f"the limit is {limits.max_depth} levels (max_depth)"))]
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
