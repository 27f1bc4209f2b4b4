"""Storage backends: one small object-store interface, a local folder and S3.

The registry only needs what every object store offers: whole-object get, ranged
get, put (atomic, whole object or nothing), create-only put, delete and list by
prefix, with strong read-after-write consistency (local filesystems and S3 since
2020 both give it). Everything above — packs, manifests, leases — is built on that.
"""

from __future__ import annotations

import os

from fleetyard.registry.backends.base import Backend, ObjectInfo, ObjectNotFoundError
from fleetyard.registry.backends.local import LocalBackend

__all__ = [
    "Backend",
    "LocalBackend",
    "ObjectInfo",
    "ObjectNotFoundError",
    "open_backend",
]


def open_backend(location: str | os.PathLike[str]) -> Backend:
    """Open a backend from a folder path or an `s3://bucket[/prefix]` URL.

    S3 endpoints and credentials come from the standard AWS settings (environment
    variables such as AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, or ~/.aws), as boto3
    reads them, so any S3-compatible store works.
    """
    text = os.fspath(location)
    if text.startswith("s3://"):
        from fleetyard.registry.backends.s3 import S3Backend

        return S3Backend.from_url(text)
    return LocalBackend(text)
