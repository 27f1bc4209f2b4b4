"""Replication: getting model versions to sites as deltas, within windows and caps.

The engine answers three questions and does one job. *When* may a site download?
(`SyncWindows`, in the site's time zone.) *How fast?* (`TokenBucket`, one per site,
shared by every transfer.) *From where?* (`Source`s in order: peers first, then the
center; each one's bytes counted in a `ByteLedger`.) And it makes a site's local
store hold a version, fetching only the chunks it lacks (`sync_version`), verified,
resumable after a crash, pausing when a window closes::

    from fleetyard.registry import open_store
    from fleetyard.replication import ByteLedger, MeteredBackend, Source, TokenBucket, sync_version

    limiter, ledger = TokenBucket.from_mbps(100), ByteLedger()
    center = MeteredBackend(http_backend, "center", ledger, limiter.throttle)
    result = sync_version("support-llm:3", [Source("center", center)], open_store("/data/registry", create=True))
    result.outcome, ledger.snapshot()      # "synced", {"center": 1234567}

Engines only: no web framework, database, HTTP client or CLI imports; I/O comes in
through the registry's `Backend` protocol and the `Clock` protocol.
"""

from __future__ import annotations

from fleetyard.replication.clock import Clock, FileClock, ManualClock, SystemClock
from fleetyard.replication.limiter import Throttle, TokenBucket, mbps_to_bytes_per_second
from fleetyard.replication.localpacks import LOCAL_PACK_SIZE, LocalPackWriter
from fleetyard.replication.metered import ByteLedger, CachedBackend, MeteredBackend
from fleetyard.replication.sync import (
    RejectedChunk,
    Source,
    SourceFailure,
    SyncProgress,
    SyncResult,
    sync_version,
)
from fleetyard.replication.windows import SyncWindows, Window, parse_window

__all__ = [
    "LOCAL_PACK_SIZE",
    "ByteLedger",
    "CachedBackend",
    "Clock",
    "FileClock",
    "LocalPackWriter",
    "ManualClock",
    "MeteredBackend",
    "RejectedChunk",
    "Source",
    "SourceFailure",
    "SyncProgress",
    "SyncResult",
    "SyncWindows",
    "SystemClock",
    "Throttle",
    "TokenBucket",
    "Window",
    "mbps_to_bytes_per_second",
    "parse_window",
    "sync_version",
]
