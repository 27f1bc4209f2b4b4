"""Model folders at a site: verified materialization, atomic activation, rollback.

Layout under the agent's data dir::

    models/<name>/<version>/      a complete, signature-verified model folder
    models/<name>/active     ->   <version>   what the workloads run (a symlink)
    models/<name>/previous   ->   <version>   the version before, kept for rollback
    models/<name>/.incoming-*                 a version being assembled (never run)

A version is assembled from the local store into a hidden folder (the registry's
`pull` checks every chunk against its BLAKE3 name), its signature is checked against
the keys this site trusts - never the server's word - and its provenance against the
site's policy (`registry.policy`, docs/provenance.md), and only then is the folder
renamed into place. Activation replaces the `active` symlink with one rename, so a
reader sees the old version or the new one, never a mix; a crash at any moment
leaves the previous state. Hidden leftovers are removed at start-up.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

from fleetyard.registry import SignatureError, Store, pull
from fleetyard.registry.names import parse_ref
from fleetyard.registry.policy import ProvenancePolicy
from fleetyard.registry.signing import verify_folder

__all__ = ["ModelDirs"]

ACTIVE = "active"
PREVIOUS = "previous"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _point(folder: Path, link: str, target: str) -> None:
    """Make `folder/link` a symlink to `target`, atomically (symlink + rename)."""
    tmp = folder / f".{link}.tmp-{os.getpid()}"
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass
    os.symlink(target, tmp)
    os.replace(tmp, folder / link)
    _fsync_dir(folder)


class ModelDirs:
    """The `models/` folder of one agent."""

    def __init__(self, root: Path, trusted_keys: Sequence[Path], policy: ProvenancePolicy | None = None,
                 *, site_key: Path | None = None) -> None:
        self.root = root
        self.site_key = site_key  # opens encrypted versions (docs/encryption.md)
        self.trusted_keys = list(trusted_keys)
        self.policy = policy or ProvenancePolicy()
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, name: str, version: str) -> Path:
        """Where `name:version` lives once materialized."""
        return self.root / name / version

    def is_materialized(self, ref: str) -> bool:
        """Whether the version's verified folder exists."""
        r = parse_ref(ref)
        return r.version is not None and self.path(r.name, r.version).is_dir()

    def clean_leftovers(self) -> list[Path]:
        """Remove half-assembled folders left by a crash; returns what was removed."""
        removed = []
        for model in self.root.iterdir() if self.root.is_dir() else []:
            if not model.is_dir():
                continue
            for p in model.iterdir():
                if not p.name.startswith("."):
                    continue
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
                removed.append(p)
        return removed

    def materialize(self, store: Store, ref: str) -> Path:
        """Assemble `ref` from the local store and verify its signature; returns its folder.

        Raises SignatureError (never leaving a folder behind) when the version is
        unsigned or no trusted key verifies it, ProvenanceError (a SignatureError) when
        the site's provenance policy refuses it - checked first, before a byte is
        assembled -, EncryptionError when the version is encrypted and this site's key
        cannot open it, and IntegrityError on a corrupted or tampered chunk.
        """
        manifest = store.resolve(ref)
        final = self.path(manifest.name, manifest.version)
        if final.is_dir():
            return final
        if not manifest.signed:
            raise SignatureError(f"{manifest.ref} is unsigned: this site runs only versions signed by a trusted key")
        self.policy.check(manifest, self.trusted_keys)
        final.parent.mkdir(parents=True, exist_ok=True)
        incoming = final.parent / f".incoming-{manifest.version}-{os.urandom(4).hex()}"
        try:
            pull(store, manifest.ref, incoming, site_key=self.site_key)
            self._verify(incoming, manifest.ref)
            os.rename(incoming, final)
            _fsync_dir(final.parent)
        except BaseException:
            shutil.rmtree(incoming, ignore_errors=True)
            raise
        return final

    def _verify(self, folder: Path, what: str) -> None:
        errors: list[str] = []
        for key in self.trusted_keys:
            try:
                verify_folder(folder, key, what)
                return
            except SignatureError as exc:
                errors.append(str(exc).split(": ", 1)[-1][:200])
        keys = ", ".join(k.name for k in self.trusted_keys)
        raise SignatureError(f"{what}: signature does not verify with any trusted key ({keys}): {errors[0]}")

    def active(self, name: str) -> str | None:
        """The active version of a model, or None."""
        link = self.root / name / ACTIVE
        try:
            target = os.readlink(link)
        except OSError:
            return None
        return target if (self.root / name / target).is_dir() else None

    def previous(self, name: str) -> str | None:
        """The version kept for rollback, or None."""
        try:
            target = os.readlink(self.root / name / PREVIOUS)
        except OSError:
            return None
        return target if (self.root / name / target).is_dir() else None

    def activate(self, name: str, version: str) -> str | None:
        """Point `active` at a materialized version; returns the version it replaced."""
        folder = self.root / name
        if not (folder / version).is_dir():
            raise FileNotFoundError(f"{name}:{version} is not materialized at {folder / version}")
        old = self.active(name)
        if old == version:
            return None
        if old is not None:
            _point(folder, PREVIOUS, old)
        _point(folder, ACTIVE, version)
        return old

    def rollback(self, name: str) -> str:
        """Make the previous version active again (and the current one previous)."""
        prev = self.previous(name)
        if prev is None:
            raise FileNotFoundError(f"{name} has no previous version to roll back to")
        self.activate(name, prev)
        return prev

    def actives(self) -> dict[str, str]:
        """Every model's active version as {name: name:version}."""
        out = {}
        for model in sorted(self.root.iterdir()) if self.root.is_dir() else []:
            v = self.active(model.name)
            if v is not None:
                out[model.name] = f"{model.name}:{v}"
        return out

    def prune(self, keep: Iterable[str]) -> list[str]:
        """Delete version folders other than active, previous and `keep` (refs)."""
        keep_set = set(keep)
        removed = []
        for model in self.root.iterdir() if self.root.is_dir() else []:
            if not model.is_dir() or model.is_symlink():
                continue
            protected = {self.active(model.name), self.previous(model.name)}
            for v in model.iterdir():
                if v.name.startswith(".") or v.is_symlink() or v.name in (ACTIVE, PREVIOUS):
                    continue
                if v.name in protected or f"{model.name}:{v.name}" in keep_set:
                    continue
                shutil.rmtree(v, ignore_errors=True)
                removed.append(f"{model.name}:{v.name}")
        return removed
