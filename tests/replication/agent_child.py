"""What an agent does for a rollout, in its own process, slowed by a cap, for the kill campaign.

    python -m tests.replication.agent_child CENTER SITE_DIR PUBLIC_KEY BYTES_PER_S

For m:1 then m:2: sync the version into the site's store (delta, resumable), materialize
it into `models/` (chunks checked against their names, signature checked), activate it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fleetyard.agent.models import ModelDirs
from fleetyard.registry import open_store
from fleetyard.replication import ByteLedger, MeteredBackend, Source, TokenBucket, sync_version


def main() -> None:
    center_path, site, pub, rate = sys.argv[1:5]
    center = open_store(center_path)
    local = open_store(Path(site) / "registry", create=True)
    models = ModelDirs(Path(site) / "models", [Path(pub)])
    models.clean_leftovers()
    bucket = TokenBucket(float(rate))
    source = Source("center", MeteredBackend(center.backend, "center", ByteLedger(), bucket.throttle))
    for version in ("1", "2"):
        ref = f"m:{version}"
        if models.active("m") == version or (version == "1" and models.active("m") == "2"):
            continue
        sync_version(ref, [source], local, pack_size=256 * 1024, pack_max_age=0.2, max_range=128 * 1024, threads=2)
        if not models.is_materialized(ref):
            models.materialize(local, ref)
        models.activate("m", version)
    print("done", flush=True)


if __name__ == "__main__":
    main()
