"""The versions in the server's registry, for `GET /api/v1/models` and `fleetyard get models`."""

from __future__ import annotations

from fleetyard.registry import Store
from fleetyard.services.wire import ModelOut

__all__ = ["list_models"]


def list_models(store: Store) -> list[ModelOut]:
    aliases: dict[str, list[str]] = {}
    for key, version in store.aliases().items():
        model, _, alias = key.partition("@")
        aliases.setdefault(f"{model}:{version}", []).append(alias)
    return [ModelOut(name=m.name, version=m.version, ref=m.ref, size=m.size, files=len(m.files),
                     created=m.created, aliases=sorted(aliases.get(m.ref, [])), signed=m.signed,
                     parent=m.parent, labels=dict(m.labels))
            for m in store.versions()]
