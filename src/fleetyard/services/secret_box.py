"""Encryption of Secret values at rest (issue 14, item 2; docs/secrets.md).

Each value is sealed on its own with AES-256-GCM (`cryptography`) under the server's
master key: a fresh random 96-bit nonce per value, and the Secret's name and key as
associated data, so a ciphertext moved to another Secret or key does not open. The
stored form is one string, which the spec loader reads like any other value:

    fyenc:v1:<key id>:<nonce, base64url>:<ciphertext and tag, base64url>

The key id (8 hex digits of SHA-256 of the key) says which key sealed a value: a server
with another key answers "sealed with key 1a2b3c4d, this server's key is 5e6f7a8b", and
a changed byte anywhere answers "tampered with", never wrong plain text.

The master key is 32 random bytes, base64 in a file only its owner can read
(`fleetyard server --secrets-key FILE`, FLEETYARD_SECRETS_KEY_FILE; default
DATA/secrets.key, made at the first start). `digest` is what `get secrets` shows of a
value: HMAC-SHA256 under a key derived from the master key (HKDF), so two applies can
be compared without the value being guessable from it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from fleetyard.spec.secret import ENCRYPTED_PREFIX

__all__ = ["KEY_FILE_NAME", "SecretBox", "SecretKeyError", "SecretUnreadable", "is_sealed", "key_id_of",
           "load_or_create_key"]

KEY_BYTES = 32
NONCE_BYTES = 12
VERSION = "v1"
KEY_FILE_NAME = "secrets.key"


class SecretKeyError(Exception):
    """The master key file cannot be read or made, or holds no key (the message says which)."""


class SecretUnreadable(Exception):
    """A stored value does not open: tampered with, sealed with another key, or not a sealed value."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id_of(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(ENCRYPTED_PREFIX)


def _aad(secret: str, key: str) -> bytes:
    return f"fleetyard/v1 Secret\x00{secret}\x00{key}".encode()


@dataclass(frozen=True)
class SecretBox:
    """Seal and open Secret values with one master key."""

    key: bytes

    def __post_init__(self) -> None:
        if len(self.key) != KEY_BYTES:
            raise SecretKeyError(f"expected a {KEY_BYTES}-byte key, got {len(self.key)} bytes")

    @classmethod
    def generate(cls) -> SecretBox:
        return cls(AESGCM.generate_key(bit_length=KEY_BYTES * 8))

    @property
    def key_id(self) -> str:
        return key_id_of(self.key)

    def seal(self, secret: str, key: str, value: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.key).encrypt(nonce, value.encode("utf-8", "surrogatepass"), _aad(secret, key))
        return f"{ENCRYPTED_PREFIX}{VERSION}:{self.key_id}:{_b64(nonce)}:{_b64(sealed)}"

    def open(self, secret: str, key: str, stored: str) -> str:
        """The plain text of a stored value (SecretUnreadable naming the Secret and key if it does not open)."""
        where = f"Secret {secret} key {key}"
        parts = stored.split(":") if is_sealed(stored) else []
        if len(parts) != 5 or parts[1] != VERSION:
            raise SecretUnreadable(f"{where}: the stored value is not a sealed value of format {VERSION}")
        _, _, kid, nonce_text, body_text = parts
        if kid != self.key_id:
            raise SecretUnreadable(f"{where}: sealed with key {kid}, this server's key is {self.key_id} "
                                   "(start the server with the key it was stored with: --secrets-key)")
        try:
            nonce, body = _unb64(nonce_text), _unb64(body_text)
        except (binascii.Error, ValueError):
            raise SecretUnreadable(f"{where}: the stored value is damaged (not base64)") from None
        if len(nonce) != NONCE_BYTES:
            raise SecretUnreadable(f"{where}: the stored value is damaged (nonce of {len(nonce)} bytes)")
        try:
            plain = AESGCM(self.key).decrypt(nonce, body, _aad(secret, key))
        except InvalidTag:
            raise SecretUnreadable(f"{where}: the stored value was tampered with or belongs to another "
                                   "Secret or key (AES-GCM authentication failed); apply the Secret again") from None
        return plain.decode("utf-8", "surrogatepass")

    def digest(self, secret: str, key: str, value: str) -> str:
        """12 hex digits identifying a value without revealing it (HMAC under a derived key)."""
        mac_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                       info=b"fleetyard secrets digest").derive(self.key)
        mac = hmac.new(mac_key, _aad(secret, key) + b"\x00" + value.encode("utf-8", "surrogatepass"),
                       hashlib.sha256)
        return mac.hexdigest()[:12]

    def to_text(self) -> str:
        return base64.b64encode(self.key).decode("ascii") + "\n"


def _read_key(path: Path) -> SecretBox:
    try:
        text = path.read_text(encoding="ascii").strip()
    except UnicodeDecodeError:
        raise SecretKeyError(f"secrets key {path}: expected one line of base64 (32 bytes), got binary data") from None
    except OSError as exc:
        raise SecretKeyError(f"secrets key {path}: cannot read it: {exc.strerror or exc}") from None
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SecretKeyError(f"secrets key {path}: expected one line of base64 (32 bytes), got other text") from None
    if len(key) != KEY_BYTES:
        raise SecretKeyError(f"secrets key {path}: expected {KEY_BYTES} bytes of key, got {len(key)}")
    return SecretBox(key)


def load_or_create_key(path: Path, *, create: bool) -> tuple[SecretBox, bool]:
    """The key in `path`; when absent and `create`, a new one written there (mode 0600,
    never overwriting a file made meanwhile). Returns the box and whether it was made."""
    if path.exists() or not create:
        if not path.exists():
            raise SecretKeyError(f"secrets key {path}: no such file")
        return _read_key(path), False
    box = SecretBox.generate()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another server process made it first: use that one
        return _read_key(path), False
    except OSError as exc:
        raise SecretKeyError(f"secrets key {path}: cannot create it: {exc.strerror or exc}") from None
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(box.to_text())
        f.flush()
        os.fsync(f.fileno())
    return box, True
