"""DSSE envelopes (Dead Simple Signing Envelope, the wrapper of in-toto attestations).

`sign_envelope` signs a payload with a PEM EC private key (ECDSA P-256, SHA-256: the
curve `model_signing` signs with, so one release key signs both the model and its
provenance); `verify_envelope` checks it against public keys, offline. The signature
covers the DSSE pre-authentication encoding (PAE) of the payload type and the payload
bytes, so changing either breaks it. Only `cryptography` is used: no new dependency.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fleetyard.registry.errors import SignatureError, SigningKeyError

__all__ = ["Envelope", "key_id", "pae", "parse_envelope", "sign_envelope", "verify_envelope"]


@dataclass(frozen=True)
class Envelope:
    """A parsed DSSE envelope: payload type, payload bytes, (keyid, signature) pairs."""

    payload_type: str
    payload: bytes
    signatures: tuple[tuple[str, bytes], ...]

    def to_json(self) -> str:
        """The envelope as DSSE JSON (base64 payload and signatures)."""
        return json.dumps({
            "payloadType": self.payload_type,
            "payload": base64.b64encode(self.payload).decode(),
            "signatures": [{"keyid": k, "sig": base64.b64encode(s).decode()} for k, s in self.signatures],
        }, sort_keys=True)


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what the signature covers."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """A key's id: SHA-256 of its DER SubjectPublicKeyInfo (hex), as the envelope names it."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def _load_private(path: str | os.PathLike[str], password: str | None) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password.encode() if password else None)
    except (OSError, ValueError, TypeError) as exc:
        raise SigningKeyError(f"signing key {path}: cannot load it: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SigningKeyError(f"signing key {path}: expected an elliptic-curve key")
    return key


def load_public(path: str | os.PathLike[str]) -> ec.EllipticCurvePublicKey:
    """A PEM EC public key; SigningKeyError naming the file otherwise."""
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise SigningKeyError(f"public key {path}: cannot load it: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise SigningKeyError(f"public key {path}: expected an elliptic-curve key")
    return key


def sign_envelope(payload_type: str, payload: bytes, key: str | os.PathLike[str] | None,
                  password: str | None = None) -> Envelope:
    """The envelope of `payload`, signed with `key` (no key: an envelope without signatures)."""
    if key is None:
        return Envelope(payload_type, payload, ())
    private = _load_private(key, password)
    sig = private.sign(pae(payload_type, payload), ec.ECDSA(hashes.SHA256()))
    return Envelope(payload_type, payload, ((key_id(private.public_key()), sig),))


def parse_envelope(text: str, what: str) -> Envelope:
    """Parse DSSE JSON; SignatureError naming `what` when it is not an envelope."""
    try:
        doc: Any = json.loads(text)
        sigs = tuple((str(s.get("keyid", "")), base64.b64decode(s["sig"], validate=True))
                     for s in doc["signatures"])
        return Envelope(str(doc["payloadType"]), base64.b64decode(doc["payload"], validate=True), sigs)
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise SignatureError(f"{what}: provenance is not a DSSE envelope: {exc}") from None


def verify_envelope(env: Envelope, public_keys: list[Path], what: str) -> Path:
    """The key (of `public_keys`) whose signature verifies the envelope; SignatureError otherwise."""
    if not env.signatures:
        raise SignatureError(f"{what}: provenance is unsigned (push it with --key)")
    message = pae(env.payload_type, env.payload)
    for path in public_keys:
        public = load_public(path)
        for _kid, sig in env.signatures:
            try:
                public.verify(sig, message, ec.ECDSA(hashes.SHA256()))
                return path
            except InvalidSignature:
                continue
    names = ", ".join(p.name for p in public_keys) or "none given"
    raise SignatureError(f"{what}: provenance signature does not verify with any of the keys ({names}): "
                         "it was signed by another key or changed after signing")
