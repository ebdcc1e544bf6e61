"""Online backup and restore of the embedded default: our SQLite database, the run engine's
(`dbos.sqlite`, so queued and running workflows survive), local object storage and the dev secrets
kept under var/. PostgreSQL and S3 have their own tools (README, "Backups").

A backup is taken while the server runs and writes, in this order, each part consistent with the
ones before it:

1. The run engine's database, then ours, each copied by SQLite's online backup API in one step:
   one read transaction, so each copy is its database as of one commit. Our writers carry on
   meanwhile (WAL); DBOS's file keeps a rollback journal, so its writers wait the few milliseconds
   of its copy, well inside their 30 s busy timeout. The engine enqueues only after our commit
   and records a step only after the step's own writes committed, so its copy, taken first, is
   never ahead of ours: every workflow it holds finds its run. A run whose enqueue it lacks is
   what the enqueue sweep repairs after any crash.
2. Storage, after the databases. An object is published (fsync, atomic rename) before any row
   names it, so every object the database copy names existed when the copy was taken, and objects
   written since are harmless extras. Only the purges delete objects (uploads and artifacts past
   retention, unstarted runs past expiry), so an object deleted between the copy and the storage
   pass belongs to a run whose purge was already due. After a restore, the same sweep runs again
   and settles it, as it does after a crash between a purge's delete and its commit.
3. The dev secrets, then the manifest. All of it is written into a hidden sibling directory that
   is renamed to the target only once complete, so a half-written backup never looks like one.

A restore writes into a fresh place only: it refuses when any file it would write already exists
(an SQLite `-wal` beside a restored database would be replayed into it), checks every file
against the manifest before writing one, and puts our database in place last, under its name
only once whole: until then no server sees a restored installation.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import uuid
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from seecodes import __version__, migrations
from seecodes.config import Settings, StorageBackend
from seecodes.db import SQLITE_BUSY_TIMEOUT_MS, is_sqlite
from seecodes.kit.clock import Clock, iso_utc
from seecodes.runs.storage.local import PARTIAL_DIR

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
# Names inside a backup: var/'s own layout, so a backup also reads as the directory it came from.
DATABASE = "seecodes.db"
SYSTEM_DATABASE = "dbos.sqlite"
STORAGE = "storage"
# Files SQLite keeps beside a database: one left there when a restored file arrives would be
# taken for that file's own journal.
_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
_CHUNK_BYTES = 1024 * 1024
_SECRET_MODE = 0o600
_FILE_MODE = 0o666  # less the umask, as any file the server writes


class Refused(RuntimeError):
    """Nothing was backed up or restored; the message says why and what to do instead."""


class NotFound(RuntimeError):
    """The database to back up, or the backup to restore, does not exist."""


@dataclass(frozen=True, slots=True)
class Embedded:
    """Where this host's settings keep what a backup holds (or where a restore puts it)."""

    database: Path
    system_database: Path
    storage: Path
    secrets: tuple[Path, ...]  # held in a backup by file name


@dataclass(frozen=True, slots=True)
class Entry:
    path: str  # relative to the backup, `/`-separated
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Manifest:
    format_version: int
    seecodes_version: str
    schema_revision: str | None
    created_at: str
    files: tuple[Entry, ...]

    def holds(self, path: str) -> bool:
        return any(entry.path == path for entry in self.files)


def embedded(settings: Settings, *, system_database_url: str) -> Embedded:
    """The embedded default's files; anything else is refused, naming the tools that back it up."""
    if not is_sqlite(settings.effective_database_url):
        raise Refused(
            "the database is not SQLite (SEECODES_DATABASE_URL): back PostgreSQL up with its own tools, "
            "pg_dump of the app schema and the `dbos` schema; see README, Backups"
        )
    if not is_sqlite(system_database_url):
        raise Refused(
            "the run engine's database is not SQLite (SEECODES_RUN_ENGINE_DATABASE_URL): back it up "
            "with PostgreSQL's own tools; see README, Backups"
        )
    if settings.storage_backend is not StorageBackend.LOCAL:
        raise Refused(
            "object storage is S3 (SEECODES_STORAGE_BACKEND): back the bucket up with its own tools "
            "(versioning or replication, aws s3 sync, rclone); see README, Backups"
        )
    return Embedded(
        database=_sqlite_file(settings.effective_database_url),
        system_database=_sqlite_file(system_database_url),
        storage=settings.local_storage_dir,
        secrets=(settings.dev_secret_key_path, settings.dev_forge_key_path),
    )


def secrets_kept_elsewhere(settings: Settings) -> list[str]:
    """Settings a backup cannot hold that a restored installation needs the same values of:
    without them its permits, signed URLs and stored Jira tokens no longer verify or decrypt."""
    names = []
    if not settings.uses_dev_secret:
        names.append("SEECODES_SECRET_KEY")
    if settings.previous_secret_keys:
        names.append("SEECODES_PREVIOUS_SECRET_KEYS")
    if settings.jira_encryption_keys:
        names.append("SEECODES_JIRA_ENCRYPTION_KEYS")
    return names


def _sqlite_file(url: str) -> Path:
    name = make_url(url).database
    if not name or name == ":memory:":
        raise Refused(f"{url} is an in-memory database: there is nothing on disk to back up or restore")
    return Path(name)


# -- backup ------------------------------------------------------------------------------------------
def take(layout: Embedded, target: Path, clock: Clock) -> Manifest:
    """Back up `layout` into `target`, a new or empty directory, while the server keeps writing."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise Refused(f"{target} exists and is not empty: back up into a new or empty directory")
    if target.resolve().is_relative_to(layout.storage.resolve()):
        raise Refused(f"{target} is inside the storage directory, which the backup copies")
    if not layout.database.is_file():
        raise NotFound(f"no database at {layout.database}: nothing to back up")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.partial-{uuid.uuid4().hex[:12]}"
    staging.mkdir(mode=0o700)  # it holds the secrets and every tenant's data
    try:
        files = []
        if layout.system_database.is_file():
            files.append(_snapshot(layout.system_database, staging, SYSTEM_DATABASE))
        files.append(_snapshot(layout.database, staging, DATABASE))
        files.extend(_copy_storage(layout.storage, staging))
        for secret in layout.secrets:
            if secret.is_file():
                files.append(_copy(secret, staging / secret.name, secret.name, mode=_SECRET_MODE))
        revisions = _schema_revisions(staging / DATABASE)
        manifest = Manifest(
            format_version=FORMAT_VERSION,
            seecodes_version=__version__,
            schema_revision=", ".join(revisions) or None,
            created_at=iso_utc(clock.utcnow()),
            files=tuple(files),
        )
        _write_manifest(staging / MANIFEST, manifest)
        _sync_directories(staging)
        os.replace(staging, target)  # over an empty directory too, in one step
        _sync_directory(target.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _snapshot(live: Path, staging: Path, name: str) -> Entry:
    """The database as of one commit: the backup API copies every page in one step (pages=-1), so
    in one read transaction; stepping would restart on every write and might never finish."""
    copy = staging / name
    # mode=rw: a database that disappears meanwhile is an error, not a new empty file.
    with closing(sqlite3.connect(f"{live.resolve().as_uri()}?mode=rw", uri=True)) as source:
        source.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        with closing(sqlite3.connect(copy)) as snapshot:
            source.backup(snapshot)
            # The copy inherits WAL from the page header; one self-contained file instead, so the
            # checksum covers all of it. The server turns WAL back on when it opens the restore.
            snapshot.execute("PRAGMA journal_mode=DELETE")
            (verdict,) = snapshot.execute("PRAGMA quick_check").fetchone()
    if verdict != "ok":
        raise Refused(f"the copy of {live} fails SQLite's quick_check ({verdict}); nothing was backed up")
    return _entry_of(copy, name)


def _copy_storage(root: Path, staging: Path) -> list[Entry]:
    files: list[Entry] = []
    if not root.is_dir():
        return files
    for parent, directories, names in os.walk(root):
        here = Path(parent)
        if here == root:
            # Bytes of uploads still arriving: not objects until published, and never named by a row.
            directories[:] = [name for name in directories if name != PARTIAL_DIR]
        directories.sort()
        for name in sorted(names):
            path = here / name
            if path.is_symlink() or not path.is_file():
                continue  # objects are plain files; a link would copy whatever it points to
            relative = f"{STORAGE}/{path.relative_to(root).as_posix()}"
            try:
                files.append(_copy(path, staging / relative, relative))
            except FileNotFoundError:
                continue  # deleted since the database copy: a purge that was due (module docstring)
    return files


def _schema_revisions(database: Path) -> list[str]:
    with closing(sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)) as connection:
        try:
            rows = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        except sqlite3.OperationalError:
            return []  # never migrated: the server migrates it at start
    return sorted(str(revision) for (revision,) in rows)


def _write_manifest(path: Path, manifest: Manifest) -> None:
    document = {
        "formatVersion": manifest.format_version,
        "seecodesVersion": manifest.seecodes_version,
        "schemaRevision": manifest.schema_revision,
        "createdAt": manifest.created_at,
        "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in manifest.files],
    }
    with path.open("x") as file:
        json.dump(document, file, indent=2)
        file.write("\n")
        file.flush()
        os.fsync(file.fileno())


# -- restore -----------------------------------------------------------------------------------------
def restore(source: Path, layout: Embedded) -> Manifest:
    """Put the backup in `source` where `layout` says, into a fresh installation; `seecodes serve`
    then migrates it to this release. Nothing is written unless every check passes."""
    if not (source / MANIFEST).is_file():
        if not source.is_dir():
            raise NotFound(f"no backup at {source}")
        raise Refused(f"{source} has no {MANIFEST}: not a complete seecodes backup")
    manifest = _read_manifest(source / MANIFEST)
    placements = _placements(manifest, layout)
    _refuse_occupied(layout, placements)
    for entry in manifest.files:
        _check(source, entry)
    # Read from the database itself, which the checksums vouch for; the manifest's copy is for people.
    unknown = migrations.unknown_revisions(_schema_revisions(source / DATABASE))
    if unknown:
        raise migrations.SchemaNewerThanCode(unknown)
    _place(source, placements, layout)
    return manifest


def _read_manifest(path: Path) -> Manifest:
    try:
        document = json.loads(path.read_text())
        version = int(document["formatVersion"])
        if version > FORMAT_VERSION:
            raise Refused(
                f"the backup's format is version {version}, newer than this release reads "
                f"({FORMAT_VERSION}): restore it with the release that wrote it"
            )
        return Manifest(
            format_version=version,
            seecodes_version=str(document["seecodesVersion"]),
            schema_revision=None if document["schemaRevision"] is None else str(document["schemaRevision"]),
            created_at=str(document["createdAt"]),
            files=tuple(
                Entry(path=str(f["path"]), size=int(f["size"]), sha256=str(f["sha256"]))
                for f in document["files"]
            ),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise Refused(f"{path} is not a seecodes backup manifest ({type(error).__name__})") from error


def _placements(manifest: Manifest, layout: Embedded) -> dict[Entry, Path]:
    """Where each file goes. The manifest names only paths a backup writes: one naming anything
    else (`..`, an absolute path) would otherwise write outside the installation."""
    if not manifest.holds(DATABASE):
        raise Refused(f"the backup holds no {DATABASE}")
    if len({entry.path for entry in manifest.files}) != len(manifest.files):
        raise Refused("the manifest lists a file twice: the backup is damaged or altered")
    secrets = {secret.name: secret for secret in layout.secrets}
    return {entry: _place_of(entry.path, layout, secrets) for entry in manifest.files}


def _place_of(path: str, layout: Embedded, secrets: dict[str, Path]) -> Path:
    if path == DATABASE:
        return layout.database
    if path == SYSTEM_DATABASE:
        return layout.system_database
    if path in secrets:
        return secrets[path]
    segments = path.split("/")
    safe = "\\" not in path and not any(segment in ("", ".", "..") for segment in segments)
    if safe and len(segments) > 1 and segments[0] == STORAGE:
        return layout.storage.joinpath(*segments[1:])
    raise Refused(f"the manifest names {path!r}, which is not a file a seecodes backup holds")


def _refuse_occupied(layout: Embedded, placements: dict[Entry, Path]) -> None:
    # Both databases whether the backup holds the engine's or not: a leftover one would pair
    # another installation's workflows with these runs.
    databases = (layout.database, layout.system_database)
    occupied = [Path(f"{db}{suffix}") for db in databases for suffix in ("", *_SQLITE_SIDE_FILES)]
    occupied += [place for place in placements.values() if not place.is_relative_to(layout.storage)]
    for path in occupied:
        if path.exists():
            raise Refused(
                f"{path} already exists: restore into a fresh SEECODES_VAR_DIR and storage directory; "
                "a restore never overwrites"
            )
    if _holds_files(layout.storage):
        raise Refused(
            f"the storage directory {layout.storage} already holds files: restore into an empty one"
        )


def _holds_files(directory: Path) -> bool:
    # Empty directories are what a server that started there (and a failed restore) leave behind.
    return any(names for _parent, _directories, names in os.walk(directory))


def _check(source: Path, entry: Entry) -> None:
    path = source / entry.path
    if not path.is_file():
        raise Refused(f"the backup is missing {entry.path}, which its manifest lists")
    found = _entry_of(path, entry.path)
    if found.size != entry.size:
        raise Refused(
            f"{entry.path} is {found.size} bytes, the manifest says {entry.size}: the backup is damaged"
        )
    if found.sha256 != entry.sha256:
        raise Refused(
            f"{entry.path} does not match its SHA-256 in the manifest: the backup is damaged or altered"
        )


def _place(source: Path, placements: dict[Entry, Path], layout: Embedded) -> None:
    secrets = set(layout.secrets)
    storage_existed = layout.storage.exists()
    placed: list[Path] = []
    database = next(entry for entry in placements if entry.path == DATABASE)
    try:
        for entry, place in placements.items():
            if entry is database:
                continue
            mode = _SECRET_MODE if place in secrets else _FILE_MODE
            _copy_verified(source / entry.path, place, entry, mode=mode)
            placed.append(place)
        partial = layout.database.with_name(f".{layout.database.name}.restoring-{uuid.uuid4().hex[:12]}")
        placed.append(partial)
        _copy_verified(source / DATABASE, partial, database, mode=_FILE_MODE)
    except BaseException:
        for path in placed:
            path.unlink(missing_ok=True)
        if not storage_existed:
            shutil.rmtree(layout.storage, ignore_errors=True)
        raise
    # Last, and under its name only once whole: the restore has happened when it is there.
    os.replace(partial, layout.database)
    _sync_directory(layout.database.parent)


def _copy_verified(source: Path, place: Path, entry: Entry, *, mode: int) -> None:
    copied = _copy(source, place, entry.path, mode=mode)
    if copied.sha256 != entry.sha256:
        raise Refused(f"{entry.path} changed while it was restored; nothing was restored")


# -- files -------------------------------------------------------------------------------------------
def _copy(source: Path, copy: Path, name: str, *, mode: int = _FILE_MODE) -> Entry:
    """Copied, hashed as copied (the manifest describes the bytes written, even of a file replaced
    meanwhile: an open file keeps its contents), fsynced; never over an existing file."""
    digest = hashlib.sha256()
    size = 0
    with source.open("rb") as reading:
        copy.parent.mkdir(parents=True, exist_ok=True)
        with os.fdopen(os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "wb") as writing:
            while chunk := reading.read(_CHUNK_BYTES):
                digest.update(chunk)
                writing.write(chunk)
                size += len(chunk)
            writing.flush()
            os.fsync(writing.fileno())
    return Entry(path=name, size=size, sha256=digest.hexdigest())


def _entry_of(path: Path, name: str) -> Entry:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return Entry(path=name, size=size, sha256=digest.hexdigest())


def _sync_directories(root: Path) -> None:
    """A file's fsync does not make its name durable; its directory's does."""
    for parent, _directories, _names in os.walk(root):
        _sync_directory(Path(parent))


def _sync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
