"""A registry store: versions, aliases and the chunk index on one backend.

`Store` is the read side and the small writes (aliases, removing a version); the
heavy operations live in their own modules (`push`, `pull`, `transfer`, `gc`,
`verify`) and take a Store.

Every manifest and alias read is checked against its schema (`registry.schema`), and a
manifest must sit at the key of the version it describes. Reading one that fails is an
`IntegrityError`; a listing skips it and reports it (`listing().problems`, a warning in
the log from `versions()` and `aliases()`), so one bad object never hides the others.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fleetyard.registry import layout
from fleetyard.registry.backends import Backend, ObjectNotFoundError, open_backend
from fleetyard.registry.chunking import AVG_CHUNK, MAX_CHUNK, MIN_CHUNK
from fleetyard.registry.errors import IntegrityError, InvalidInputError, NotFoundError
from fleetyard.registry.index import ChunkIndex
from fleetyard.registry.manifest import Recipe, VersionManifest, decode_recipe, stored_recipe
from fleetyard.registry.names import Ref, check_alias, check_name, check_version, parse_ref
from fleetyard.registry.schema import SchemaError, parse_alias

__all__ = ["STORE_FORMAT", "Listing", "ObjectProblem", "Store", "open_store", "utc_now"]

STORE_FORMAT = 1
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ObjectProblem:
    """A stored object a listing skipped: its key and what is wrong with it."""

    key: str
    message: str


@dataclass(frozen=True)
class Listing:
    """Versions and aliases of a store, and the objects that could not be read."""

    versions: list[VersionManifest] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)  # {name@alias: version}
    problems: list[ObjectProblem] = field(default_factory=list)


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
        return read_manifest(data, key)

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

    def versions(self, name: str | None = None, *, strict: bool = False) -> list[VersionManifest]:
        """Every readable version (of one model, or all), oldest first within each name.

        A manifest that cannot be read is skipped and logged; with `strict` (gc, import:
        they must not act on a partial view) it raises IntegrityError instead."""
        versions, problems = self._scan_versions(name)
        if strict and problems:
            more = f" (and {len(problems) - 1} more; `registry verify` lists them)" if len(problems) > 1 else ""
            raise IntegrityError(f"{problems[0].message}{more}; remove it with `registry rm` or restore it first")
        _log_skipped(problems)
        return versions

    def listing(self, name: str | None = None) -> Listing:
        """Versions and aliases (of one model, or all), and every object skipped as unreadable."""
        versions, problems = self._scan_versions(name)
        aliases, alias_problems = self._scan_aliases(name, qualified=True)
        return Listing(versions, aliases, problems + alias_problems)

    def _scan_versions(self, name: str | None) -> tuple[list[VersionManifest], list[ObjectProblem]]:
        prefix = f"{layout.VERSIONS}{check_name(name)}/" if name else layout.VERSIONS
        out: list[VersionManifest] = []
        problems: list[ObjectProblem] = []
        for obj in self.backend.list(prefix):
            if not obj.key.endswith(".json"):
                continue
            try:
                out.append(read_manifest(self.backend.get(obj.key), obj.key))
            except ObjectNotFoundError:
                continue
            except IntegrityError as exc:
                problems.append(ObjectProblem(obj.key, str(exc)))
        out.sort(key=lambda m: (m.name, m.created, m.version))
        return out, problems

    def recipe(self, manifest: VersionManifest) -> Recipe:
        """A version's chunk lists named as the store holds them (what the index, gc and
        transfers use): for an encrypted version the chunk ids scoped by its key id."""
        return stored_recipe(manifest, self.content_recipe(manifest))

    def content_recipe(self, manifest: VersionManifest) -> Recipe:
        """A version's chunk lists by chunk id (BLAKE3 of the plaintext), checked against the
        hash in its manifest."""
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
        key = layout.version_key(check_name(name), check_version(version))
        if not self.backend.exists(key):  # a malformed manifest can be removed too
            raise NotFoundError(f"version {name}:{version} not found in {self.url}")
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
            data = self.backend.get(key)
        except ObjectNotFoundError as exc:
            raise NotFoundError(f"alias {name}@{alias} not found in {self.url}") from exc
        return read_alias(data, key)

    def aliases(self, name: str | None = None) -> dict[str, str]:
        """Aliases of one model as {alias: version}; of all models as {name@alias: version}.
        An alias that cannot be read is skipped and logged."""
        out, problems = self._scan_aliases(name, qualified=not name)
        _log_skipped(problems)
        return out

    def _scan_aliases(self, name: str | None, *, qualified: bool) -> tuple[dict[str, str], list[ObjectProblem]]:
        prefix = f"{layout.ALIASES}{check_name(name)}/" if name else layout.ALIASES
        out: dict[str, str] = {}
        problems: list[ObjectProblem] = []
        for obj in self.backend.list(prefix):
            model, _, file = obj.key[len(layout.ALIASES) :].partition("/")
            alias = file.removesuffix(".json")
            try:
                version = self.alias(model, alias)
            except NotFoundError:
                continue
            except (IntegrityError, InvalidInputError) as exc:  # corrupted, or a key no alias can have
                problems.append(ObjectProblem(obj.key, str(exc)))
                continue
            out[f"{model}@{alias}" if qualified else alias] = version
        return out, problems

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


def read_manifest(data: bytes, key: str) -> VersionManifest:
    """The manifest stored at `key`: valid by the schema and at its own version's key."""
    manifest = VersionManifest.from_json(data, key)
    expected = layout.version_key(manifest.name, manifest.version)
    if key != expected:
        raise IntegrityError(f"manifest {key} is malformed: it describes {manifest.ref}, whose key is {expected}")
    return manifest


def read_alias(data: bytes, key: str) -> str:
    """The version the alias object stored at `key` points to."""
    try:
        return parse_alias(data).version
    except SchemaError as exc:
        raise IntegrityError(f"alias {key} is corrupted: {exc}") from None


def _log_skipped(problems: list[ObjectProblem]) -> None:
    for p in problems:
        log.warning("skipped unreadable registry object: %s", p.message)


def open_store(location: str | os.PathLike[str], *, create: bool = False) -> Store:
    """Open the registry at a folder path or an `s3://bucket[/prefix]` URL."""
    return Store.open(location, create=create)
