"""The schema of the registry's small JSON objects: version manifests and aliases.

Both are read by every listing and pull, and both can be written by anyone with a
writer token through the server's object API, so both are checked on write (the server
refuses a bad one with 422) and on read (a listing skips and reports a bad one already
stored; `pull` and `verify` refuse it). What is checked: the JSON shape and types
(strict: no `"1"` for 1, no unknown field), names and versions by the rules of
`names`, file paths by `paths` (relative, inside the version folder, no NUL), content
ids and recipe names as BLAKE3 hex, modes as push writes them (0644, 0755: never
set-uid), sizes (non-negative, the total the sum of the files) and the bounds below.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from fleetyard.registry.errors import InvalidNameError
from fleetyard.registry.names import check_name, check_version, parse_ref
from fleetyard.registry.paths import paths_problem

__all__ = [
    "MAX_ALIAS_BYTES",
    "MAX_FILES",
    "MAX_FILE_SIZE",
    "MAX_MANIFEST_BYTES",
    "AliasDoc",
    "ManifestDoc",
    "SchemaError",
    "labels_problem",
    "parse_alias",
    "parse_manifest",
]

MANIFEST_FORMAT = 1
MANIFEST_FORMAT_PROVENANCE = 2  # a manifest with a `provenance` envelope; without one it stays format 1
MANIFEST_FORMAT_ENCRYPTED = 3  # a manifest with `encryption` (chunks sealed, docs/encryption.md), provenance or not
MAX_MANIFEST_BYTES = 64 * 1024 * 1024  # 1,000,000 files at ~60 bytes each, and the signature listing them again
MAX_ALIAS_BYTES = 4096  # {"version": ..., "updated": ...} is ~80 bytes
MAX_FILES = 1_000_000
MAX_FILE_SIZE = 1 << 50  # 1 PiB; a recipe entry can describe 2^32 chunks of <= 256 KiB
MAX_LABELS = 1000
MAX_LABEL_KEY = 256
MAX_LABEL_VALUE = 4096


class SchemaError(ValueError):
    """A stored or uploaded object does not follow its schema; the message says where and why."""


def _no_nul(text: str) -> str:
    if "\0" in text:
        raise ValueError("contains a NUL character")
    return text


def _timestamp(text: str) -> str:
    try:
        dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"expected an ISO 8601 time such as 2025-01-31T12:00:00Z, got {text!r}") from None
    return text


def _checked(check: Any) -> AfterValidator:
    def run(value: str) -> str:
        try:
            return str(check(value))
        except InvalidNameError as exc:  # its message is the reason
            raise ValueError(str(exc)) from None
    return AfterValidator(run)


Hex64 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Text = Annotated[str, AfterValidator(_no_nul)]
Timestamp = Annotated[str, StringConstraints(max_length=64), AfterValidator(_timestamp)]
ModelName = Annotated[str, _checked(check_name)]
Version = Annotated[str, _checked(check_version)]
VersionRef = Annotated[str, StringConstraints(max_length=256), _checked(lambda r: str(parse_ref(r, allow_alias=False)))]
Count = Annotated[int, Field(ge=0, le=MAX_FILE_SIZE * MAX_FILES)]


Labels = dict[Annotated[Text, StringConstraints(min_length=1, max_length=MAX_LABEL_KEY)],
              Annotated[Text, StringConstraints(max_length=MAX_LABEL_VALUE)]]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class FileDoc(_Strict):
    path: str  # checked with the other paths of the manifest (`paths_problem`)
    size: int = Field(ge=0, le=MAX_FILE_SIZE)
    mode: Literal[0o644, 0o755]  # what push records: executable or not
    digest: Hex64


class EncryptionDoc(_Strict):
    """How a version's chunks are sealed: the public id of the model's data key."""

    key_id: Hex64
    algorithm: Literal["AES-256-GCM"]
    scheme: Literal["fleetyard-sealed-chunk-v1"]


class ManifestDoc(_Strict):
    """`versions/<name>/<version>.json` as stored (`VersionManifest.to_json`)."""

    format: Literal[1, 2, 3]  # MANIFEST_FORMAT; _PROVENANCE with `provenance`; _ENCRYPTED with `encryption`
    name: ModelName
    version: Version
    created: Timestamp
    size: Count
    files: list[FileDoc] = Field(min_length=1, max_length=MAX_FILES)
    recipe: Hex64
    chunk_count: Count
    parent: VersionRef | None = None
    labels: Annotated[Labels, Field(max_length=MAX_LABELS)] = Field(default_factory=dict)
    signature: Text | None = None
    stored_bytes_added: Count = 0
    raw_bytes_added: Count = 0
    provenance: Text | None = None  # DSSE JSON; its content is checked by `registry.provenance`
    encryption: EncryptionDoc | None = None


_LABELS: TypeAdapter[dict[str, str]] = TypeAdapter(Annotated[Labels, Field(max_length=MAX_LABELS)])


class AliasDoc(_Strict):
    """`aliases/<name>/<alias>.json` as stored (`Store.set_alias`)."""

    version: Version
    updated: Timestamp | None = None


def _first_errors(exc: ValidationError, prefix: tuple[str, ...] = (), limit: int = 3) -> str:
    out = []
    for e in exc.errors(include_url=False)[:limit]:
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in (*prefix, *e["loc"])).lstrip(".")
        msg = str(e["msg"]).removeprefix("Value error, ")
        if e["type"] in ("missing", "extra_forbidden", "json_invalid", "recursion_loop"):
            shown = ""
        else:
            got = repr(e.get("input"))
            shown = f", got {got[:60]}{'...' if len(got) > 60 else ''}"
        out.append(f"{loc or 'document'}: {msg}{shown}")
    more = exc.error_count() - limit
    return "; ".join(out) + (f"; and {more} more" if more > 0 else "")


def parse_manifest(data: bytes) -> ManifestDoc:
    """Check a manifest's bytes against the schema; SchemaError says what is wrong."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise SchemaError(f"{len(data):,} bytes, more than {MAX_MANIFEST_BYTES:,}")
    try:
        doc = ManifestDoc.model_validate_json(data)
    except ValidationError as exc:
        raise SchemaError(_first_errors(exc)) from None
    if (doc.format == MANIFEST_FORMAT_ENCRYPTED) != (doc.encryption is not None):
        raise SchemaError(f"format {doc.format} with{'out' if doc.encryption is None else ''} encryption: "
                          f"expected format {MANIFEST_FORMAT_ENCRYPTED} exactly when encryption is recorded")
    if doc.encryption is None and (doc.format == MANIFEST_FORMAT_PROVENANCE) != (doc.provenance is not None):
        raise SchemaError(f"format {doc.format} with{'out' if doc.provenance is None else ''} provenance: "
                          f"expected format {MANIFEST_FORMAT_PROVENANCE} exactly when provenance is recorded")
    why = paths_problem(f.path for f in doc.files)
    if why is not None:
        raise SchemaError(why)
    total = sum(f.size for f in doc.files)
    if doc.size != total:
        raise SchemaError(f"size {doc.size} is not the sum of the file sizes, {total}")
    return doc


def labels_problem(labels: dict[str, str]) -> str | None:
    """Why these labels cannot go into a manifest (checked before a push does any work)."""
    try:
        _LABELS.validate_python(labels, strict=True)
    except ValidationError as exc:
        return _first_errors(exc, ("labels",))
    return None


def parse_alias(data: bytes) -> AliasDoc:
    """Check an alias object's bytes against the schema; SchemaError says what is wrong."""
    if len(data) > MAX_ALIAS_BYTES:
        raise SchemaError(f"{len(data):,} bytes, more than {MAX_ALIAS_BYTES:,}")
    try:
        return AliasDoc.model_validate_json(data)
    except ValidationError as exc:
        raise SchemaError(_first_errors(exc)) from None
