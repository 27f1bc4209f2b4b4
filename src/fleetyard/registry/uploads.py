"""What a store accepts when an object is written from outside (the server's object API).

Push and transfer write through a backend; through the server that is an HTTP PUT per
object, and anyone with a writer token can send any bytes under any key. A store must
not take an object that would break every reader - a manifest that is not one (`{}`
made `GET /api/v1/models` answer 500 for everyone), an alias that points nowhere
readable, a recipe or a pack index that does not match its name. The rules:

* `versions/<name>/<version>.json`: a manifest by the schema (`registry.schema`), for
  that very name and version, its file paths inside the version folder, its provenance
  (if any) a statement about that version (`registry.provenance.read_provenance`);
* `aliases/<name>/<alias>.json`: an alias object by the schema, with a valid name and alias;
* `recipes/<blake3>`: bytes whose BLAKE3 is the name (so an existing recipe can only be
  rewritten with itself), with a recipe's header;
* `packs/<ab>/<id>.idx`: an index that decodes (checksum, length), whose pack is stored;
* `keys/<name>.json`: wrapped data keys by their schema (`registry.encryption`), for that model.

`check_key` runs before the body is read, `check_upload` when it is complete; both raise
`InvalidInputError` with a one-line reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import blake3

from fleetyard.registry import layout
from fleetyard.registry.backends.base import Backend
from fleetyard.registry.encryption import MAX_KEYS_BYTES, parse_keys
from fleetyard.registry.errors import InvalidInputError, RegistryError
from fleetyard.registry.manifest import RECIPE_MAGIC
from fleetyard.registry.names import check_alias, check_name, check_version
from fleetyard.registry.packs import decode_index
from fleetyard.registry.provenance import read_provenance
from fleetyard.registry.schema import MAX_ALIAS_BYTES, MAX_MANIFEST_BYTES, SchemaError, parse_alias
from fleetyard.registry.store import read_manifest

__all__ = ["MAX_INDEX_BYTES", "check_key", "check_upload"]

MAX_INDEX_BYTES = 64 * 1024 * 1024  # 53 bytes per chunk: a pack of ~1M chunks
_HEX = frozenset("0123456789abcdef")


def check_key(key: str) -> None:
    """Refuse a key no object of its folder can have (before the body is read)."""
    try:
        if key.startswith(layout.VERSIONS):
            name, version = _two_parts(key, layout.VERSIONS)
            check_name(name)
            check_version(version)
        elif key.startswith(layout.ALIASES):
            name, alias = _two_parts(key, layout.ALIASES)
            check_name(name)
            check_alias(alias)
        elif key.startswith(layout.KEYS):
            name = key[len(layout.KEYS) :]
            if "/" in name or not name.endswith(".json"):
                raise InvalidInputError(f"expected {layout.KEYS}<name>.json")
            check_name(name.removesuffix(".json"))
        elif key.startswith(layout.RECIPES):
            digest = key[len(layout.RECIPES) :]
            if len(digest) != 64 or not set(digest) <= _HEX:
                raise InvalidInputError("expected recipes/<BLAKE3 hex of the recipe>")
    except InvalidInputError as exc:
        raise InvalidInputError(f"{key}: {exc}") from None


def _two_parts(key: str, folder: str) -> tuple[str, str]:
    rest = key[len(folder) :]
    name, _, file = rest.partition("/")
    if "/" in file or not file.endswith(".json"):
        raise InvalidInputError(f"expected {folder}<name>/<file>.json")
    return name, file.removesuffix(".json")


def check_upload(backend: Backend, key: str, path: str | os.PathLike[str]) -> None:
    """Refuse the complete upload at `path` if `key` must not hold it; see the module docstring."""
    check_key(key)
    file = Path(path)
    try:
        if key.startswith(layout.VERSIONS):
            read_provenance(read_manifest(_read(key, file, MAX_MANIFEST_BYTES, "a manifest"), key))
        elif key.startswith(layout.ALIASES):
            try:
                parse_alias(_read(key, file, MAX_ALIAS_BYTES, "an alias"))
            except SchemaError as exc:
                raise InvalidInputError(f"alias {key} is malformed: {exc}") from None
        elif key.startswith(layout.RECIPES):
            _check_recipe(key, file)
        elif key.startswith(layout.KEYS):
            parse_keys(_read(key, file, MAX_KEYS_BYTES, "a key object"), key)
        elif key.startswith(layout.PACKS) and key.endswith(".idx"):
            decode_index(_read(key, file, MAX_INDEX_BYTES, "a pack index"), key)
            pack = layout.pack_key(layout.pack_id_of(key))
            if not backend.exists(pack):
                raise InvalidInputError(f"pack index {key}: its pack {pack} is not stored; write the pack first")
    except InvalidInputError:
        raise
    except RegistryError as exc:  # IntegrityError of the readers: their words name the object
        raise InvalidInputError(str(exc)) from None


def _read(key: str, file: Path, limit: int, what: str) -> bytes:
    size = file.stat().st_size
    if size > limit:
        raise InvalidInputError(f"{key}: {size:,} bytes, more than {what} may have ({limit:,})")
    return file.read_bytes()


def _check_recipe(key: str, path: Path) -> None:
    h = blake3.blake3()
    with path.open("rb") as f:
        head = f.read(len(RECIPE_MAGIC))
        h.update(head)
        while block := f.read(1 << 20):
            h.update(block)
    if head != RECIPE_MAGIC:
        raise InvalidInputError(f"{key}: not a recipe (no {RECIPE_MAGIC.decode()} header)")
    digest = h.hexdigest()
    if key != layout.recipe_key(digest):
        raise InvalidInputError(f"{key}: the content's BLAKE3 is {digest}: a recipe is named by its hash")
