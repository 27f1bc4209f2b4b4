"""Load fleet specifications from YAML files and folders.

`load_fleet(paths)` reads every document of every file, checks each against its
model, then checks the resources against each other (`spec.validate`). It raises
`SpecError` carrying *all* problems found, or returns the fleet and its warnings.
Every function takes `limits` (`spec.limits`): the bounds on size, nodes, aliases,
nesting, text and integers that each file or text is read within.
"""

from __future__ import annotations

import difflib
import posixpath
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from fleetyard.spec.errors import Problem, SpecError, has_errors
from fleetyard.spec.fleet import DEFAULT_COST_MODEL, DEFAULT_OBJECTIVE, Fleet, Origin
from fleetyard.spec.limits import DEFAULT_LIMITS, InputLimits
from fleetyard.spec.messages import found, problems_from
from fleetyard.spec.models import API_VERSION, KINDS, CostModel, Objective, Policy, Region, Site, Workload
from fleetyard.spec.trace import Trace, parse_trace
from fleetyard.spec.validate import check_fleet
from fleetyard.spec.yamlsource import Document, parse_documents, read_documents

YAML_SUFFIXES = (".yaml", ".yml")  # compared case-insensitively


TraceReader = Callable[[str, str], tuple[str, str | None]]
"""(spec file, trace reference) -> (where it was looked for, its text or None when absent)."""


def trace_path(spec_file: str, ref: str) -> str:
    """Where a Site's `energy.trace` points: relative to the spec file's folder (POSIX)."""
    ref = ref.replace("\\", "/")
    if posixpath.isabs(ref):
        return posixpath.normpath(ref)
    return posixpath.normpath(posixpath.join(posixpath.dirname(spec_file.replace("\\", "/")), ref))


def file_trace_reader(limits: InputLimits = DEFAULT_LIMITS) -> TraceReader:
    """Read traces from the file system, at most `limits.max_bytes` each."""
    def read(spec_file: str, ref: str) -> tuple[str, str | None]:
        where = trace_path(spec_file, ref)
        try:
            with open(where, "rb") as fh:
                raw = fh.read(limits.max_bytes + 1)
        except FileNotFoundError:
            return where, None
        except OSError as exc:
            raise TraceUnreadable(where, exc.strerror or str(exc)) from None
        if len(raw) > limits.max_bytes:
            raise TraceUnreadable(where, f"input limit: larger than {limits.max_bytes:,} bytes (max_bytes)")
        try:
            return where, raw.decode("utf-8").replace("\r\n", "\n")
        except UnicodeDecodeError as exc:
            raise TraceUnreadable(where, f"not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    return read


def mapping_trace_reader(traces: Mapping[str, str]) -> TraceReader:
    """Traces given as texts keyed by `trace_path(spec file, reference)` (e.g. uploaded files)."""
    def read(spec_file: str, ref: str) -> tuple[str, str | None]:
        where = trace_path(spec_file, ref)
        return where, traces.get(where)
    return read


def trace_missing(ref: str, where: str) -> str:
    """The words for a Site's trace that is not there (the loader's and the client's)."""
    return f"cannot read trace {found(ref)} ({where}): no such file; expected a CSV file there"


class TraceUnreadable(Exception):
    def __init__(self, where: str, why: str) -> None:
        super().__init__(f"{where}: {why}")
        self.where = where
        self.why = why


@dataclass(frozen=True)
class Loaded:
    fleet: Fleet
    warnings: tuple[Problem, ...]


def spec_files(paths: Iterable[Path]) -> tuple[list[Path], list[Problem]]:
    """Expand folders to their `*.yaml`/`*.yml` files (sorted, not recursive)."""
    files: list[Path] = []
    problems: list[Problem] = []
    for path in paths:
        if path.is_dir():
            found_here = sorted(p for p in path.iterdir() if p.suffix.lower() in YAML_SUFFIXES and p.is_file())
            if not found_here:
                problems.append(Problem(str(path), None, "", "folder has no *.yaml or *.yml files"))
            files.extend(found_here)
        elif path.is_file():
            files.append(path)
        else:
            problems.append(Problem(str(path), None, "", "no such file or folder"))
    return files, problems


def load_fleet(paths: Sequence[Path | str], limits: InputLimits = DEFAULT_LIMITS) -> Loaded:
    """Load and validate a fleet; raise `SpecError` with every problem if any is an error."""
    files, problems = spec_files(Path(p) for p in paths)
    documents: list[Document] = []
    for file in files:
        docs, parse_problems = read_documents(file, limits=limits)
        documents.extend(docs)
        problems.extend(parse_problems)
    return _finish(documents, problems, file_trace_reader(limits))


def load_fleet_text(text: str, name: str = "<input>", limits: InputLimits = DEFAULT_LIMITS) -> Loaded:
    """Load a fleet from YAML text (one stream of documents); same checks as `load_fleet`."""
    documents, problems = parse_documents(text, name, limits)
    return _finish(documents, problems)


def load_fleet_sources(sources: Iterable[tuple[str, str]], limits: InputLimits = DEFAULT_LIMITS,
                       traces: Mapping[str, str] | TraceReader | None = None, *,
                       all_secrets: bool = False) -> Loaded:
    """Load a fleet from (file name, YAML text) pairs - e.g. files uploaded to the server -
    with the same checks and messages as `load_fleet`; `limits` apply to each text.
    `traces` gives the energy traces the Sites reference: texts keyed by
    `trace_path(file name, reference)`, or a reader. `all_secrets`: the sources hold every
    Secret there is (the server's stored ones among them), so a `secret_env` naming another
    is an error, not a warning (spec/secret.py)."""
    documents: list[Document] = []
    problems: list[Problem] = []
    for name, text in sources:
        docs, parse_problems = parse_documents(text, name, limits)
        documents.extend(docs)
        problems.extend(parse_problems)
    reader = traces if callable(traces) else mapping_trace_reader(traces or {})
    return _finish(documents, problems, reader, all_secrets=all_secrets)


def _finish(documents: list[Document], problems: list[Problem], read_trace: TraceReader | None = None, *,
            all_secrets: bool = False) -> Loaded:
    resources: list[tuple[Any, Document]] = []
    unparsed: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for doc in documents:
        resource, doc_problems = parse_resource(doc)
        problems.extend(doc_problems)
        if resource is not None:
            resources.append((resource, doc))
        else:
            kind, name = _declared(doc)
            if kind in unparsed:
                unparsed[kind].add(name or "")  # "" = unnamed (see validate.UNNAMED)
    fleet, build_problems = _assemble(resources)
    problems.extend(build_problems)
    traces, trace_problems = _read_traces(fleet, read_trace or mapping_trace_reader({}))
    problems.extend(trace_problems)
    if traces:
        fleet = replace(fleet, traces=traces)
    # Cross-resource rules run even when some documents failed, so that every
    # problem is reported at once; names of failed documents still count as known.
    problems.extend(check_fleet(fleet, also_known=unparsed, complete=not has_errors(problems),
                                all_secrets=all_secrets))
    if has_errors(problems):
        raise SpecError(sorted(problems, key=_order))
    return Loaded(fleet, tuple(p for p in problems if p.severity == "warning"))


def _read_traces(fleet: Fleet, read: TraceReader) -> tuple[dict[str, Trace], list[Problem]]:
    """Read and check every Site's trace; a trace two sites share is read once."""
    traces: dict[str, Trace] = {}
    problems: list[Problem] = []
    cache: dict[str, Trace | None] = {}
    for name, site in fleet.sites.items():
        ref = site.spec.energy.trace
        origin = fleet.origin("Site", name)
        if ref is None or origin is None:
            continue
        line = origin.line_of(("spec", "energy", "trace"))
        try:
            where, text = read(origin.file, ref)
        except TraceUnreadable as exc:
            problems.append(Problem(origin.file, line, "spec.energy.trace",
                                    f"cannot read trace {found(ref)} ({exc.where}): {exc.why}"))
            continue
        if text is None:
            problems.append(Problem(origin.file, line, "spec.energy.trace", trace_missing(ref, where)))
            continue
        if where not in cache:
            trace, trace_problems = parse_trace(text, where)
            problems.extend(trace_problems)
            cache[where] = trace
        got = cache[where]
        if got is not None:
            traces[name] = got
    return traces, problems


def _declared(doc: Document) -> tuple[str | None, str | None]:
    data = doc.data if isinstance(doc.data, dict) else {}
    meta = data.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    kind = data.get("kind")
    return (kind if isinstance(kind, str) else None), (name if isinstance(name, str) else None)


def _order(p: Problem) -> tuple[str, int, str]:
    return (p.file, p.line or 0, p.path)


def parse_resource(doc: Document) -> tuple[Any | None, list[Problem]]:
    """Check one document's envelope (apiVersion, kind) and validate it against its model."""
    data = doc.data
    if not isinstance(data, dict):
        what = f"expected a resource (a mapping with apiVersion, kind, metadata, spec), got {found(data)}"
        return None, [Problem(doc.file, doc.line, "", what)]
    problems: list[Problem] = []
    api = data.get("apiVersion")
    if api != API_VERSION:
        what = "required field is missing" if api is None else f"expected '{API_VERSION}', got {found(api)}"
        problems.append(Problem(doc.file, doc.line_of(("apiVersion",)), "apiVersion", what))
    kind = data.get("kind")
    model = KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        if kind is None:
            what = f"required field is missing; expected one of {', '.join(KINDS)}"
        else:
            hint = difflib.get_close_matches(str(kind), list(KINDS), n=1, cutoff=0.5)
            tail = f" (did you mean '{hint[0]}'?)" if hint else f"; expected one of {', '.join(KINDS)}"
            what = f"unknown kind {found(kind)}{tail}"
        problems.append(Problem(doc.file, doc.line_of(("kind",)), "kind", what))
        return None, problems
    try:
        resource = model.model_validate(data)
    except ValidationError as exc:
        found_problems = [p for p in problems_from(exc, model, doc) if p.path != "apiVersion"]
        if kind == "Secret":  # a message never shows what a Secret's value was
            found_problems = [_without_value(p) for p in found_problems]
        problems.extend(found_problems)
        return None, problems
    return (None if problems else resource), problems


def _without_value(p: Problem) -> Problem:
    if not p.path.startswith("spec.data"):
        return p
    return replace(p, message=p.message.split(", got ")[0] + " (the value is not shown)")


def _assemble(resources: list[tuple[Any, Document]]) -> tuple[Fleet, list[Problem]]:
    problems: list[Problem] = []
    tables: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}
    origins: dict[tuple[str, str], Origin] = {}
    for resource, doc in resources:
        kind, name = resource.kind, resource.name
        if name in tables[kind]:
            first = origins[(kind, name)]
            problems.append(Problem(doc.file, doc.line_of(("metadata", "name")), "metadata.name",
                                    f"duplicate {kind} name '{name}' (first defined at "
                                    f"{first.file}:{first.line_of(('metadata', 'name'))})"))
            continue
        tables[kind][name] = resource
        origins[(kind, name)] = Origin(doc)
    objectives: dict[str, Objective] = tables["Objective"]
    cost_models: dict[str, CostModel] = tables["CostModel"]
    for kind in ("Objective", "CostModel"):  # one per fleet
        names = list(tables[kind])
        for extra in names[1:]:
            origin = origins[(kind, extra)]
            problems.append(Problem(origin.file, origin.line_of(("kind",)), "kind",
                                    f"at most one {kind} per fleet, found {len(names)}: {', '.join(names)}"))
    regions: dict[str, Region] = tables["Region"]
    sites: dict[str, Site] = tables["Site"]
    workloads: dict[str, Workload] = tables["Workload"]
    policies: dict[str, Policy] = tables["Policy"]
    objective = next(iter(objectives.values()), DEFAULT_OBJECTIVE)
    cost_model = next(iter(cost_models.values()), DEFAULT_COST_MODEL)
    return Fleet(regions, sites, workloads, policies, objective, origins, flags=tables["Flag"],
                 cost_model=cost_model, secrets=tables["Secret"]), problems
