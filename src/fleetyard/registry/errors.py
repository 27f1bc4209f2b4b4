"""Errors raised by the registry engine.

Every error carries a one-line message that names the thing, what was expected and
what was found, so an entry point can print it without a traceback. The hierarchy
tells the entry point how to report it::

    RegistryError                 base; unexpected store or I/O trouble (CLI exit 1)
    ├── InvalidInputError         the caller's mistake; nothing was changed (exit 2)
    │   ├── InvalidNameError      a name, version, alias or reference is malformed
    │   ├── NotFoundError         a version, alias or store does not exist
    │   ├── VersionExistsError    `name:version` is immutable and already pushed
    │   ├── SourceFolderError     the folder to push is missing, empty or unsafe
    │   ├── SigningKeyError       a key is missing, unreadable or its password wrong
    │   └── EncryptionError       an encrypted model and no site key that can open it
    ├── VerificationError         data or a signature failed a check (exit 3)
    │   ├── IntegrityError        a chunk, pack or manifest does not match its hash
    │   └── SignatureError        unsigned, wrongly signed or tampered version
    ├── StoreBusyError            a gc or push holds the store longer than we waited
    └── StorageError              the backend failed (disk full, permissions, S3)
"""

from __future__ import annotations

__all__ = [
    "EncryptionError",
    "IntegrityError",
    "InvalidInputError",
    "InvalidNameError",
    "NotFoundError",
    "RegistryError",
    "SignatureError",
    "SigningKeyError",
    "SourceFolderError",
    "StorageError",
    "StoreBusyError",
    "VerificationError",
    "VersionExistsError",
]


class RegistryError(Exception):
    """Base class of every error the registry raises on purpose."""


class InvalidInputError(RegistryError):
    """The caller asked for something impossible; the store was not changed."""


class InvalidNameError(InvalidInputError):
    """A model name, version, alias or reference does not follow the rules."""


class NotFoundError(InvalidInputError):
    """A version, alias, store or export folder does not exist."""


class VersionExistsError(InvalidInputError):
    """A push targeted a `name:version` that already exists (versions are immutable)."""


class SourceFolderError(InvalidInputError):
    """The folder to push is missing, empty, changed during the push, or unsafe."""


class SigningKeyError(InvalidInputError):
    """A signing or public key is missing, malformed, or its password is wrong."""


class EncryptionError(InvalidInputError):
    """A model is encrypted and the site key given cannot open it: none given, a key wrapped
    for other sites only, a file that is not an X25519 key, or a forged wrapped key."""


class VerificationError(RegistryError):
    """Stored data or a signature failed verification."""


class IntegrityError(VerificationError):
    """Bytes read from the store do not match the hash that names them."""


class SignatureError(VerificationError):
    """A version is unsigned, signed by another key, or does not match its signature."""


class StoreBusyError(RegistryError):
    """A gc (for a push) or a push (for a gc) kept the store busy past the wait."""


class StorageError(RegistryError):
    """The storage backend failed: disk full, permission denied, network or S3 errors."""
