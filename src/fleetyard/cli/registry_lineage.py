"""`fleetyard registry lineage`, and the provenance options of `registry push` (docs/provenance.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from fleetyard.cli.output import emit, structured, table
from fleetyard.cli.registry_common import (
    Format,
    FormatOpt,
    RegistryOpt,
    RegistryServerOpt,
    RegistryTokenOpt,
    errors,
    out,
    registry_app,
    registry_store,
)
from fleetyard.registry import InvalidInputError, Store
from fleetyard.registry.lineage import LineageNode, lineage
from fleetyard.registry.provenance import Dataset, ProvenanceInput, parse_digest

__all__ = ["DatasetOpt", "provenance_input"]

DatasetOpt = Annotated[list[str], typer.Option(
    "--dataset", metavar="NAME:VERSION@ALGO:HEX",
    help="A dataset the model was trained on, e.g. tickets:2024-06@sha256:9f86… (repeatable).")]


def parse_dataset(text: str) -> Dataset:
    """`NAME:VERSION@ALGO:HEX` (the digest is required: a name alone proves nothing)."""
    label, at, digest = text.rpartition("@")
    name, colon, version = label.rpartition(":")
    if not at or not colon or not name or not version:
        raise InvalidInputError(f"--dataset {text!r}: expected NAME:VERSION@ALGO:HEX, "
                                "e.g. support-tickets:2024-06@sha256:<64 hex digits>")
    algo, hexpart = parse_digest(digest, f"--dataset {text}")
    return Dataset(name, version, f"{algo}:{hexpart}")


def provenance_input(store: Store, file: Path | None, base_model: str | None, datasets: list[str],
                     code_repo: str | None, code_commit: str | None, run_id: str | None) -> ProvenanceInput | None:
    """What `push` records, from `--provenance FILE` and the options (which add to it); None if nothing
    was given. The pusher is the token's subject on a server, else the local user."""
    given = ProvenanceInput()
    if file is not None:
        import yaml

        try:
            doc = yaml.safe_load(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InvalidInputError(f"--provenance {file}: cannot read it ({exc.strerror or exc})") from None
        except yaml.YAMLError as exc:
            raise InvalidInputError(f"--provenance {file}: not YAML: {exc}") from None
        given = ProvenanceInput.from_doc(doc, str(file))
    if code_commit is not None and not (7 <= len(code_commit) <= 64
                                        and all(c in "0123456789abcdef" for c in code_commit)):
        raise InvalidInputError(f"--code-commit {code_commit!r}: expected a git commit (7 to 64 lowercase hex digits)")
    given = given.merged(ProvenanceInput(base_model, tuple(parse_dataset(d) for d in datasets),
                                         code_repo, code_commit, run_id))
    if file is None and given.empty and not code_repo:
        return None
    whoami = getattr(store.backend, "whoami", None)
    if whoami is not None:
        given = given.merged(ProvenanceInput(pushed_by=whoami()))
    return given


def _datasets(n: LineageNode, wide: bool) -> str:
    return ", ".join(f"{d.label} ({d.digest})" if wide else d.label for d in n.datasets) or "-"


@registry_app.command("lineage")
def lineage_cmd(
    ref: Annotated[str, typer.Argument(metavar="NAME:VERSION|NAME@ALIAS")],
    registry: RegistryOpt = None,
    output: FormatOpt = Format.table,
    server: RegistryServerOpt = None,
    token: RegistryTokenOpt = None,
) -> None:
    """What a version came from (parent, base model, recursively) and what was derived from it,
    with the datasets recorded for each (-o wide: with their digests)."""
    with errors():
        result = lineage(registry_store(registry, server, token), ref)
        if structured(output):
            emit(json.dumps(result.as_dict()), output, out)
            return
        rows = table(("RELATION", {"no_wrap": True}), ("VERSION", {"no_wrap": True}), "DEPTH",
                     ("VIA", {"no_wrap": True}), ("DATASETS", {"overflow": "fold"}), "SIGNED")
        nodes: list[LineageNode] = [*reversed(result.ancestors), result.subject, *result.descendants]
        for n in nodes:
            version = n.ref if n.in_registry else f"{n.ref} (outside: {n.digest or 'no digest'})"
            signed = "-" if not n.in_registry else ("yes" if n.signed else "no")
            rows.add_row(n.relation, version, str(n.depth), n.via or "-", _datasets(n, str(output) == "wide"),
                         signed)
        out.print(rows)
        prov: dict[str, Any] | None = result.provenance
        if prov is None:
            out.print(f"{result.subject.ref} has no provenance recorded")
        else:
            code = prov["code"]
            out.print(f"{result.subject.ref}: pushed by {prov['pushed_by'] or '-'}; run {prov['run_id'] or '-'}; "
                      f"code {code['repository'] or '-'}@{code['commit'] or '-'}; builder {prov['builder']}")
        for n in nodes:
            if n.problem:
                out.print(f"[yellow]warning:[/] {n.problem}")
