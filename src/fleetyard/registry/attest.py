"""Attesting a push: resolve the base model it names, then seal the provenance statement.

`resolve_base_model` runs before a push does any work, so a base model that is neither
in the registry nor given by digest fails at once; `seal` runs at the commit, when the
recipe and the model signature the statement's subject names are known.
"""

from __future__ import annotations

import dataclasses
import os

from fleetyard.registry.dsse import sign_envelope
from fleetyard.registry.errors import InvalidInputError, NotFoundError
from fleetyard.registry.names import parse_ref
from fleetyard.registry.provenance import (
    DIGEST_LENGTHS,
    PAYLOAD_TYPE,
    BaseModelRef,
    ProvenanceInput,
    build_statement,
    local_user,
    parse_digest,
)
from fleetyard.registry.store import Store

__all__ = ["check_input", "resolve_base_model", "seal"]


def resolve_base_model(store: Store, text: str) -> BaseModelRef:
    """`NAME:VERSION` / `NAME@ALIAS` of this registry (recorded with its recipe's digest and the
    alias resolved), or `NAME@ALGO:HEX` for a model from elsewhere."""
    name, at, digest = text.rpartition("@")
    if at and digest.partition(":")[0] in DIGEST_LENGTHS:
        algo, hexpart = parse_digest(digest, f"--base-model {text}")
        if not name:
            raise InvalidInputError(f"--base-model {text}: expected NAME@{algo}:HEX, the name is missing")
        return BaseModelRef(name, f"{algo}:{hexpart}", False)
    try:
        m = store.resolve(parse_ref(text))
    except NotFoundError:
        raise InvalidInputError(
            f"--base-model {text} is not in {store.url}: expected a version of this registry "
            "(NAME:VERSION or NAME@ALIAS) or a model from elsewhere by digest (NAME@sha256:HEX)") from None
    return BaseModelRef(m.ref, f"blake3:{m.recipe}", True)


def check_input(given: ProvenanceInput) -> None:
    """InvalidInputError for a dataset digest that is not ALGO:HEX (before any work)."""
    for d in given.datasets:
        parse_digest(d.digest, f"dataset {d.label}")


def seal(given: ProvenanceInput, base: BaseModelRef | None, *, ref: str, recipe: str, signature: str | None,
         parent: str | None, created: str, key: str | os.PathLike[str] | None, password: str | None) -> str:
    """The DSSE envelope (JSON) of the version's statement, signed with the push key if any."""
    if not given.pushed_by:
        given = dataclasses.replace(given, pushed_by=local_user())
    statement = build_statement(ref, recipe, signature, parent, base, given, created)
    return sign_envelope(PAYLOAD_TYPE, statement, key, password).to_json()
