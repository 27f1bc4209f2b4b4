"""Encryption at rest: a data key per model, wrapped for each site that may read it.

A model that is pushed encrypted gets one random data key, the same for all its
versions (so a chunk that two versions share is sealed to the same bytes and stored
once). The key never reaches the store in clear: `keys/<name>.json` holds it wrapped
for each recipient's X25519 public key (`sealing.wrap`), and every version's manifest
names the key's public id. A pusher or puller unwraps it with a site private key that
is one of the recipients; `grant` wraps it for one more site without touching a chunk.

`keys/<name>.json`::

    {"format": 1, "model": "support-llm", "key_id": "<hex>", "algorithm": "AES-256-GCM",
     "recipients": [{"fingerprint": "<sha256 hex of the raw public key>", "label": "fra-1",
                     "ephemeral": "<base64>", "sealed": "<base64>", "added": "<time>"}]}
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from fleetyard.registry import layout
from fleetyard.registry.backends.base import Backend, ObjectNotFoundError
from fleetyard.registry.errors import EncryptionError, IntegrityError, InvalidInputError
from fleetyard.registry.manifest import VersionManifest
from fleetyard.registry.names import check_name
from fleetyard.registry.sealing import (
    ALGORITHM,
    ChunkSealer,
    SiteKey,
    Wrapped,
    derive_key_id,
    fingerprint,
    load_public_key,
    new_data_key,
    unwrap,
    wrap,
)

__all__ = [
    "KeysDoc",
    "Recipient",
    "SealPlan",
    "grant",
    "load_recipients",
    "open_version",
    "parse_keys",
    "plan_push",
    "read_keys",
    "recipient_label",
    "write_keys",
]

MAX_KEYS_BYTES = 4 * 1024 * 1024  # ~20,000 recipients
Hex64 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
B64 = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]+={0,2}$", max_length=128)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class RecipientDoc(_Strict):
    fingerprint: Hex64
    label: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._@+-]{1,128}$")]
    ephemeral: B64
    sealed: B64
    added: Annotated[str, StringConstraints(max_length=64)]


class KeysDoc(_Strict):
    """`keys/<name>.json` as stored."""

    format: int = Field(ge=1, le=1)
    model: str
    key_id: Hex64
    algorithm: str = ALGORITHM
    recipients: list[RecipientDoc] = Field(min_length=1, max_length=20_000)

    def labels(self) -> str:
        return ", ".join(sorted(r.label for r in self.recipients))


def parse_keys(data: bytes, key: str) -> KeysDoc:
    """Check a keys object's bytes; IntegrityError names `key` and what is wrong."""
    if len(data) > MAX_KEYS_BYTES:
        raise IntegrityError(f"key object {key}: {len(data):,} bytes, more than {MAX_KEYS_BYTES:,}")
    try:
        doc = KeysDoc.model_validate_json(data)
        check_name(doc.model)
    except (ValidationError, InvalidInputError) as exc:
        first = exc.errors(include_url=False)[0] if isinstance(exc, ValidationError) else None
        why = f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}" if first else str(exc)
        raise IntegrityError(f"key object {key} is malformed: {why}") from None
    if layout.key_doc_key(doc.model) != key:
        raise IntegrityError(f"key object {key} is malformed: it is for model {doc.model!r}")
    return doc


def read_keys(backend: Backend, name: str) -> KeysDoc | None:
    """The wrapped data keys of model `name`, or None if it was never pushed encrypted."""
    key = layout.key_doc_key(check_name(name))
    try:
        data = backend.get(key)
    except ObjectNotFoundError:
        return None
    return parse_keys(data, key)


def write_keys(backend: Backend, doc: KeysDoc, *, new: bool) -> None:
    """Store a keys object; a new one only if no other push created one meanwhile."""
    key = layout.key_doc_key(doc.model)
    data = json.dumps(doc.model_dump(), indent=1, sort_keys=True).encode()
    if new:
        if not backend.put_new(key, data):
            raise EncryptionError(f"another push created the data key of {doc.model} meanwhile; push again "
                                  "with --site-key to use it")
    else:
        backend.put(key, data)


@dataclass(frozen=True)
class Recipient:
    """A site public key to wrap a data key for, and the label it is listed under."""

    public: X25519PublicKey
    label: str

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public)


def recipient_label(path: Path) -> str:
    """`fra-1` for `fra-1.site.pub` or `fra-1.site.pem`."""
    name = path.name
    for suffix in (".pub", ".pem", ".site"):
        name = name.removesuffix(suffix)
    return "".join(c if c.isalnum() or c in "._@+-" else "-" for c in name)[:128] or "site"


def load_recipients(paths: list[Path]) -> list[Recipient]:
    """Site public keys from files, or every `*.site.pub` of a folder."""
    out: list[Recipient] = []
    for p in paths:
        files = sorted(p.glob("*.site.pub")) if p.is_dir() else [p]
        if p.is_dir() and not files:
            raise EncryptionError(f"--encrypt-for {p}: expected NAME.site.pub files there, found none")
        out.extend(Recipient(load_public_key(f), recipient_label(f)) for f in files)
    return out


def _context(name: str, key_id: str) -> bytes:
    return f"{name}|{key_id}".encode()


def _wrapped(r: RecipientDoc) -> Wrapped:
    return Wrapped(r.fingerprint, base64.b64decode(r.ephemeral), base64.b64decode(r.sealed))


def _recipient_doc(data_key: bytes, name: str, key_id: str, r: Recipient, added: str) -> RecipientDoc:
    w = wrap(data_key, r.public, _context(name, key_id))
    return RecipientDoc(fingerprint=w.recipient, label=r.label, ephemeral=base64.b64encode(w.ephemeral).decode(),
                        sealed=base64.b64encode(w.sealed).decode(), added=added)


def _unlock(doc: KeysDoc, key: SiteKey, what: str) -> bytes:
    mine = [r for r in doc.recipients if r.fingerprint == key.fingerprint]
    if not mine:
        raise EncryptionError(
            f"{what} is encrypted and its data key is not wrapped for site key {key.path} "
            f"(fingerprint {key.fingerprint[:16]}…): it is wrapped for {doc.labels()}; "
            f"`registry grant {doc.model} --recipient SITE.site.pub --site-key ...` adds a site")
    data_key = unwrap(_wrapped(mine[0]), key, _context(doc.model, doc.key_id))
    if derive_key_id(data_key).hex() != doc.key_id:
        raise EncryptionError(f"{what}: the data key wrapped for {key.path} does not match key id "
                              f"{doc.key_id[:16]}… (tampered key object?)")
    return data_key


def _load(path: str | os.PathLike[str] | SiteKey | None) -> SiteKey | None:
    return path if isinstance(path, SiteKey) or path is None else SiteKey.load(path)


def open_version(backend: Backend, manifest: VersionManifest,
                 site_key: str | os.PathLike[str] | SiteKey | None) -> ChunkSealer:
    """The sealer of an encrypted version, unwrapped with `site_key`; EncryptionError says why not."""
    assert manifest.encryption is not None
    key = _load(site_key)
    if key is None:
        raise EncryptionError(f"{manifest.ref} is encrypted at rest: pass --site-key with this site's "
                              "private key (`fleetyard keys create --site NAME`)")
    doc = read_keys(backend, manifest.name)
    if doc is None:
        raise EncryptionError(f"{manifest.ref} is encrypted but {layout.key_doc_key(manifest.name)} is missing "
                              f"from {backend.url}: no site can read it")
    if doc.key_id != manifest.encryption.key_id:
        raise EncryptionError(f"{manifest.ref} is sealed under key {manifest.encryption.key_id[:16]}…, but "
                              f"{layout.key_doc_key(manifest.name)} holds key {doc.key_id[:16]}…")
    return ChunkSealer(_unlock(doc, key, manifest.ref))


@dataclass(frozen=True)
class SealPlan:
    """How a push seals its chunks: the sealer, and the keys object to write before the manifest."""

    sealer: ChunkSealer
    doc: KeysDoc
    new: bool  # the keys object does not exist yet
    changed: bool  # recipients were added


def _add(doc: KeysDoc, data_key: bytes, recipients: list[Recipient], added: str) -> KeysDoc:
    have = {r.fingerprint for r in doc.recipients}
    extra: list[RecipientDoc] = []
    for r in recipients:
        if r.fingerprint not in have:
            extra.append(_recipient_doc(data_key, doc.model, doc.key_id, r, added))
            have.add(r.fingerprint)
    return doc.model_copy(update={"recipients": [*doc.recipients, *extra]}) if extra else doc


def plan_push(backend: Backend, name: str, recipients: list[Recipient],
              site_key: str | os.PathLike[str] | SiteKey | None, now: str) -> SealPlan | None:
    """The data key a push of `name` seals with (None: a plain push, as before).

    A model pushed encrypted once stays encrypted: a later push needs `site_key`, one of
    its recipients, to unwrap the same key (new recipients are added). A first encrypted
    push makes a new key, wrapped for `recipients` and for `site_key`'s own public key."""
    key = _load(site_key)
    doc = read_keys(backend, name)
    if doc is None:
        if not recipients and key is None:
            return None
        data_key = new_data_key()
        key_id = derive_key_id(data_key).hex()
        everyone = list(recipients) + ([Recipient(key.public, recipient_label(key.path))] if key else [])
        first, rest = everyone[0], everyone[1:]
        doc = KeysDoc(format=1, model=name, key_id=key_id,
                      recipients=[_recipient_doc(data_key, name, key_id, first, now)])
        return SealPlan(ChunkSealer(data_key), _add(doc, data_key, rest, now), new=True, changed=True)
    if key is None:
        raise EncryptionError(f"model {name} is encrypted at rest ({layout.key_doc_key(name)}, for "
                              f"{doc.labels()}): pass --site-key with one of its recipients' private keys "
                              "to push a version under its data key")
    data_key = _unlock(doc, key, f"model {name}")
    updated = _add(doc, data_key, recipients, now)
    return SealPlan(ChunkSealer(data_key), updated, new=False, changed=updated is not doc)


def grant(backend: Backend, name: str, recipients: list[Recipient],
          site_key: str | os.PathLike[str] | SiteKey, now: str) -> tuple[KeysDoc, int]:
    """Wrap model `name`'s data key for more sites; returns the keys object and how many were added."""
    doc = read_keys(backend, name)
    if doc is None:
        raise EncryptionError(f"model {name} is not encrypted in {backend.url}: nothing to grant "
                              "(push it with --encrypt-for first)")
    key = _load(site_key)
    assert key is not None
    data_key = _unlock(doc, key, f"model {name}")
    updated = _add(doc, data_key, recipients, now)
    if updated is not doc:
        write_keys(backend, updated, new=False)
    return updated, len(updated.recipients) - len(doc.recipients)
