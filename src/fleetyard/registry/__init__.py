"""fleetyard's model registry: content-addressed, deduplicated, signed.

Files are cut into content-defined chunks (FastCDC, ~64 KiB) named by BLAKE3 and
kept in packs on a folder or S3 store; versions are immutable and appear
atomically; aliases move; signatures use the OpenSSF model signing format.

Open a store, then push, pull, compare and transfer::

    from fleetyard.registry import open_store, push, pull, missing_chunks

    store = open_store("/srv/registry", create=True)       # or "s3://bucket/prefix"
    push(store, "./llama-ft", "support-llm", "3", key="signing.pem", alias="canary")
    pull(store, "support-llm@canary", "/models/support-llm", public_key="signing.pub")
    plan = missing_chunks(store, "support-llm:3", have=site_chunk_names)
    plan.total_bytes, plan.ranges        # what the site must fetch, and from where

Engines only: nothing here imports a web framework, a database or the CLI.
"""

from __future__ import annotations

from fleetyard.registry.backends import Backend, LocalBackend, ObjectInfo, open_backend
from fleetyard.registry.chunking import AVG_CHUNK, MAX_CHUNK, MIN_CHUNK
from fleetyard.registry.diff import FileChange, VersionDiff, diff_versions
from fleetyard.registry.errors import (
    IntegrityError,
    InvalidInputError,
    InvalidNameError,
    NotFoundError,
    RegistryError,
    SignatureError,
    SigningKeyError,
    SourceFolderError,
    StorageError,
    StoreBusyError,
    VerificationError,
    VersionExistsError,
)
from fleetyard.registry.exchange import ExchangeResult, export_versions, import_versions
from fleetyard.registry.gc import GcResult, gc
from fleetyard.registry.index import ChunkIndex, ChunkLocation
from fleetyard.registry.manifest import FileEntry, VersionManifest
from fleetyard.registry.names import Ref, parse_ref
from fleetyard.registry.pull import PullResult, pull
from fleetyard.registry.push import PushResult, push
from fleetyard.registry.store import Listing, ObjectProblem, Store, open_store
from fleetyard.registry.transfer import (
    ChunkNeed,
    MissingChunks,
    PackRange,
    copy_version,
    missing_chunks,
    read_ranges,
)
from fleetyard.registry.verify import Problem, VerifyReport, verify_store

__all__ = [
    "AVG_CHUNK",
    "MAX_CHUNK",
    "MIN_CHUNK",
    "Backend",
    "ChunkIndex",
    "ChunkLocation",
    "ChunkNeed",
    "ExchangeResult",
    "FileChange",
    "FileEntry",
    "GcResult",
    "IntegrityError",
    "InvalidInputError",
    "InvalidNameError",
    "Listing",
    "LocalBackend",
    "MissingChunks",
    "NotFoundError",
    "ObjectInfo",
    "ObjectProblem",
    "PackRange",
    "Problem",
    "PullResult",
    "PushResult",
    "Ref",
    "RegistryError",
    "SignatureError",
    "SigningKeyError",
    "SourceFolderError",
    "StorageError",
    "Store",
    "StoreBusyError",
    "VerificationError",
    "VerifyReport",
    "VersionDiff",
    "VersionExistsError",
    "VersionManifest",
    "copy_version",
    "diff_versions",
    "export_versions",
    "gc",
    "import_versions",
    "missing_chunks",
    "open_backend",
    "open_store",
    "parse_ref",
    "pull",
    "push",
    "read_ranges",
    "verify_store",
]
