"""A registry store: versions, aliases and the chunk index on one backend.

`Store` is the read side and the small writes (aliases, removing a version); the
heavy operations live in their own modules (`push`, `pull`, `transfer`, `gc`,
`verify`) and take a Store.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

from fleetyard.registry import layout
from fleetyard.registry.backends import Backend, ObjectNotFoundError, open_backend
from fleetyard.registry.chunking import AVG_CHUNK, MAX_CHUNK, MIN_CHUNK
from fleetyard.registry.errors import IntegrityError, InvalidInputError, NotFoundError
from fleetyard.registry.index import ChunkIndex
from fleetyard.registry.manifest import Recipe, VersionManifest, decode_recipe
from fleetyard.registry.names import Ref, check_alias, check_name, check_version, parse_ref

__all__ = ["STORE_FORMAT", "Store", "open_store", "utc_now"]

STORE_FORMAT = 1


def utc_now() -> str:
    """The current time as an ISO 8601 UTC string (manifest timestamps)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _marker() -> bytes:
    doc = {
        "format": STORE_FORMAT,
        "hash": "blake3",
        "chunking": {"algorithm": "fastcdc", "min": MIN_CHUNK, "avg": AVG_CHUNK, "max": MAX_CHUNK},
    }
    return json.dumps(doc, indent=1).encode()


class Store:
    """One registry on one backend (a folder or an S3 bucket/prefix)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    @property
    def url(self) -> str:
        """The store's location, for messages."""
        return self.backend.url

    @classmethod
    def open(cls, location: str | os.PathLike[str], *, create: bool = False) -> Store:
        """Open the store at a path or `s3://` URL; `create` makes it if absent."""
        store = cls(open_backend(location))
        store._check(create)
        return store

    def _check(self, create: bool) -> None:
        b = self.backend
        try:
            marker = b.get(layout.MARKER)
        except ObjectNotFoundError:
            marker = None
        if marker is None:
            if not create:
                if not b.store_exists():
                    raise NotFoundError(
                        f"no registry at {b.url}: it does not exist (push creates it)"
                    )
                raise NotFoundError(f"no registry at {b.url}: expected {layout.MARKER} there")
            b.put_new(layout.MARKER, _marker())
            return
        try:
            fmt = json.loads(marker).get("format")
        except ValueError as exc:
            raise IntegrityError(f"{b.url}/{layout.MARKER} is corrupted: {exc}") from exc
        if fmt != STORE_FORMAT:
            raise InvalidInputError(
                f"registry {b.url} has format {fmt!r}: expected {STORE_FORMAT} (newer fleetyard?)"
            )

    # ---- versions -------------------------------------------------------------

    def manifest(self, name: str, version: str) -> VersionManifest:
        """The manifest of `name:version`; NotFoundError if it was never pushed."""
        key = layout.version_key(check_name(name), check_version(version))
        try:
            data = self.backend.get(key)
        except ObjectNotFoundError as exc:
            raise NotFoundError(f"version {name}:{version} not found in {self.url}") from exc
        return VersionManifest.from_json(data, key)

    def has_version(self, name: str, version: str) -> bool:
        """Whether `name:version` exists."""
        return self.backend.exists(layout.version_key(name, version))

    def resolve(self, ref: Ref | str) -> VersionManifest:
        """The manifest a `name:version` or `name@alias` reference points to now."""
        r = parse_ref(ref) if isinstance(ref, str) else ref
        if r.version is not None:
            return self.manifest(r.name, r.version)
        assert r.alias is not None
        return self.manifest(r.name, self.alias(r.name, r.alias))

    def versions(self, name: str | None = None) -> list[VersionManifest]:
        """Every version (of one model, or all), oldest first within each name."""
        prefix = f"{layout.VERSIONS}{check_name(name)}/" if name else layout.VERSIONS
        out = []
        for obj in self.backend.list(prefix):
            if not obj.key.endswith(".json"):
                continue
            try:
                out.append(VersionManifest.from_json(self.backend.get(obj.key), obj.key))
            except ObjectNotFoundError:
                continue
        out.sort(key=lambda m: (m.name, m.created, m.version))
        return out

    def recipe(self, manifest: VersionManifest) -> Recipe:
        """A version's chunk lists, checked against the hash in its manifest."""
        key = layout.recipe_key(manifest.recipe)
        try:
            data = self.backend.get(key)
        except ObjectNotFoundError as exc:
            raise IntegrityError(
                f"{manifest.ref}: recipe {key} is missing from {self.url}"
            ) from exc
        recipe = decode_recipe(data, manifest.recipe, key)
        if len(recipe.files) != len(manifest.files):
            raise IntegrityError(f"{manifest.ref}: recipe {key} does not match its file list")
        return recipe

    def index(self) -> ChunkIndex:
        """The chunk index over all complete packs."""
        return ChunkIndex.load(self.backend)

    def remove_version(self, name: str, version: str, *, force: bool = False) -> list[str]:
        """Delete a version (its chunks stay until gc); returns aliases removed with it.

        Refuses while an alias points at it, unless `force` (which removes those aliases).
        """
        self.manifest(name, version)
        pointing = [a for a, v in self.aliases(name).items() if v == version]
        if pointing and not force:
            raise InvalidInputError(
                f"{name}:{version} is the target of alias(es) {', '.join(sorted(pointing))}: "
                "move them first or pass --force"
            )
        for a in pointing:
            self.backend.delete(layout.alias_key(name, a))
        self.backend.delete(layout.version_key(name, version))
        return pointing

    # ---- aliases --------------------------------------------------------------

    def alias(self, name: str, alias: str) -> str:
        """The version an alias points to; NotFoundError if the alias is unset."""
        key = layout.alias_key(check_name(name), check_alias(alias))
        try:
            doc = json.loads(self.backend.get(key))
        except ObjectNotFoundError as exc:
            raise NotFoundError(f"alias {name}@{alias} not found in {self.url}") from exc
        except ValueError as exc:
            raise IntegrityError(f"alias {key} is corrupted: {exc}") from exc
        return str(doc["version"])

    def aliases(self, name: str | None = None) -> dict[str, str]:
        """Aliases of one model as {alias: version}; of all models as {name@alias: version}."""
        prefix = f"{layout.ALIASES}{check_name(name)}/" if name else layout.ALIASES
        out: dict[str, str] = {}
        for obj in self.backend.list(prefix):
            model, _, file = obj.key[len(layout.ALIASES) :].partition("/")
            alias = file.removesuffix(".json")
            try:
                version = self.alias(model, alias)
            except NotFoundError:
                continue
            out[alias if name else f"{model}@{alias}"] = version
        return out

    def set_alias(self, name: str, alias: str, version: str) -> str | None:
        """Point `name@alias` at an existing version; returns the previous target."""
        check_alias(alias)
        self.manifest(name, version)
        try:
            previous: str | None = self.alias(name, alias)
        except NotFoundError:
            previous = None
        doc = {"version": version, "updated": utc_now()}
        self.backend.put(layout.alias_key(name, alias), json.dumps(doc).encode())
        return previous

    def remove_alias(self, name: str, alias: str) -> None:
        """Delete an alias (the version it pointed at stays)."""
        self.backend.delete(layout.alias_key(check_name(name), check_alias(alias)))


def open_store(location: str | os.PathLike[str], *, create: bool = False) -> Store:
    """Open the registry at a folder path or an `s3://bucket[/prefix]` URL."""
    return Store.open(location, create=create)
