"""A seeded mutator of fleet specs: realistic fleets made hostile, one reproducible case at a time.

`make_case(seed, i)` takes one of the real fleets (the example fleets and the server tests'
fleet), picks one to three of its files and applies one to three mutations to each, drawn
from `random.Random(f"{seed}:{i}")` - so a case is reproduced from two numbers:

* on the text: truncation, random bytes (also invalid UTF-8, NUL, a byte order mark),
  lines deleted, doubled (duplicate keys), swapped or re-indented, tabs, CRLF, a value
  replaced by a hostile scalar (5,000-digit and 100,000-digit integers, 1e308, inf, nan,
  long text, NUL escapes, unsafe tags, sexagesimal, dates, unclosed quotes and brackets),
  deep flow or block nesting (up to 20,000 levels), alias bombs (up to nine levels of nine),
  recursive, undefined and merge aliases, thousands of empty documents, a file grown past
  the size limit;
* on the data (parsed, changed, dumped again): a value replaced by a huge or non-finite
  number, a wrong type, a long or NUL-bearing text, a big list, deep nesting; a key
  dropped or misspelled.

`run_case` loads a case in-process, as `fleetyard validate` (files) or the server
(`load_fleet_sources`, texts) would, and says how it ended: "valid", "invalid" (the
documented `SpecError`), or "crash" with the exception.
"""

from __future__ import annotations

import random
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fleetyard.spec import SpecError, load_fleet, load_fleet_sources

ROOT = Path(__file__).resolve().parents[2]
CORPUS = {name: ROOT / name for name in ("examples/fleet", "examples/demo", "tests/server/fleet")}

HOSTILE_SCALARS = [
    "9" * 20, "9" * 4_301, "9" * 5_000, "9" * 100_000, "-" + "9" * 5_000, "1" + "_0" * 3_000,
    "1.0e+308", "-1.0e+308", "1.0e+309", ".inf", "-.inf", ".nan", ".NaN", "1e999", "-0.0",
    "0x" + "f" * 200, "0o" + "7" * 300, "0b" + "1" * 500, "190:20:30", "1:" + "59:" * 2_000 + "1",
    "x" * 70_000, "'" + "y" * 1_000_000 + "'", '"a\\0b"', '"\\x00"', '"\\u0000"', '"\\e[31m red"',
    "null", "~", "[]", "{}", "[1, [2, [3]]]", "yes", "no", "NO", "on", "2020-01-01", "2020-01-01T00:00:00Z",
    "!!python/object/apply:os.system [id]", "!!python/name:os.system ''", "!!binary aGVsbG8=", "!!set {a, b}",
    "!!int '" + "9" * 5_000 + "'", "!!float 'nan'", "!!str", "&a x", "*undefined", "'", '"', "[", "{", "]", "}",
    "-1", "0", "1.5", "1_000", "1e3", "３２", "ＤＥ", "de", "H100-SXM\u200b", "\U0001f600", "a: b", "- x",
]
HOSTILE_VALUES: list[Any] = [
    10**20, 10**300, -(10**300), 10**4_000, 1e308, -1e308, float("inf"), float("-inf"), float("nan"), -0.0,
    0, -1, 2**63, True, False, None, "", " ", "x" * 100_000, "a\0b", "\x1b[31m", "é" * 1_000,
    [], {}, [None], {"": None}, list(range(20_000)), {f"k{i}": i for i in range(5_000)},
]


@dataclass(frozen=True)
class Case:
    """One fuzzed fleet: its files (name -> bytes), what was done to them, how to load it."""

    seed: int
    index: int
    base: str
    files: dict[str, bytes]
    mutations: tuple[str, ...]
    as_texts: bool  # through load_fleet_sources (the server's path), else files on disk

    @property
    def size(self) -> int:
        return sum(len(b) for b in self.files.values())


# --- text mutations ------------------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True) or [""]


def _value_lines(lines: list[str]) -> list[int]:
    return [i for i, line in enumerate(lines) if ": " in line and not line.lstrip().startswith("#")] or [0]


def truncate(rng: random.Random, text: str) -> str:
    return text[: rng.randrange(len(text) + 1)]


def random_bytes(rng: random.Random, text: str) -> bytes:
    data = bytearray(text.encode("utf-8"))
    for _ in range(rng.randint(1, 8)):
        pos = rng.randrange(len(data) + 1)
        blob = rng.choice([bytes([rng.randrange(256)]), b"\0", b"\xff\xfe", b"\xef\xbb\xbf", b"\xc3", b"\t",
                           b"\r", bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))])
        data[pos:pos + rng.choice([0, 1, len(blob)])] = blob
    return bytes(data)


def edit_lines(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    op = rng.choice(["delete", "double", "swap", "indent", "dedent", "tab", "comment"])
    if op == "delete":
        del lines[i]
    elif op == "double":
        lines.insert(i, lines[i])
    elif op == "swap":
        lines[i], lines[j] = lines[j], lines[i]
    elif op == "indent":
        lines[i] = " " * rng.randint(1, 9) + lines[i]
    elif op == "dedent":
        lines[i] = lines[i].lstrip(" ")
    elif op == "tab":
        lines[i] = "\t" + lines[i]
    else:
        lines[i] = "# " + lines[i]
    return "".join(lines)


def hostile_scalar(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    i = rng.choice(_value_lines(lines))
    key, _, _ = lines[i].partition(": ")
    lines[i] = f"{key}: {rng.choice(HOSTILE_SCALARS)}\n"
    return "".join(lines)


def deep_nesting(rng: random.Random, text: str) -> str:
    depth = rng.choice([10, 63, 64, 65, 200, 999, 1_000, 1_001, 5_000, 20_000])
    lines = _lines(text)
    i = rng.choice(_value_lines(lines))
    key, _, _ = lines[i].partition(": ")
    if rng.random() < 0.5 or depth > 2_000:
        opener, closer = rng.choice([("[", "]"), ("{a: ", "}"), ("[{b: ", "}]")])
        lines[i] = f"{key}: {opener * depth}1{closer * depth}\n"
    else:
        pad = len(key) - len(key.lstrip())
        block = "".join(" " * (pad + 2 * (d + 1)) + f"k{d}:\n" for d in range(depth))
        lines[i] = f"{key}:\n{block}{' ' * (pad + 2 * depth + 2)}v\n"
    return "".join(lines)


def alias_bomb(rng: random.Random, text: str) -> str:
    levels, width = rng.randint(3, 9), rng.randint(3, 9)
    body = ['  a0: &a0 "lol"'] + [f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]"
                                  for i in range(1, levels + 1)]
    if rng.random() < 0.5:  # merge keys instead of lists: flattening multiplies too
        body = ["  m0: &m0 {k: v}"] + [f"  m{i}: &m{i} {{<<: [" + ", ".join([f"*m{i - 1}"] * width) + f"], x{i}: 1}}"
                                       for i in range(1, levels + 1)]
    bomb = "apiVersion: fleetyard/v1\nkind: Site\nmetadata: {name: bomb}\nspec:\n" + "\n".join(body) + "\n"
    return text + ("\n---\n" if rng.random() < 0.5 else "\n---\n" + text + "\n---\n") + bomb


def aliases(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    i = rng.choice(_value_lines(lines))
    key, _, value = lines[i].partition(": ")
    op = rng.choice(["reuse", "undefined", "recursive", "merge", "duplicate-anchor"])
    if op == "reuse":
        lines[i] = f"{key}: &fz {value}"
        j = rng.choice(_value_lines(lines))
        k2, _, _ = lines[j].partition(": ")
        if j > i:
            lines[j] = f"{k2}: *fz\n"
    elif op == "undefined":
        lines[i] = f"{key}: *nowhere\n"
    elif op == "recursive":
        lines[i] = f"{key}: &loop [1, *loop]\n"
    elif op == "merge":
        lines[i] = f"{key}: {{<<: {rng.choice(['1', '[1]', '*nowhere', '{a: 1}', '[{a: 1}, 2]'])}}}\n"
    else:
        lines[i] = f"{key}: &twice 1\n"
        lines.append("extra: &twice 2\n")
    return "".join(lines)


def documents(rng: random.Random, text: str) -> str:
    op = rng.choice(["empty", "separators", "grow", "crlf", "bom", "nul", "long-key", "tags"])
    if op == "empty":
        return text + "---\n" * rng.choice([1, 100, 10_000])
    if op == "separators":
        lines = _lines(text)
        lines.insert(rng.randrange(len(lines) + 1), rng.choice(["---\n", "...\n", "--- |\n", "%YAML 1.1\n---\n"]))
        return "".join(lines)
    if op == "grow":  # past the 8 MiB limit now and then, below it otherwise
        target = rng.choice([256 << 10, 1 << 20, 1 << 20, 7 << 20, (8 << 20) + 1, (8 << 20) + 1])
        return ("---\n" + text) * (target // max(1, len(text) + 4) + 1)
    if op == "crlf":
        return text.replace("\n", "\r\n")
    if op == "bom":
        return "\ufeff" + text if rng.random() < 0.5 else text.replace("\n", "\n\ufeff", 1)
    if op == "nul":
        return text.replace(": ", ': "\\0', 1).replace("\n", '"\n', 1) if ": " in text else text + "\0"
    if op == "long-key":
        return text + "\n" + "k" * rng.choice([1_000, 70_000, 1_100_000]) + ": 1\n"
    lines = _lines(text)
    i = rng.choice(_value_lines(lines))
    key, _, value = lines[i].partition(": ")
    lines[i] = f"{key}: {rng.choice(['!!python/object:os.system', '!custom', '!!map', '!!seq', '!!str'])} {value}"
    return "".join(lines)


TEXT_MUTATIONS: dict[str, Callable[[random.Random, str], str | bytes]] = {
    "truncate": truncate, "random-bytes": random_bytes, "edit-lines": edit_lines, "hostile-scalar": hostile_scalar,
    "deep-nesting": deep_nesting, "alias-bomb": alias_bomb, "aliases": aliases, "documents": documents,
}


# --- data mutations ------------------------------------------------------------------------------


def _paths(root: Any, max_depth: int = 12, max_paths: int = 5_000) -> list[tuple[Any, ...]]:
    """Paths into `root`, without recursion (a mutated text may nest deep) and at most
    `max_paths` of them (an alias bomb parsed back is small data with billions of paths)."""
    out: list[tuple[Any, ...]] = []
    todo: list[tuple[tuple[Any, ...], Any]] = [((), root)]
    while todo and len(out) < max_paths:
        path, node = todo.pop()
        out.append(path)
        if len(path) < max_depth and isinstance(node, dict):
            todo.extend(((*path, k), v) for k, v in node.items())
        elif len(path) < max_depth and isinstance(node, list):
            todo.extend(((*path, i), v) for i, v in enumerate(node))
    return sorted(out, key=repr)


def _deep(depth: int) -> Any:
    node: Any = 1
    for _ in range(depth):
        node = [node]
    return node


def mutate_data(rng: random.Random, text: str) -> str:
    if len(text) > 1 << 20:  # a file grown by `documents`: parsing and dumping it again is slow
        return hostile_scalar(rng, text)
    try:  # a text mutated before may not parse any more: then it is changed as text
        docs = [d for d in yaml.load_all(text, Loader=yaml.CSafeLoader) if d is not None] or [{}]
    except (yaml.YAMLError, RecursionError, ValueError):
        return hostile_scalar(rng, text)
    doc = rng.choice(docs)
    path = rng.choice(_paths(doc)[1:] or [()])
    if not path:
        return text
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    op = rng.choice(["replace", "replace", "replace", "drop", "misspell", "deep"])
    if op == "drop" and isinstance(parent, dict):
        del parent[last]
    elif op == "misspell" and isinstance(parent, dict) and isinstance(last, str) and last:
        parent[last[:-1] + rng.choice("xyz_")] = parent.pop(last)
    elif op == "deep":
        parent[last] = _deep(rng.choice([30, 60, 65, 100]))  # the dumper itself recurses: keep it shallow
    else:
        parent[last] = rng.choice(HOSTILE_VALUES)
    try:
        return yaml.dump_all(docs, Dumper=yaml.CSafeDumper, sort_keys=False, allow_unicode=rng.random() < 0.5,
                             width=10**6)
    except RecursionError:  # PyYAML's representer recurses: very deep data is written as text instead
        return deep_nesting(rng, text)


MUTATIONS: dict[str, Callable[[random.Random, str], str | bytes]] = {**TEXT_MUTATIONS, "data": mutate_data}
WEIGHTS = {"truncate": 1, "random-bytes": 2, "edit-lines": 3, "hostile-scalar": 5, "deep-nesting": 2,
           "alias-bomb": 1, "aliases": 2, "documents": 1, "data": 5}


# --- cases ---------------------------------------------------------------------------------------


def _corpus() -> dict[str, dict[str, str]]:
    return {name: {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.yaml"))}
            for name, folder in CORPUS.items()}


_CORPUS: dict[str, dict[str, str]] = {}


def make_case(seed: int, index: int) -> Case:
    """Case `index` of the run with `seed`: the same two numbers always give the same case."""
    if not _CORPUS:
        _CORPUS.update(_corpus())
    rng = random.Random(f"{seed}:{index}")
    base = rng.choice(sorted(_CORPUS))
    texts: dict[str, str | bytes] = dict(_CORPUS[base])
    names = rng.sample(sorted(texts), k=min(len(texts), rng.choice([1, 1, 1, 2, 3])))
    applied: list[str] = []
    for name in names:
        for _ in range(rng.choice([1, 1, 2, 3])):
            current = texts[name]
            if isinstance(current, bytes):
                break  # random bytes: nothing textual is left to change
            what = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
            texts[name] = MUTATIONS[what](rng, current)
            applied.append(f"{name}:{what}")
    files = {n: t if isinstance(t, bytes) else t.encode("utf-8", errors="surrogatepass") for n, t in texts.items()}
    return Case(seed, index, base, files, tuple(applied), as_texts=rng.random() < 0.5)


def run_case(case: Case) -> tuple[str, str]:
    """Load the case in-process; ("valid" | "invalid" | "crash", detail)."""
    try:
        if case.as_texts:
            sources = [(name, data.decode("utf-8", errors="surrogateescape")) for name, data in case.files.items()]
            load_fleet_sources(sources)
        else:
            with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
                for name, data in case.files.items():
                    (Path(tmp) / name).write_bytes(data)
                load_fleet([Path(tmp)])
    except SpecError as exc:
        return "invalid", f"{len(exc.errors)} problem(s), first: {exc.errors[0]}"[:300]
    except Exception as exc:
        return "crash", "".join(traceback.format_exception(exc))[-2_000:]
    return "valid", ""
