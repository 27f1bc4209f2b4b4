"""Back up and restore the control plane: the database and the registry's metadata, in one file.

A backup is one uncompressed tar file, its members in this order::

    fleetyard-backup.json      header: format, fleetyard version, schema revision, created_at, source database
    tables/<table>.jsonl       every row of every table, one JSON object a line (`backup_rows`)
    registry/<key>             the registry's metadata objects: aliases, version manifests, recipes, pack indexes
    checksums.json             last: size and BLAKE3 of every member above, rows per table, object count

What is consistent: the rows are read in ONE read transaction (`backup_rows.snapshot`),
so they agree with each other while the server keeps applying and taking heartbeats.
The registry objects are read after it, newest kind first (aliases, then versions,
then recipes, then pack indexes: the reverse of the order a push writes them), so
every alias and version in the backup comes with what it points to. A version pushed
while the backup runs may or may not be in it.

What is not in it: the packs of chunk bytes (`packs/*.pack`, most of the bytes). They
are immutable and named by content, so they are backed up by copying the folder
incrementally (`rsync -a`, S3 versioning or replication); see docs/operations.md.
Leases (in-flight pushes) and the store's format marker are not backed up either.

The file is written to a temporary name next to the target, fsynced and renamed, so
a crash never leaves a half backup under the final name. `restore` reads the whole
file and checks every checksum before it writes anything; it refuses a target
database that holds anything (`backup_rows.occupied`) and a registry holding versions
or aliases that are not the backup's own (so it never merges into a live fleet, yet
a restore that failed half way can be run again); it migrates the database to the
backup's schema revision, inserts every row in one transaction and, still inside
it, writes the registry objects in the order a push would. A pack index whose pack
is not in the target store is skipped and counted: an index without its pack would
let a push skip chunks the store does not have.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import blake3
from sqlalchemy import Connection, Engine, Table, exc

from fleetyard import __version__
from fleetyard.registry import InvalidInputError, RegistryError, Store, layout, uploads
from fleetyard.registry.backends import ObjectNotFoundError
from fleetyard.services.backup_rows import TABLES, decode_row, encode_row, insert_rows, occupied, snapshot
from fleetyard.services.db import DatabaseError, current_revision, head_revision, migrate, safe_url
from fleetyard.services.errors import ServiceError

__all__ = ["FORMAT", "FORMAT_VERSION", "BackupError", "BackupSummary", "backup", "restore"]

FORMAT = "fleetyard-backup"
FORMAT_VERSION = 1
HEADER = "fleetyard-backup.json"
CHECKSUMS = "checksums.json"
TABLE_DIR = "tables/"
REGISTRY_DIR = "registry/"
# Read newest kind first (backup), write oldest kind first (restore): see the module docstring.
READ_ORDER = (layout.ALIASES, layout.VERSIONS, layout.RECIPES, layout.PACKS)
SPOOL = 16 * 1024 * 1024
BATCH = 500


class BackupError(ServiceError):
    """A backup cannot be written, or a file cannot be restored; the message says why (bad input)."""

    status = 422


@dataclass(frozen=True)
class BackupSummary:
    """What a backup holds, or what a restore wrote."""

    path: Path
    rows: dict[str, int]
    objects: int
    size: int
    schema: str
    created_at: str
    skipped_indexes: list[str] = field(default_factory=list)

    def line(self, verb: str) -> str:
        rows = ", ".join(f"{n} {t}" for t, n in self.rows.items())
        skipped = ""
        if self.skipped_indexes:
            skipped = (f"; {len(self.skipped_indexes)} pack index(es) skipped: their packs are not in the "
                       "registry (copy the packs folder, docs/operations.md)")
        return (f"{verb} {self.path}: rows {rows}; {self.objects} registry metadata objects; "
                f"{self.size:,} bytes; schema {self.schema}, made {self.created_at}{skipped}")


# ---- backup -------------------------------------------------------------------------------


class _Writer:
    """Tar members with their BLAKE3, into an open file."""

    def __init__(self, file: IO[bytes]) -> None:
        self.tar = tarfile.open(fileobj=file, mode="w", format=tarfile.PAX_FORMAT)
        self.sums: dict[str, dict[str, Any]] = {}
        self.now = datetime.now(UTC).timestamp()

    def add(self, name: str, data: IO[bytes], size: int, digest: str) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = size, int(self.now), 0o600
        self.tar.addfile(info, data)
        self.sums[name] = {"size": size, "blake3": digest}

    def add_bytes(self, name: str, data: bytes) -> None:
        self.add(name, io.BytesIO(data), len(data), blake3.blake3(data).hexdigest())


def backup(engine: Engine, store: Store, out_path: Path) -> BackupSummary:
    """Write a backup of the database behind `engine` and of `store`'s metadata to `out_path`."""
    out_path = Path(out_path)
    folder = out_path.parent if str(out_path.parent) else Path(".")
    if not folder.is_dir():
        raise BackupError(f"cannot write {out_path}: folder {folder} does not exist")
    schema = current_revision(engine)
    if schema is None:
        raise BackupError(f"database {safe_url(engine.url)} is empty (no fleetyard schema): nothing to back up")
    created = datetime.now(UTC).isoformat()
    header = {"format": FORMAT, "version": FORMAT_VERSION, "fleetyard": __version__, "schema": schema,
              "created_at": created, "database": engine.dialect.name, "registry": store.url}
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{out_path.name}.", suffix=".tmp")
    except OSError as e:
        raise BackupError(f"cannot write {out_path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            w = _Writer(f)
            w.add_bytes(HEADER, json.dumps(header, indent=1).encode())
            rows = _write_tables(w, engine)
            objects = _write_registry(w, store)
            w.add_bytes(CHECKSUMS, json.dumps({"algorithm": "blake3", "rows": rows, "objects": objects,
                                                "members": w.sums}, indent=1).encode())
            w.tar.close()
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out_path)
        _fsync_dir(folder)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise BackupError(f"cannot write {out_path}: {e.strerror or e}") from None
        raise
    return BackupSummary(out_path, rows, objects, out_path.stat().st_size, schema, created)


def _write_tables(w: _Writer, engine: Engine) -> dict[str, int]:
    counts: dict[str, int] = {}
    try:
        for table, rows in snapshot(engine):
            with tempfile.SpooledTemporaryFile(SPOOL) as spool:
                h, size, n = blake3.blake3(), 0, 0
                for row in rows:
                    line = encode_row(table, row)
                    spool.write(line)
                    h.update(line)
                    size, n = size + len(line), n + 1
                spool.seek(0)
                w.add(f"{TABLE_DIR}{table.name}.jsonl", spool, size, h.hexdigest())
                counts[table.name] = n
    except exc.SQLAlchemyError as e:
        raise DatabaseError(f"reading {safe_url(engine.url)} failed: {str(getattr(e, 'orig', e)).strip()}") from e
    return counts


def _write_registry(w: _Writer, store: Store) -> int:
    n = 0
    for prefix in READ_ORDER:
        for key in sorted(o.key for o in store.backend.list(prefix)):
            if prefix == layout.PACKS and not key.endswith(".idx"):
                continue  # the chunk bytes: backed up by copying the folder
            try:
                data = store.backend.get(key)
            except ObjectNotFoundError:
                continue  # removed (or repacked by gc) since it was listed
            w.add_bytes(REGISTRY_DIR + key, data)
            n += 1
    return n


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---- restore ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Checked:
    header: dict[str, Any]
    rows: dict[str, int]
    objects: list[str]  # registry keys, in the order a push writes them


def verify(in_path: Path) -> _Checked:
    """Read the whole backup and check its format and every checksum; BackupError naming what is wrong."""
    where = str(in_path)
    if not in_path.is_file():
        raise BackupError(f"backup {where} does not exist" if not in_path.exists() else f"{where} is not a file")
    sums: dict[str, tuple[int, str]] = {}
    listed: dict[str, Any] | None = None
    header: dict[str, Any] | None = None
    try:
        with tarfile.open(in_path, mode="r:") as tar:
            for member in tar:
                if listed is not None:
                    raise BackupError(f"backup {where}: member {member.name} after {CHECKSUMS}")
                if not member.isfile():
                    raise BackupError(f"backup {where}: member {member.name} is not a regular file")
                data = _read_member(tar, member)
                if header is None:
                    header = _header(where, member.name, data)
                if member.name == CHECKSUMS:
                    listed = _json(where, member.name, data)
                else:
                    sums[member.name] = (len(data), blake3.blake3(data).hexdigest())
    except (tarfile.TarError, EOFError) as e:
        raise BackupError(f"backup {where} is truncated or corrupted: not a readable tar file ({e})") from None
    except OSError as e:
        raise BackupError(f"cannot read backup {where}: {e.strerror or e}") from None
    if header is None:
        raise BackupError(f"backup {where} is empty: not a fleetyard backup")
    if listed is None:
        raise BackupError(f"backup {where} is truncated: it ends before {CHECKSUMS} (after {len(sums)} members)")
    members = listed.get("members")
    if not isinstance(members, dict):
        raise BackupError(f"backup {where}: {CHECKSUMS} has no member list")
    for name, (size, digest) in sums.items():
        want = members.get(name)
        if not isinstance(want, dict):
            raise BackupError(f"backup {where}: member {name} is not in {CHECKSUMS}")
        if want.get("size") != size or want.get("blake3") != digest:
            raise BackupError(f"backup {where}: member {name} is corrupted: its BLAKE3 or size does not match "
                              f"{CHECKSUMS} ({size:,} bytes, expected {want.get('size')})")
    missing = sorted(set(members) - set(sums))
    if missing:
        raise BackupError(f"backup {where} is incomplete: member {missing[0]} listed in {CHECKSUMS} is missing")
    keys = [n[len(REGISTRY_DIR):] for n in sums if n.startswith(REGISTRY_DIR)]
    for key in keys:
        if not key.startswith(READ_ORDER) or (key.startswith(layout.PACKS) and not key.endswith(".idx")):
            raise BackupError(f"backup {where}: registry object {key} is not a metadata object of a registry")
    keys.sort(key=lambda k: (-next((i for i, p in enumerate(READ_ORDER) if k.startswith(p)), -1), k))
    rows = listed.get("rows")
    return _Checked(header, rows if isinstance(rows, dict) else {}, keys)


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    f = tar.extractfile(member)
    assert f is not None
    data = f.read()
    if len(data) != member.size:
        raise BackupError(f"member {member.name} is truncated: {len(data):,} of {member.size:,} bytes")
    return data


def _json(where: str, name: str, data: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except ValueError as e:
        raise BackupError(f"backup {where}: {name} is corrupted: not JSON ({e})") from None
    if not isinstance(doc, dict):
        raise BackupError(f"backup {where}: {name} is corrupted: expected a JSON object")
    return doc


def _header(where: str, name: str, data: bytes) -> dict[str, Any]:
    if name != HEADER:
        raise BackupError(f"{where} is not a fleetyard backup: it starts with {name!r}, not {HEADER}")
    doc = _json(where, name, data)
    if doc.get("format") != FORMAT:
        raise BackupError(f"{where} is not a fleetyard backup: format {doc.get('format')!r}, expected {FORMAT!r}")
    if doc.get("version") != FORMAT_VERSION:
        raise BackupError(f"backup {where} has format version {doc.get('version')!r}: this fleetyard reads "
                          f"version {FORMAT_VERSION} (made by fleetyard {doc.get('fleetyard')})")
    return doc


def restore(engine: Engine, store: Store, in_path: Path) -> BackupSummary:
    """Restore the backup at `in_path` into an empty database and registry; see the module docstring."""
    in_path = Path(in_path)
    checked = verify(in_path)
    schema, head = checked.header.get("schema"), head_revision()
    if schema != head:
        raise BackupError(f"backup {in_path} is at schema {schema!r}, this fleetyard at {head!r}: restore it "
                          "with the fleetyard version that made it, then upgrade that server")
    try:
        if current_revision(engine) is not None:  # refuse before migrating someone's database
            with engine.connect() as conn:
                _refuse_occupied(conn, engine)
        _check_registry(store, in_path)
        migrate(engine, str(schema))
        with tarfile.open(in_path, mode="r:") as tar, engine.begin() as conn:
            _refuse_occupied(conn, engine)  # again, in the transaction that inserts
            counts = insert_rows(conn, _rows(tar, in_path))
            skipped = _write_objects(tar, store, checked.objects)
    except exc.SQLAlchemyError as e:
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
        raise DatabaseError(f"restoring into {safe_url(engine.url)} failed, nothing was kept: {reason}") from e
    except ValueError as e:  # a row that does not fit its table
        raise BackupError(f"backup {in_path}: {e}; nothing was restored") from None
    return BackupSummary(in_path, counts, len(checked.objects) - len(skipped), in_path.stat().st_size,
                         str(schema), str(checked.header.get("created_at")), skipped)


def _refuse_occupied(conn: Connection, engine: Engine) -> None:
    if found := occupied(conn):
        what = ", ".join(f"{n} {t}" for t, n in found.items())
        raise BackupError(f"database {safe_url(engine.url)} is not empty ({what}): restore only into "
                          "a new, empty database, before a server starts on it")


def _check_registry(store: Store, in_path: Path) -> None:
    """Refuse a registry holding a version or alias that is not this backup's own, byte for byte."""
    with tarfile.open(in_path, mode="r:") as tar:
        for prefix in (layout.VERSIONS, layout.ALIASES):
            for obj in store.backend.list(prefix):
                try:
                    mine = _read_member(tar, tar.getmember(REGISTRY_DIR + obj.key))
                except KeyError:
                    mine = None
                if mine is None or mine != store.backend.get(obj.key):
                    raise BackupError(f"registry {store.url} is not empty: it holds {obj.key}, which is not "
                                      "from this backup; restore only into a new, empty data folder")


def _rows(tar: tarfile.TarFile, in_path: Path) -> Iterator[tuple[Table, list[dict[str, Any]]]]:
    for table in TABLES:
        name = f"{TABLE_DIR}{table.name}.jsonl"
        try:
            f = tar.extractfile(name)
        except KeyError:
            raise BackupError(f"backup {in_path}: table {table.name} is missing ({name})") from None
        assert f is not None
        batch: list[dict[str, Any]] = []
        for i, line in enumerate(f, 1):
            batch.append(decode_row(table, line, f"{name} line {i}"))
            if len(batch) >= BATCH:
                yield table, batch
                batch = []
        yield table, batch


def _write_objects(tar: tarfile.TarFile, store: Store, keys: list[str]) -> list[str]:
    """Write the registry objects (checked as the server checks uploads); the indexes skipped."""
    backend, skipped = store.backend, []
    for key in keys:
        if key.startswith(layout.PACKS) and not backend.exists(layout.pack_key(layout.pack_id_of(key))):
            skipped.append(key)
            continue
        f = tar.extractfile(REGISTRY_DIR + key)
        assert f is not None
        fd, tmp = tempfile.mkstemp(dir=backend.staging_dir(), prefix="restore-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(f.read())
            uploads.check_upload(backend, key, tmp)
            backend.put_file(key, tmp)
        except InvalidInputError as e:
            raise BackupError(f"registry object {key} in the backup is refused: {e}") from None
        except RegistryError as e:
            raise BackupError(f"writing {key} to {store.url} failed: {e}") from None
        finally:
            Path(tmp).unlink(missing_ok=True)
    return skipped
