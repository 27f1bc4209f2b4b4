"""A sync in its own process, slowed by a cap, for the SIGKILL tests.

    python -m tests.replication.sync_child CENTER LOCAL REF BYTES_PER_S RESULT.json
"""

from __future__ import annotations

import json
import os
import sys

from fleetyard.registry import open_store
from fleetyard.replication import ByteLedger, MeteredBackend, Source, SyncProgress, TokenBucket, sync_version


def main() -> None:
    center_path, local_path, ref, rate, out = sys.argv[1:6]
    center = open_store(center_path)
    local = open_store(local_path, create=True)
    ledger = ByteLedger()
    bucket = TokenBucket(float(rate))
    source = Source("center", MeteredBackend(center.backend, "center", ledger, bucket.throttle))
    started = out + ".started"

    def progress(_p: SyncProgress) -> None:
        if not os.path.exists(started):
            open(started, "w").close()

    result = sync_version(
        ref, [source], local, progress=progress, pack_size=256 * 1024, pack_max_age=0.2, max_range=128 * 1024, threads=2
    )
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"outcome": result.outcome, "chunk_bytes": result.chunk_bytes, "received": ledger.total,
                   "bytes_needed": result.bytes_needed}, f)


if __name__ == "__main__":
    main()
