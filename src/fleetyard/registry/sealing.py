"""The cryptography of encryption at rest: sealed chunks, site keys and wrapped data keys.

Everything here is pure and deterministic given its inputs (docs/encryption.md):

* A model's **data key** is 32 random bytes. HKDF-SHA256 derives from it an AES-256-GCM
  key, a nonce key and a public **key id** (`derive_key_id`).
* A chunk stored under a data key is named by its **scoped id**, BLAKE3 of the chunk id
  (BLAKE3 of the plaintext) keyed with the key id: public, so gc and `missing_chunks`
  need no secret, and different keys never share a stored chunk.
* A **sealed chunk record** is `codec || AES-256-GCM(key, nonce, body, aad=scoped id || codec)`
  (codec: the body is raw or zstd) followed by a keyless checksum
  `BLAKE3(codec || ciphertext, key=scoped id)`. The nonce is the
  first 12 bytes of HMAC-SHA256(nonce key, scoped id): deterministic, so the same
  chunk sealed twice under one key is the same bytes (dedup across versions) and a
  nonce repeats only for the same plaintext. The checksum lets a site, a relay or
  `registry verify` catch a corrupted record without the key; the GCM tag catches a
  forged one.
* A **site key** is an X25519 key pair. A data key is wrapped for a site's public key
  with a sealed box: a fresh ephemeral X25519 key, ECDH, HKDF-SHA256 (salt: both public
  keys; info: the model name and key id) to a one-time ChaCha20-Poly1305 key, zero nonce.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path

import blake3
import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from fleetyard.registry.errors import EncryptionError, IntegrityError

__all__ = [
    "ALGORITHM",
    "SCHEME",
    "ChunkSealer",
    "SiteKey",
    "Wrapped",
    "check_record",
    "derive_key_id",
    "fingerprint",
    "load_public_key",
    "new_data_key",
    "new_site_key",
    "scoped_id",
    "unwrap",
    "wrap",
]

ALGORITHM = "AES-256-GCM"
SCHEME = "fleetyard-sealed-chunk-v1"
TAG = 16
CHECKSUM = 32
_INNER_RAW, _INNER_ZSTD = 0, 1
_WRAP_INFO = b"fleetyard wrap v1|"


def _hkdf(secret: bytes, info: bytes, salt: bytes | None = None) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(secret)


def new_data_key() -> bytes:
    """A fresh random 256-bit data key for one model."""
    return os.urandom(32)


def derive_key_id(data_key: bytes) -> bytes:
    """The public 32-byte id of a data key (it names the key, it does not reveal it)."""
    return _hkdf(data_key, b"fleetyard key id v1")


def scoped_id(chunk_id: bytes, key_id: bytes) -> bytes:
    """The name a chunk is stored under when sealed with the data key whose id is `key_id`."""
    return blake3.blake3(chunk_id, key=key_id).digest()


def _split(record: bytes | memoryview, stored_id: bytes) -> tuple[memoryview, memoryview]:
    view = memoryview(record)
    if len(view) < 1 + TAG + CHECKSUM:
        raise IntegrityError(f"sealed chunk {stored_id.hex()} is truncated ({len(view)} bytes)")
    return view[:-CHECKSUM], view[-CHECKSUM:]


def check_record(record: bytes | memoryview, stored_id: bytes) -> None:
    """Check a sealed record's keyless checksum (corruption, not forgery); IntegrityError if it fails."""
    body, checksum = _split(record, stored_id)
    if blake3.blake3(body, key=stored_id).digest() != checksum:
        raise IntegrityError(f"sealed chunk {stored_id.hex()} does not match its checksum")


class ChunkSealer:
    """Seals and opens chunk records under one data key (picklable: pack writers fork)."""

    def __init__(self, data_key: bytes) -> None:
        self.data_key = data_key
        self.key_id = derive_key_id(data_key)
        self._aead = AESGCM(_hkdf(data_key, b"fleetyard chunk key v1"))
        self._nonce_key = _hkdf(data_key, b"fleetyard chunk nonce v1")

    def __reduce__(self) -> tuple[type[ChunkSealer], tuple[bytes]]:
        return ChunkSealer, (self.data_key,)

    def _nonce(self, stored_id: bytes) -> bytes:
        return hmac.new(self._nonce_key, stored_id, hashlib.sha256).digest()[:12]

    def scoped(self, chunk_id: bytes) -> bytes:
        """`scoped_id` under this key."""
        return scoped_id(chunk_id, self.key_id)

    def seal(self, stored_id: bytes, plaintext: bytes, *, compress: bool = False) -> bytes:
        """The record for one chunk: deterministic for a given key and chunk."""
        body, inner = plaintext, _INNER_RAW
        if compress:
            packed = zstandard.ZstdCompressor(level=1).compress(plaintext)
            if len(packed) < len(plaintext):
                body, inner = packed, _INNER_ZSTD
        head = bytes([inner])
        out = head + self._aead.encrypt(self._nonce(stored_id), body, stored_id + head)
        return out + blake3.blake3(out, key=stored_id).digest()

    def open(self, stored_id: bytes, record: bytes | memoryview, chunk_id: bytes, size: int) -> bytes:
        """The plaintext of a record, checked against its chunk id and size.

        IntegrityError when the GCM tag (a corrupted, tampered or forged record, or one
        sealed under another key) or the plaintext's BLAKE3 does not match. The keyless
        checksum is not needed here (the tag is stronger): `check_record` is for holders
        without the key."""
        sealed, _ = _split(record, stored_id)
        codec = sealed[0]
        try:
            body = self._aead.decrypt(self._nonce(stored_id), sealed[1:], stored_id + bytes([codec]))
        except InvalidTag:
            raise IntegrityError(
                f"sealed chunk {stored_id.hex()} fails authentication: tampered, or sealed under another key"
            ) from None
        try:
            plain = zstandard.ZstdDecompressor().decompress(body, max_output_size=size) if codec else body
        except zstandard.ZstdError as exc:
            raise IntegrityError(f"sealed chunk {stored_id.hex()} does not decompress: {exc}") from None
        if len(plain) != size or blake3.blake3(plain).digest() != chunk_id:
            raise IntegrityError(f"sealed chunk {stored_id.hex()} does not match chunk {chunk_id.hex()}")
        return plain


# ---- site keys ------------------------------------------------------------------------


def fingerprint(public: X25519PublicKey) -> str:
    """SHA-256 of the raw public key (hex): how a wrapped key names its recipient."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def _raw(public: X25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class SiteKey:
    """A site's X25519 private key, loaded from its PEM file."""

    private: X25519PrivateKey
    path: Path

    @property
    def public(self) -> X25519PublicKey:
        return self.private.public_key()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SiteKey:
        """Read a site private key; EncryptionError says what the file is instead."""
        p = Path(path)
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise EncryptionError(f"site key {p}: cannot read it: {exc.strerror or exc}") from None
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise EncryptionError(f"site key {p}: expected an X25519 private key in PEM "
                                  f"(`fleetyard keys create --site NAME`), found something else: {exc}") from None
        if not isinstance(key, X25519PrivateKey):
            raise EncryptionError(f"site key {p}: expected an X25519 private key, found a "
                                  f"{type(key).__name__.removeprefix('_')} (a signing key?)")
        return cls(key, p)


def new_site_key() -> tuple[bytes, bytes]:
    """A new X25519 key pair as (private PKCS#8 PEM, public SubjectPublicKeyInfo PEM)."""
    key = X25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def load_public_key(path: str | os.PathLike[str]) -> X25519PublicKey:
    """Read a site public key (PEM); EncryptionError if it is missing or not X25519."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise EncryptionError(f"recipient {p}: cannot read it: {exc.strerror or exc}") from None
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise EncryptionError(f"recipient {p}: expected an X25519 public key in PEM (NAME.site.pub from "
                              f"`fleetyard keys create --site NAME`), found something else: {exc}") from None
    if not isinstance(key, X25519PublicKey):
        raise EncryptionError(f"recipient {p}: expected an X25519 public key, found a "
                              f"{type(key).__name__.removeprefix('_')} (a signing key?)")
    return key


@dataclass(frozen=True)
class Wrapped:
    """A data key sealed for one recipient."""

    recipient: str  # fingerprint of the recipient's public key
    ephemeral: bytes  # raw X25519 public key, 32 bytes
    sealed: bytes  # ChaCha20-Poly1305 ciphertext and tag of the data key, 48 bytes


def _kek(shared: bytes, ephemeral: bytes, recipient: bytes, context: bytes) -> ChaCha20Poly1305:
    return ChaCha20Poly1305(_hkdf(shared, _WRAP_INFO + context, salt=ephemeral + recipient))


def wrap(data_key: bytes, recipient: X25519PublicKey, context: bytes) -> Wrapped:
    """Seal `data_key` so only the holder of `recipient`'s private key can open it."""
    eph = X25519PrivateKey.generate()
    eph_raw, rcpt_raw = _raw(eph.public_key()), _raw(recipient)
    kek = _kek(eph.exchange(recipient), eph_raw, rcpt_raw, context)
    return Wrapped(fingerprint(recipient), eph_raw, kek.encrypt(b"\0" * 12, data_key, context))


def unwrap(w: Wrapped, key: SiteKey, context: bytes) -> bytes:
    """Open a wrapped data key with a site's private key; EncryptionError if it is not for it."""
    if w.recipient != key.fingerprint:
        raise EncryptionError(f"the wrapped key is for recipient {w.recipient[:16]}…, not for {key.path}")
    try:
        eph = X25519PublicKey.from_public_bytes(w.ephemeral)
        kek = _kek(key.private.exchange(eph), w.ephemeral, _raw(key.public), context)
        return kek.decrypt(b"\0" * 12, w.sealed, context)
    except (InvalidTag, ValueError):
        raise EncryptionError(f"the data key wrapped for {key.path} fails authentication "
                              "(tampered key object?)") from None
