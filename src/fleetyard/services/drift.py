"""Drift: a site whose actual versions or replicas differ from its desired state.

A heartbeat says what runs; the plan says what should. A difference is normal for a
while (a model syncing, a replica starting, a wave switching), so `status` flags it
only once it has lasted longer than FLEETYARD_DRIFT_AFTER: "runs chat:1, desired
chat:2 for 12 min", "2/3 replicas of chat running for 6 min". The failover job keeps
when the current difference began in the site's `site_availability` document.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fleetyard.rollout.availability import span
from fleetyard.services.desired import SiteNeed
from fleetyard.services.wire import SiteReport

__all__ = ["differences", "drift_text", "next_drift"]


def differences(need: SiteNeed | None, report: SiteReport | None) -> str | None:
    """What the site runs differently from `need`, in words (None: nothing, or no report)."""
    if report is None:
        return None
    reported = {w.name: w for w in report.workloads}
    items: list[str] = []
    for w in need.workloads if need else []:
        r = reported.get(w.name)
        running = r.replicas.running if r is not None else 0
        if r is not None and running and r.model != w.model:
            items.append(f"runs {r.model}, desired {w.model}")
        elif running < w.replicas:
            items.append(f"{running}/{w.replicas} replicas of {w.name} running")
    return "; ".join(items) or None


def next_drift(previous: dict[str, Any] | None, what: str | None, now: datetime) -> dict[str, Any] | None:
    """The drift document after a look: when the difference began (kept while one lasts) and what it is now."""
    if what is None:
        return None
    since = previous.get("since") if previous else None
    return {"since": since if isinstance(since, str) else now.isoformat(), "what": what}


def drift_text(doc: dict[str, Any] | None, now: datetime, after: float) -> str | None:
    """The status line of a drift that lasted longer than `after` seconds, else None."""
    if not doc or not isinstance(doc.get("since"), str) or not doc.get("what"):
        return None
    lasted = (now - datetime.fromisoformat(doc["since"])).total_seconds()
    return f"{doc['what']} for {span(lasted)}" if lasted >= after else None
