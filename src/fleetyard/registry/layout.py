"""Object keys of a registry store (the same on every backend)::

fleetyard-registry.json          format marker and chunking parameters
packs/<ab>/<id>.pack             chunk data (tens of MB each)
packs/<ab>/<id>.idx              the pack's index; written after the pack
recipes/<blake3>                 a version's chunk lists (content-addressed)
versions/<name>/<version>.json   a version's manifest: the commit point
aliases/<name>/<alias>.json      a movable pointer to a version
keys/<name>.json                 an encrypted model's data key, wrapped for each site
leases/<id>.json                 in-flight pushes and a running gc
"""

from __future__ import annotations

__all__ = [
    "MARKER",
    "alias_key",
    "index_key",
    "key_doc_key",
    "lease_key",
    "pack_id_of",
    "pack_key",
    "recipe_key",
    "version_key",
]

MARKER = "fleetyard-registry.json"
PACKS = "packs/"
RECIPES = "recipes/"
VERSIONS = "versions/"
ALIASES = "aliases/"
LEASES = "leases/"
KEYS = "keys/"


def pack_key(pack_id: str) -> str:
    """Key of a pack's data."""
    return f"{PACKS}{pack_id[:2]}/{pack_id}.pack"


def index_key(pack_id: str) -> str:
    """Key of a pack's index."""
    return f"{PACKS}{pack_id[:2]}/{pack_id}.idx"


def pack_id_of(key: str) -> str:
    """The pack id in a `packs/…/<id>.pack|.idx` key."""
    return key.rsplit("/", 1)[-1].split(".", 1)[0]


def recipe_key(digest: str) -> str:
    """Key of a recipe named by its BLAKE3 hash."""
    return f"{RECIPES}{digest}"


def version_key(name: str, version: str) -> str:
    """Key of a version manifest."""
    return f"{VERSIONS}{name}/{version}.json"


def alias_key(name: str, alias: str) -> str:
    """Key of an alias pointer."""
    return f"{ALIASES}{name}/{alias}.json"


def key_doc_key(name: str) -> str:
    """Key of a model's wrapped data keys (`registry.encryption`)."""
    return f"{KEYS}{name}.json"


def lease_key(lease_id: str) -> str:
    """Key of a lease (an in-flight push or a gc)."""
    return f"{LEASES}{lease_id}.json"
