"""Version manifests and recipes: what a version is made of.

A version is two objects. The *recipe* (`recipes/<blake3>`) is binary: for each
file, its chunk names and lengths in order (36 bytes per chunk, ~600 KB per GB);
it is named by its own BLAKE3 hash, so it is verified on every read. The *manifest*
(`versions/<name>/<version>.json`) is small JSON — metadata, the file list, the
recipe's hash, the signature and (format 2) the signed provenance — and writing it is the commit point of a push. Every
manifest read is checked against its schema (`registry.schema`) first.
"""

from __future__ import annotations

import json
import struct
from dataclasses import asdict, dataclass, field
from typing import Any

import blake3

from fleetyard.registry.errors import IntegrityError
from fleetyard.registry.schema import (
    MANIFEST_FORMAT,
    MANIFEST_FORMAT_ENCRYPTED,
    MANIFEST_FORMAT_PROVENANCE,
    SchemaError,
    parse_manifest,
)
from fleetyard.registry.sealing import scoped_id

__all__ = [
    "Encryption",
    "FileEntry",
    "Recipe",
    "VersionManifest",
    "content_id",
    "decode_recipe",
    "encode_recipe",
    "stored_recipe",
]

RECIPE_MAGIC = b"FYRCP001"
_REC = struct.Struct("<32sI")
_U32 = struct.Struct("<I")

# One file's chunks: (BLAKE3 name, raw length) in file order.
ChunkList = list[tuple[bytes, int]]


@dataclass(frozen=True)
class FileEntry:
    """One file of a version: relative POSIX path, size, mode bits, content id."""

    path: str
    size: int
    mode: int
    digest: str


@dataclass(frozen=True)
class Encryption:
    """A version whose chunks are sealed under its model's data key (`registry.sealing`)."""

    key_id: str  # the data key's public id (hex); chunks are stored under ids scoped by it
    algorithm: str = "AES-256-GCM"
    scheme: str = "fleetyard-sealed-chunk-v1"


@dataclass(frozen=True)
class VersionManifest:
    """Everything recorded about one immutable `name:version`."""

    name: str
    version: str
    created: str
    size: int
    files: tuple[FileEntry, ...]
    recipe: str
    chunk_count: int
    parent: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    signature: str | None = None
    stored_bytes_added: int = 0
    raw_bytes_added: int = 0
    provenance: str | None = None  # a DSSE envelope of an in-toto statement (`registry.provenance`)
    encryption: Encryption | None = None  # format 3: chunks sealed (docs/encryption.md)

    @property
    def ref(self) -> str:
        """`name:version`."""
        return f"{self.name}:{self.version}"

    @property
    def signed(self) -> bool:
        """Whether an OpenSSF model signing signature travels with this version."""
        return self.signature is not None

    def to_json(self) -> bytes:
        """Serialize for storage (stable key order)."""
        doc = asdict(self)
        doc["format"] = MANIFEST_FORMAT
        if self.provenance is None:  # a version without provenance is stored as before (format 1)
            del doc["provenance"]
        else:
            doc["format"] = MANIFEST_FORMAT_PROVENANCE
        if self.encryption is None:
            del doc["encryption"]
        else:
            doc["format"] = MANIFEST_FORMAT_ENCRYPTED
        return json.dumps(doc, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes, where: str) -> VersionManifest:
        """Parse a stored manifest; IntegrityError names `where` and the first things wrong
        if it does not follow the schema (`registry.schema`)."""
        try:
            doc = parse_manifest(data)
        except SchemaError as exc:
            raise IntegrityError(f"manifest {where} is malformed: {exc}") from None
        fields: dict[str, Any] = dict(doc)
        del fields["format"]
        fields["files"] = tuple(FileEntry(**dict(f)) for f in doc.files)
        if doc.encryption is not None:
            fields["encryption"] = Encryption(**dict(doc.encryption))
        return cls(**fields)


@dataclass(frozen=True)
class Recipe:
    """The chunk lists of a version's files, in the manifest's file order."""

    files: tuple[ChunkList, ...]

    def all_chunks(self) -> set[bytes]:
        """The distinct chunk names the version needs."""
        return {d for chunks in self.files for d, _ in chunks}


def content_id(chunks: ChunkList) -> str:
    """A file's content id: BLAKE3 over its chunk names and lengths (hex)."""
    h = blake3.blake3()
    for d, n in chunks:
        h.update(_REC.pack(d, n))
    return h.hexdigest()


def encode_recipe(recipe: Recipe) -> tuple[bytes, str]:
    """Serialize a recipe; returns the bytes and their BLAKE3 name (hex)."""
    out = bytearray(RECIPE_MAGIC)
    out += _U32.pack(len(recipe.files))
    for chunks in recipe.files:
        out += _U32.pack(len(chunks))
        for d, n in chunks:
            out += _REC.pack(d, n)
    data = bytes(out)
    return data, blake3.blake3(data).hexdigest()


def decode_recipe(data: bytes, expected: str, where: str) -> Recipe:
    """Parse a recipe after checking it hashes to `expected`."""
    if blake3.blake3(data).hexdigest() != expected:
        raise IntegrityError(f"recipe {where} does not match its hash {expected}")
    try:
        if data[:8] != RECIPE_MAGIC:
            raise ValueError("bad magic")
        (count,) = _U32.unpack_from(data, 8)
        pos = 12
        files = []
        for _ in range(count):
            (n,) = _U32.unpack_from(data, pos)
            pos += 4
            files.append([_REC.unpack_from(data, pos + i * _REC.size) for i in range(n)])
            pos += n * _REC.size
        if pos != len(data):
            raise ValueError("trailing bytes")
    except (ValueError, struct.error) as exc:
        raise IntegrityError(f"recipe {where} is malformed: {exc}") from exc
    return Recipe(tuple(files))


def stored_recipe(manifest: VersionManifest, recipe: Recipe) -> Recipe:
    """The recipe with the names its chunks are stored under: the chunk ids themselves, or
    for an encrypted version the ids scoped by its key id (`sealing.scoped_id`)."""
    if manifest.encryption is None:
        return recipe
    key_id = bytes.fromhex(manifest.encryption.key_id)
    return Recipe(tuple([(scoped_id(d, key_id), n) for d, n in chunks] for chunks in recipe.files))
