"""Provenance of a version: base model, datasets, training code and run, who pushed it.

Recorded at push as an in-toto Statement v1 (`_type https://in-toto.io/Statement/v1`)
whose predicate is SLSA Provenance v1 (`https://slsa.dev/provenance/v1`), wrapped in a
DSSE envelope signed with the push key (`registry.dsse`) and stored in the manifest's
`provenance` field. Where each fact lives in the predicate:

* base model, parent, datasets, code: `buildDefinition.externalParameters` (as given)
  and `buildDefinition.resolvedDependencies` (resource descriptors with digests,
  `annotations.role` one of base-model, parent, dataset, training-code);
* who pushed it: `buildDefinition.internalParameters.pushedBy`;
* the training run: `runDetails.metadata.invocationId`; `runDetails.builder.id` is the
  training platform (default `urn:fleetyard:registry-push`).

The statement's subject is the version: name `NAME:VERSION`, digest `blake3` = the
recipe (every chunk of every file) and, when the model is signed, `sha256` = the
SHA-256 of the OpenSSF model signature's payload. So the provenance signature covers
the facts, and the subject ties them to exactly that model: moving an envelope to
another version, or changing a byte of it, fails `check_binding` or the signature.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from fleetyard.registry.dsse import Envelope, parse_envelope, verify_envelope
from fleetyard.registry.errors import InvalidInputError, SignatureError

if TYPE_CHECKING:
    from fleetyard.registry.manifest import VersionManifest

__all__ = ["BUILD_TYPE", "PAYLOAD_TYPE", "PREDICATE_TYPE", "STATEMENT_TYPE", "BaseModelRef", "Dataset",
           "Provenance", "ProvenanceError", "ProvenanceInput", "build_statement", "check_binding",
           "local_user", "parse_digest", "read_provenance", "read_statement", "token_of", "token_subject",
           "verify_provenance"]

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
BUILD_TYPE = "urn:fleetyard:model-training:v1"
DEFAULT_BUILDER = "urn:fleetyard:registry-push"
DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128, "blake3": 64, "gitCommit": 40}
MAX_DATASETS = 1000


class ProvenanceError(SignatureError):
    """A version's provenance is missing, malformed, not bound to it, or refused by a policy."""


def parse_digest(text: str, what: str) -> tuple[str, str]:
    """`ALGO:HEX` (sha256, sha384, sha512 or blake3) to (algo, hex); InvalidInputError otherwise."""
    algo, sep, hexpart = text.partition(":")
    hexpart = hexpart.lower()
    n = DIGEST_LENGTHS.get(algo)
    if not sep or n is None or algo == "gitCommit" or len(hexpart) != n or \
            any(c not in "0123456789abcdef" for c in hexpart):
        raise InvalidInputError(f"{what}: expected a digest ALGO:HEX (sha256, sha384, sha512 or blake3 "
                                f"with its full hex length), got {text!r}")
    return algo, hexpart


Name = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[^\s\x00]+$")]
Short = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[^\x00]+$")]
Commit = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{7,64}$")]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetDoc(_Doc):
    """One dataset as a `--provenance` file gives it."""

    name: Name
    version: Short
    digest: Short  # ALGO:HEX, checked by parse_digest
    uri: Short | None = None


class CodeDoc(_Doc):
    repository: Short | None = None
    commit: Commit


class ProvenanceDoc(_Doc):
    """The `--provenance FILE` YAML (every field optional; options on the command line add to it)."""

    base_model: Short | None = None  # NAME:VERSION in this registry, or NAME@ALGO:HEX from elsewhere
    datasets: list[DatasetDoc] = Field(default_factory=list, max_length=MAX_DATASETS)
    code: CodeDoc | None = None
    run_id: Short | None = None
    builder: Short | None = None


@dataclass(frozen=True)
class Dataset:
    """A dataset a version was trained on."""

    name: str
    version: str
    digest: str  # ALGO:HEX
    uri: str | None = None

    @property
    def label(self) -> str:
        return f"{self.name}:{self.version}"


@dataclass(frozen=True)
class BaseModelRef:
    """The model a version was trained from: a registry version (digest = its recipe) or outside."""

    ref: str
    digest: str | None
    in_registry: bool


@dataclass(frozen=True)
class ProvenanceInput:
    """What a push is told about where the model came from (before it is resolved)."""

    base_model: str | None = None
    datasets: tuple[Dataset, ...] = ()
    code_repository: str | None = None
    code_commit: str | None = None
    run_id: str | None = None
    builder: str | None = None
    pushed_by: str = ""

    @classmethod
    def from_doc(cls, doc: Any, where: str, pushed_by: str = "") -> ProvenanceInput:
        """From a parsed `--provenance` YAML document; InvalidInputError names the field."""
        try:
            d = ProvenanceDoc.model_validate(doc if doc is not None else {})
        except ValidationError as exc:
            e = exc.errors(include_url=False)[0]
            loc = ".".join(str(p) for p in e["loc"]) or "document"
            got = "" if e["type"] in ("missing", "extra_forbidden") else f", got {e.get('input')!r}"
            raise InvalidInputError(f"{where}: {loc}: {e['msg']}{got}") from None
        digests = [":".join(parse_digest(ds.digest, f"{where}: datasets[{i}].digest"))
                   for i, ds in enumerate(d.datasets)]
        return cls(d.base_model, tuple(Dataset(x.name, x.version, dg, x.uri) for x, dg in zip(d.datasets, digests,
                                                                                          strict=True)),
                   d.code.repository if d.code else None, d.code.commit if d.code else None,
                   d.run_id, d.builder, pushed_by)

    def merged(self, other: ProvenanceInput) -> ProvenanceInput:
        """`other`'s values where given (datasets: both lists)."""
        return ProvenanceInput(other.base_model or self.base_model, self.datasets + other.datasets,
                               other.code_repository or self.code_repository,
                               other.code_commit or self.code_commit, other.run_id or self.run_id,
                               other.builder or self.builder, other.pushed_by or self.pushed_by)

    @property
    def empty(self) -> bool:
        return not (self.base_model or self.datasets or self.code_commit or self.run_id)


@dataclass(frozen=True)
class Provenance:
    """A version's provenance as read back from its statement."""

    subject: str
    subject_digest: dict[str, str]
    base_model: BaseModelRef | None
    parent: str | None
    datasets: tuple[Dataset, ...]
    code_repository: str | None
    code_commit: str | None
    run_id: str | None
    builder: str
    pushed_by: str

    def as_dict(self) -> dict[str, Any]:
        """Plain data for `-o json|yaml`."""
        return {"base_model": None if self.base_model is None else {
                    "ref": self.base_model.ref, "digest": self.base_model.digest,
                    "in_registry": self.base_model.in_registry},
                "parent": self.parent,
                "datasets": [{"name": d.name, "version": d.version, "digest": d.digest, "uri": d.uri}
                             for d in self.datasets],
                "code": {"repository": self.code_repository, "commit": self.code_commit},
                "run_id": self.run_id, "builder": self.builder, "pushed_by": self.pushed_by}


def token_subject(token_id: str, role: str, server: str) -> str:
    """How provenance names a pusher who pushed through a server with a token."""
    return f"token {token_id} ({role}) at {server}"


def token_of(pushed_by: str) -> str | None:
    """The token id in a `token_subject` string, or None for a local pusher."""
    kind, _, rest = pushed_by.partition(" ")
    return rest.split(" ", 1)[0] if kind == "token" and rest else None


def local_user() -> str:
    """How provenance names a pusher who wrote to a folder or bucket directly."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid {os.getuid()}"
    return f"user {user}@{socket.gethostname()}"


def signature_digest(signature: str | None) -> str | None:
    """SHA-256 (hex) of an OpenSSF model signature's DSSE payload, or None if unsigned."""
    if signature is None:
        return None
    try:
        payload = base64.b64decode(json.loads(signature)["dsseEnvelope"]["payload"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SignatureError(f"signature is not an OpenSSF model signing bundle: {exc}") from None
    return hashlib.sha256(payload).hexdigest()


def _digest_set(text: str) -> dict[str, str]:
    algo, hexpart = text.split(":", 1)
    return {algo: hexpart}


def build_statement(ref: str, recipe: str, signature: str | None, parent: str | None,
                    base: BaseModelRef | None, given: ProvenanceInput, created: str) -> bytes:
    """The in-toto Statement (SLSA Provenance v1 predicate) of a version, as canonical JSON."""
    digest = {"blake3": recipe}
    sig = signature_digest(signature)
    if sig is not None:
        digest["sha256"] = sig
    deps: list[dict[str, Any]] = []
    if base is not None:
        deps.append({"name": base.ref, "uri": f"fleetyard:{base.ref}" if base.in_registry else base.ref,
                     **({"digest": _digest_set(base.digest)} if base.digest else {}),
                     "annotations": {"role": "base-model", "inRegistry": base.in_registry}})
    if parent is not None:
        deps.append({"name": parent, "uri": f"fleetyard:{parent}", "annotations": {"role": "parent"}})
    for d in given.datasets:
        deps.append({"name": d.name, **({"uri": d.uri} if d.uri else {}), "digest": _digest_set(d.digest),
                     "annotations": {"role": "dataset", "version": d.version}})
    if given.code_commit:
        deps.append({**({"uri": given.code_repository} if given.code_repository else {}),
                     "digest": {"gitCommit": given.code_commit}, "annotations": {"role": "training-code"}})
    external: dict[str, Any] = {
        "baseModel": base.ref if base else None, "parent": parent,
        "datasets": [{"name": d.name, "version": d.version, "digest": d.digest} for d in given.datasets],
        "source": {"repository": given.code_repository, "commit": given.code_commit}}
    metadata: dict[str, Any] = {"finishedOn": created}
    if given.run_id:
        metadata["invocationId"] = given.run_id
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": ref, "digest": digest}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {"buildType": BUILD_TYPE, "externalParameters": external,
                                "internalParameters": {"pushedBy": given.pushed_by},
                                "resolvedDependencies": deps},
            "runDetails": {"builder": {"id": given.builder or DEFAULT_BUILDER}, "metadata": metadata},
        },
    }
    return json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()


def read_statement(payload: bytes, what: str) -> Provenance:
    """Read the facts back from a statement's bytes; ProvenanceError when it is not one of ours."""
    try:
        doc = json.loads(payload)
        if doc.get("_type") != STATEMENT_TYPE or doc.get("predicateType") != PREDICATE_TYPE:
            raise ValueError(f"expected an in-toto Statement v1 with predicateType {PREDICATE_TYPE}")
        (subject,) = doc["subject"]
        bd, rd = doc["predicate"]["buildDefinition"], doc["predicate"]["runDetails"]
        deps = bd.get("resolvedDependencies", [])
        ext = bd.get("externalParameters", {})
        base = next((BaseModelRef(str(d["name"]), _joined(d.get("digest")),
                                  bool(d["annotations"].get("inRegistry")))
                     for d in deps if d["annotations"]["role"] == "base-model"), None)
        datasets = tuple(Dataset(str(d["name"]), str(d["annotations"]["version"]), str(_joined(d["digest"])),
                                 d.get("uri")) for d in deps if d["annotations"]["role"] == "dataset")
        return Provenance(str(subject["name"]), dict(subject["digest"]), base, ext.get("parent"), datasets,
                          ext.get("source", {}).get("repository"), ext.get("source", {}).get("commit"),
                          rd.get("metadata", {}).get("invocationId"), str(rd["builder"]["id"]),
                          str(bd.get("internalParameters", {}).get("pushedBy", "")))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ProvenanceError(f"{what}: provenance statement is malformed: {exc}") from None


def _joined(digest: dict[str, str] | None) -> str | None:
    if not digest:
        return None
    algo, hexpart = next(iter(sorted(digest.items())))
    return f"{algo}:{hexpart}"


def check_binding(prov: Provenance, ref: str, recipe: str, signature: str | None, parent: str | None) -> None:
    """ProvenanceError unless the statement is about exactly this version (name, content,
    model signature and parent)."""
    problems = []
    if prov.subject != ref:
        problems.append(f"it is about {prov.subject}")
    if prov.subject_digest.get("blake3") != recipe:
        problems.append("its blake3 subject digest is not this version's recipe")
    if prov.subject_digest.get("sha256") != signature_digest(signature):
        problems.append("its sha256 subject digest does not match the model signature")
    if prov.parent != parent:
        problems.append(f"it names parent {prov.parent or 'none'}, the manifest {parent or 'none'}")
    if problems:
        raise ProvenanceError(f"{ref}: provenance does not belong to this version: " + "; ".join(problems))


def read_provenance(manifest: VersionManifest) -> Provenance | None:
    """The version's provenance, checked to belong to it but not its signature (None: none recorded)."""
    if manifest.provenance is None:
        return None
    env = _envelope(manifest)
    if env.payload_type != PAYLOAD_TYPE:
        raise ProvenanceError(f"{manifest.ref}: provenance payload type is {env.payload_type!r}, "
                              f"expected {PAYLOAD_TYPE}")
    prov = read_statement(env.payload, manifest.ref)
    check_binding(prov, manifest.ref, manifest.recipe, manifest.signature, manifest.parent)
    return prov


def verify_provenance(manifest: VersionManifest, public_keys: list[Path]) -> tuple[Provenance, Path]:
    """The provenance and the key that signed it; ProvenanceError when it is missing, changed,
    bound to another version, or signed by none of `public_keys`."""
    prov = read_provenance(manifest)
    if prov is None:
        raise ProvenanceError(f"{manifest.ref} has no provenance")
    try:
        key = verify_envelope(_envelope(manifest), public_keys, manifest.ref)
    except SignatureError as exc:
        raise ProvenanceError(str(exc)) from None
    return prov, key


def _envelope(manifest: VersionManifest) -> Envelope:
    assert manifest.provenance is not None
    try:
        return parse_envelope(manifest.provenance, manifest.ref)
    except SignatureError as exc:
        raise ProvenanceError(str(exc)) from None
