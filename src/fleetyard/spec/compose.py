"""Compose YAML node graphs from parser events, within `InputLimits`, without recursion.

PyYAML's composers build a whole document before anyone can look at it (the C one) or
recurse once per nesting level (the Python one). This composer reads the parser's
events one at a time and counts as it goes: nodes per document and per file with every
alias counted as the full copy that building data from it makes (sizes of anchored
nodes are remembered, so an alias bomb is caught at the first alias that crosses the
limit, after a few thousand events), nesting depth (aliases included), the length of
every scalar and the digits of every integer. The first limit crossed raises
`LimitExceeded` with the file, line and field path; nothing deeper or bigger is built.

Node graphs are the same as PyYAML's: an alias is the anchored node itself (a shared
reference), and an alias to an anchor that is still open makes a loop, which the
builder reports.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from yaml.composer import ComposerError
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from fleetyard.spec.errors import Problem, format_path
from fleetyard.spec.limits import InputLimits

INT_TAG = "tag:yaml.org,2002:int"
_NO_KEY = object()  # a mapping frame waiting for its next key


class LimitExceeded(Exception):
    """An input limit was crossed; `problem` says where, which limit and what was found."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


class _Frame:
    """An open mapping or sequence: its node, expanded size and height so far."""

    __slots__ = ("anchor", "height", "key", "node", "size")

    def __init__(self, node: MappingNode | SequenceNode, anchor: str | None) -> None:
        self.node = node
        self.anchor = anchor
        self.size = 1
        self.height = 1
        self.key: Any = _NO_KEY


class Composer:
    """Composes the documents of one YAML stream; see the module docstring."""

    def __init__(self, loader: Any, name: str, limits: InputLimits) -> None:
        self.loader = loader  # any PyYAML loader: only its parser events and resolver are used
        self.name = name
        self.limits = limits
        self.file_nodes = 0
        self.doc_nodes = 0

    def documents(self) -> Iterator[Node]:
        """The root node of every document, in order."""
        loader = self.loader
        if loader.check_event(StreamStartEvent):
            loader.get_event()
        while not loader.check_event(StreamEndEvent):
            event = loader.get_event()
            if not isinstance(event, DocumentStartEvent):  # pragma: no cover - the parser's grammar
                raise ComposerError(None, None, "expected a document", event.start_mark)
            root = self._document()
            loader.get_event()  # DocumentEndEvent, after the root node by the parser's grammar
            yield root
        loader.get_event()  # StreamEndEvent

    # ---- one document ---------------------------------------------------------------------

    def _document(self) -> Node:
        loader, limits = self.loader, self.limits
        anchors: dict[str, Node] = {}
        sized: dict[int, tuple[int, int]] = {}  # id(anchored node) -> (expanded size, height)
        stack: list[_Frame] = []
        self.doc_nodes = 0
        while True:
            event: Any = loader.get_event()
            cls = event.__class__  # the parser's own event classes: compared, not narrowed
            node: Node
            if cls is ScalarEvent:
                value = event.value
                if len(value) > limits.max_string_length:
                    self._fail(event, stack, f"text of {len(value):,} characters; the limit is "
                               f"{limits.max_string_length:,} characters (max_string_length)")
                tag = event.tag
                if tag is None or tag == "!":
                    tag = loader.resolve(ScalarNode, value, event.implicit)
                if tag == INT_TAG:
                    digits = len(value.lstrip("+-").replace("_", ""))
                    if digits > limits.max_int_digits:
                        self._fail(event, stack, f"an integer of {digits:,} digits; the limit is "
                                   f"{limits.max_int_digits} digits (max_int_digits)")
                node = ScalarNode(tag, value, event.start_mark, event.end_mark, style=event.style)
                self._count(event, stack, 1, 1)
                self._anchor(event, anchors, node)
                size, height = 1, 1
            elif cls is MappingStartEvent or cls is SequenceStartEvent:
                self._count(event, stack, 1, 1)
                kind = MappingNode if cls is MappingStartEvent else SequenceNode
                tag = event.tag
                if tag is None or tag == "!":
                    tag = loader.resolve(kind, None, event.implicit)
                collection = kind(tag, [], event.start_mark, None, flow_style=event.flow_style)
                self._anchor(event, anchors, collection)
                stack.append(_Frame(collection, event.anchor))
                continue
            elif cls is MappingEndEvent or cls is SequenceEndEvent:
                frame = stack.pop()
                node = frame.node
                node.end_mark = event.end_mark
                size, height = frame.size, frame.height
                if frame.anchor is not None:
                    sized[id(node)] = (size, height)
            elif cls is AliasEvent:
                target = anchors.get(event.anchor)
                if target is None:
                    raise ComposerError(None, None, f"found undefined alias '{event.anchor}'", event.start_mark)
                # a scalar, or an anchor still open (a loop: the builder reports it), counts once
                size, height = sized.get(id(target), (1, 1))
                self._count(event, stack, size, height, alias=event.anchor)
                node = target
            else:  # pragma: no cover - the parser's grammar
                raise ComposerError(None, None, f"unexpected {cls.__name__}", event.start_mark)
            if not stack:
                return node
            parent = stack[-1]
            parent.size += size
            if height + 1 > parent.height:
                parent.height = height + 1
            if isinstance(parent.node, SequenceNode):
                parent.node.value.append(node)
            elif parent.key is _NO_KEY:
                parent.key = node
            else:
                parent.node.value.append((parent.key, node))
                parent.key = _NO_KEY

    def _anchor(self, event: Any, anchors: dict[str, Node], node: Node) -> None:
        anchor = event.anchor
        if anchor is None:
            return
        if anchor in anchors:
            raise ComposerError(f"found duplicate anchor '{anchor}'; first occurrence",
                                anchors[anchor].start_mark, "second occurrence", event.start_mark)
        anchors[anchor] = node

    def _count(self, event: Any, stack: list[_Frame], size: int, height: int, alias: str | None = None) -> None:
        limits = self.limits
        depth = len(stack) + height
        if depth > limits.max_depth:
            held = f" (alias *{alias} adds {height})" if alias is not None and height > 1 else ""
            self._fail(event, stack, f"nesting {depth} levels deep{held}; the limit is "
                       f"{limits.max_depth} levels (max_depth)")
        self.doc_nodes += size
        self.file_nodes += size
        what = f"alias *{alias} expands to {size:,} nodes, and with it " if alias is not None else ""
        if self.doc_nodes > limits.max_document_nodes:
            self._fail(event, stack, f"{what}the document has more than {limits.max_document_nodes:,} nodes; "
                       f"the limit is {limits.max_document_nodes:,} per document (max_document_nodes)")
        if self.file_nodes > limits.max_nodes:
            self._fail(event, stack, f"{what}the file has more than {limits.max_nodes:,} nodes; "
                       f"the limit is {limits.max_nodes:,} per file (max_nodes)")

    def _fail(self, event: Any, stack: list[_Frame], message: str) -> None:
        loc: list[str | int] = []
        for frame in stack:
            if isinstance(frame.node, SequenceNode):
                loc.append(len(frame.node.value))
            elif frame.key is not _NO_KEY:
                key = frame.key
                loc.append(key.value if isinstance(key, ScalarNode) else "?")
            else:
                break  # composing a key: the path ends at its mapping
        raise LimitExceeded(Problem(self.name, event.start_mark.line + 1, format_path(loc),
                                    f"input limit: {message}"))


def check_size(data: str | bytes, name: str, limits: InputLimits) -> Problem | None:
    """A problem if `data` is over `max_bytes` (UTF-8), naming the line where it passes."""
    if isinstance(data, str):
        if len(data) * 4 <= limits.max_bytes:
            return None  # no text of this length can be too big: skip encoding it
        data = data[: limits.max_bytes + 1].encode("utf-8", errors="surrogatepass")
    if len(data) <= limits.max_bytes:
        return None
    line = data[: limits.max_bytes].count(b"\n") + 1
    return Problem(name, line, "", f"input limit: more than {limits.max_bytes:,} bytes; the limit is "
                   f"{limits.max_bytes:,} bytes per file (max_bytes), passed on this line")


def compose_all(text: str, name: str, limits: InputLimits, loader_class: type[Any]) -> Iterator[Node]:
    """Root nodes of every document of `text`, composed within `limits`."""
    loader = loader_class(text)
    try:
        yield from Composer(loader, name, limits).documents()
    finally:
        loader.dispose()

