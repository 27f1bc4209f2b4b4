"""Signatures in the OpenSSF model signing format (the `model-signing` package).

A push with a private EC key signs the model folder with `model_signing`'s public
API, using the same settings as its CLI (file-level SHA-256 digests; `model.sig`
and git metadata ignored): the upstream `verify key` command hashes with its own
defaults rather than the signature's, so other settings would not verify there.
The Sigstore bundle is stored inside the version manifest, so it travels with the
version through exports and replication.
`pull` writes it back as `model.sig`, where the upstream tool verifies it offline:
`model_signing verify key DIR --signature DIR/model.sig --public_key KEY.pub`.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from pathlib import Path
from typing import Any, cast

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fleetyard.registry.errors import SignatureError, SigningKeyError
from fleetyard.registry.source import SIGNATURE_FILE

__all__ = ["check_private_key", "check_public_key", "new_key_pair", "sign_folder", "signed_paths", "verify_folder"]


def new_key_pair(password: str | None = None) -> tuple[bytes, bytes]:
    """A new signing key pair: (PKCS#8 PEM private key, encrypted if a password is given;
    SubjectPublicKeyInfo PEM public key). P-256, as `model_signing` signs with."""
    key = ec.generate_private_key(ec.SECP256R1())
    crypt = (serialization.BestAvailableEncryption(password.encode()) if password
             else serialization.NoEncryption())
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, crypt)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def check_private_key(path: str | os.PathLike[str], password: str | None) -> None:
    """Load a PEM EC private key up front so a bad key fails before any work."""
    key_path = Path(path)
    try:
        data = key_path.read_bytes()
    except FileNotFoundError as exc:
        raise SigningKeyError(f"signing key {key_path} does not exist") from exc
    except OSError as exc:
        raise SigningKeyError(f"cannot read signing key {key_path}: {exc.strerror}") from exc
    pw = password.encode() if password is not None else None
    try:
        key = serialization.load_pem_private_key(data, pw)
    except TypeError as exc:
        if password is None:
            raise SigningKeyError(
                f"signing key {key_path} is encrypted: expected a password "
                "(FLEETYARD_KEY_PASSWORD or --key-password-file)"
            ) from exc
        raise SigningKeyError(
            f"signing key {key_path} is not encrypted: drop the password"
        ) from exc
    except ValueError as exc:
        if password is not None and b"ENCRYPTED" in data:
            raise SigningKeyError(f"wrong password for signing key {key_path}") from exc
        raise SigningKeyError(
            f"signing key {key_path} is not a PEM private key: expected an EC key in PEM"
        ) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SigningKeyError(
            f"signing key {key_path} is a {type(key).__name__}: expected an elliptic-curve key"
        )


def check_public_key(path: str | os.PathLike[str]) -> None:
    """Load a PEM EC public key up front so a bad key fails before any work."""
    key_path = Path(path)
    try:
        data = key_path.read_bytes()
    except FileNotFoundError as exc:
        raise SigningKeyError(f"public key {key_path} does not exist") from exc
    except OSError as exc:
        raise SigningKeyError(f"cannot read public key {key_path}: {exc.strerror}") from exc
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise SigningKeyError(f"public key {key_path} is not a PEM public key") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise SigningKeyError(f"public key {key_path}: expected an elliptic-curve key")


def _hashing_config(allow_symlinks: bool) -> Any:
    from model_signing import hashing

    return (
        hashing.Config()  # type: ignore[no-untyped-call]
        .use_file_serialization(hashing_algorithm="sha256", allow_symlinks=allow_symlinks)
        .set_ignored_paths(paths=[SIGNATURE_FILE], ignore_git_paths=True)
    )


def sign_folder(
    folder: Path, key: str | os.PathLike[str], password: str | None, *, allow_symlinks: bool
) -> str:
    """Sign a model folder; returns the signature (a Sigstore bundle, JSON text)."""
    from model_signing import signing

    check_private_key(key, password)
    # cryptography wants the password as bytes; model_signing passes it through as is.
    pw = cast(str, password.encode()) if password is not None else None
    with tempfile.TemporaryDirectory(prefix="fleetyard-sign-") as tmp:
        sig_path = Path(tmp) / SIGNATURE_FILE
        try:
            config = signing.Config()  # type: ignore[no-untyped-call]
            config.use_elliptic_key_signer(private_key=key, password=pw)
            config.set_hashing_config(_hashing_config(allow_symlinks))
            config.sign(folder, sig_path)
        except (ValueError, TypeError, OSError) as exc:
            raise SigningKeyError(f"signing {folder} with {key} failed: {exc}") from exc
        return sig_path.read_text(encoding="utf-8")


def signed_paths(signature: str) -> dict[str, str]:
    """The files a signature covers and their digests, read from its DSSE payload."""
    try:
        bundle = json.loads(signature)
        payload = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
        resources = payload["predicate"]["resources"]
        return {str(r["name"]): str(r["digest"]) for r in resources}
    except (ValueError, KeyError, TypeError) as exc:
        raise SignatureError(f"signature is not an OpenSSF model signing bundle: {exc}") from exc


def verify_folder(folder: Path, public_key: str | os.PathLike[str], what: str) -> None:
    """Verify `folder/model.sig` against the folder with a public key, offline.

    Raises SignatureError naming `what` (the version) when the signature was made by
    another key or the files do not match it.
    """
    from model_signing import verifying

    check_public_key(public_key)
    sig = folder / SIGNATURE_FILE
    try:
        # The hashing settings are read from the signature itself, as upstream does.
        verifying.Config().use_elliptic_key_verifier(  # type: ignore[no-untyped-call]
            public_key=public_key
        ).verify(folder, sig)
    except Exception as exc:
        raise SignatureError(
            f"{what}: signature does not verify with public key {public_key}: {exc}"
        ) from exc
