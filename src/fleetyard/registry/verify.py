"""`registry verify`: scan a whole store and report everything that is wrong.

Reads every manifest, alias, recipe, pack index and pack; checks every manifest and
alias against the schema `pull` and the server apply (file paths that stay inside the
version folder among it); decodes every chunk and checks it against its BLAKE3 name; checks that recorded
provenance is a statement about its version (its signature needs a key: `pull --public-key`);
checks that an encrypted version's wrapped data key is stored (sealed chunks are checked by
their keyless checksum: verify needs no key and sees no plaintext).
A problem names the chunk, the pack and offset, and the versions and files that use
it, so an operator knows what to re-push or re-fetch. Leftovers of killed pushes
(packs without an index) are warnings: they are harmless and gc removes them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from fleetyard.registry import layout
from fleetyard.registry.encryption import read_keys
from fleetyard.registry.errors import RegistryError
from fleetyard.registry.manifest import VersionManifest
from fleetyard.registry.packs import PACK_MAGIC, PackEntry, decode_chunk, decode_index
from fleetyard.registry.provenance import read_provenance
from fleetyard.registry.store import Store

__all__ = ["Problem", "VerifyReport", "verify_store"]

READ_BLOCK = 64 * 1024 * 1024


@dataclass(frozen=True)
class Problem:
    """One finding: a kind (e.g. 'corrupt-chunk') and a one-line message."""

    kind: str
    message: str


@dataclass(frozen=True)
class VerifyReport:
    """The result of scanning a store."""

    versions: int
    packs: int
    chunks: int
    bytes_checked: int
    problems: tuple[Problem, ...]
    warnings: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        """True when no problem (warnings aside) was found."""
        return not self.problems


def verify_store(
    store: Store, *, progress: Callable[[int, int], None] | None = None
) -> VerifyReport:
    """Check every object of the store; never raises for what it finds."""
    problems: list[Problem] = []
    warnings: list[Problem] = []
    uses: dict[bytes, list[str]] = defaultdict(list)
    listing = store.listing()  # manifests and aliases checked as every reader checks them
    manifests: list[VersionManifest] = listing.versions
    for bad in listing.problems:
        kind = "corrupt-alias" if bad.key.startswith(layout.ALIASES) else "corrupt-manifest"
        problems.append(Problem(kind, bad.message))
    for m in manifests:
        try:
            read_provenance(m)
        except RegistryError as exc:
            problems.append(Problem("bad-provenance", str(exc)))
        if m.encryption is not None:
            try:
                keys = read_keys(store.backend, m.name)
                if keys is None or keys.key_id != m.encryption.key_id:
                    problems.append(Problem("missing-key", f"{m.ref} is encrypted but no {layout.key_doc_key(m.name)} "
                                            f"holds its data key {m.encryption.key_id[:16]}…: no site can read it"))
            except RegistryError as exc:
                problems.append(Problem("corrupt-key", str(exc)))
        try:
            recipe = store.recipe(m)
        except RegistryError as exc:
            problems.append(Problem("corrupt-recipe", str(exc)))
            continue
        for f, chunks in zip(m.files, recipe.files, strict=True):
            for d, _ in chunks:
                if len(uses[d]) < 3:
                    uses[d].append(f"{m.ref} file {f.path}")
    for alias, version in listing.aliases.items():
        name = alias.split("@", 1)[0]
        if not store.has_version(name, version):
            problems.append(
                Problem("dangling-alias", f"alias {alias} points to missing {name}:{version}")
            )

    objs = {o.key: o.size for o in store.backend.list(layout.PACKS)}
    pack_ids = sorted({layout.pack_id_of(k) for k in objs})
    indexes: dict[str, list[PackEntry]] = {}
    for pid in pack_ids:
        pkey, ikey = layout.pack_key(pid), layout.index_key(pid)
        if pkey not in objs:
            problems.append(Problem("missing-pack", f"index {ikey} has no pack {pkey}"))
        elif ikey not in objs:
            warnings.append(
                Problem("orphan-pack", f"pack {pkey} has no index (leftover; gc removes it)")
            )
        else:
            try:
                indexes[pid] = decode_index(store.backend.get(ikey), ikey)
            except RegistryError as exc:
                problems.append(Problem("corrupt-index", str(exc)))

    total = sum(objs[layout.pack_key(p)] for p in indexes)
    done = n_chunks = 0
    present: set[bytes] = set()
    corrupt: set[bytes] = set()
    for pid, entries in indexes.items():
        pkey = layout.pack_key(pid)
        size = objs[pkey]
        if store.backend.get_range(pkey, 0, len(PACK_MAGIC)) != PACK_MAGIC:
            problems.append(Problem("corrupt-pack", f"pack {pkey} has a bad header"))
        pos, data = 0, b""
        for e in sorted(entries, key=lambda x: x.offset):
            if e.offset + e.stored_size > pos + len(data):
                pos = e.offset
                data = store.backend.get_range(pkey, pos, max(READ_BLOCK, e.stored_size))
            stored = data[e.offset - pos : e.offset - pos + e.stored_size]
            n_chunks += 1
            try:
                if len(stored) != e.stored_size:
                    raise RegistryError(f"pack {pkey} is truncated at offset {e.offset}")
                decode_chunk(stored, e)
                present.add(e.digest)
            except RegistryError as exc:
                corrupt.add(e.digest)
                used = "; used by " + ", ".join(uses[e.digest]) if e.digest in uses else "; unused"
                problems.append(
                    Problem(
                        "corrupt-chunk",
                        f"chunk {e.digest.hex()} in pack {pkey} at offset {e.offset}: {exc}{used}",
                    )
                )
        done += size
        if progress:
            progress(done, total)
    for d, where in uses.items():
        if d not in present and d not in corrupt:
            problems.append(
                Problem(
                    "missing-chunk", f"chunk {d.hex()} is in no pack; used by {', '.join(where)}"
                )
            )
    return VerifyReport(
        len(manifests), len(indexes), n_chunks, done, tuple(problems), tuple(warnings)
    )
