"""Feature flags on the server: each site's flags for its desired state, and `flag.changed` events.

A site gets every stored Flag resolved for it (`rollout.flags.resolve`: the rules whose
site, region, country and label conditions hold there, nothing else), in name order,
with `flags_revision`, a digest of exactly what it got: the agent's OFREP listener uses
it in its ETag, and an unchanged revision means nothing to write to disk. Flags are
not planned; applying a Flag records one `flag.changed` event per created, updated or
deleted flag, in the same transaction as the change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from fleetyard.rollout.flags import SiteFacts, region_of, resolve
from fleetyard.services.db import ResourceRow
from fleetyard.services.events import record_event
from fleetyard.services.identity import Principal
from fleetyard.services.wire import ResourceChange
from fleetyard.spec.flag import SiteFlag
from fleetyard.spec.models import Flag, Region, Site

__all__ = ["desired_flags", "flag_events", "flags_revision", "site_flags"]


def _stored(session: Session, kind: str, model: type[Flag] | type[Region]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for row in session.scalars(select(ResourceRow).where(ResourceRow.kind == kind).order_by(ResourceRow.name)):
        try:
            out[row.name] = model.model_validate(row.document)
        except ValidationError:  # stored by an older version with other rules: not served
            continue
    return out


def flags_revision(flags: Iterable[SiteFlag]) -> str:
    """A digest of the flags exactly as a site serves them (16 hex digits)."""
    text = json.dumps([f.model_dump(mode="json") for f in flags], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def site_flags(site: Site, flags: Mapping[str, Flag], regions: Mapping[str, Region]) -> list[SiteFlag]:
    """Every flag as `site` serves it, in name order."""
    facts = SiteFacts(site=site.name, country=site.spec.country, region=region_of(site, regions),
                      labels=dict(site.labels))
    return [resolve(flags[name], facts) for name in sorted(flags)]


def desired_flags(session: Session, site: Site) -> dict[str, Any]:
    """The `flags` and `flags_revision` fields of the site's DesiredState."""
    flags = site_flags(site, _stored(session, "Flag", Flag), _stored(session, "Region", Region))
    return {"flags": flags, "flags_revision": flags_revision(flags)}


def _summary(document: Mapping[str, Any] | None) -> str:
    spec = document.get("spec") if isinstance(document, Mapping) else None
    if not isinstance(spec, Mapping):
        return "no longer served"
    rules = spec.get("rules") or []
    parts = [f"type {spec.get('type')}", f"default {json.dumps(spec.get('default'))}",
             f"{len(rules)} rule{'s' if len(rules) != 1 else ''}"]
    if spec.get("enabled") is False:
        parts.append("disabled")
    return ", ".join(parts)


def flag_events(session: Session, changes: Iterable[ResourceChange],
                documents: Mapping[tuple[str, str], tuple[dict[str, Any], str]], actor: Principal,
                at: datetime) -> None:
    """One `flag.changed` event per Flag the change created, updated or deleted."""
    for c in changes:
        if c.kind != "Flag" or c.action == "unchanged":
            continue
        document = documents[(c.kind, c.name)][0] if c.action != "deleted" else None
        record_event(session, "flag.changed", c.name,
                     f"flag {c.name} {c.action} by {actor.actor}: {_summary(document)}",
                     data={"action": c.action, "actor": actor.actor,
                           "spec": document.get("spec") if document else None},
                     at=at)
