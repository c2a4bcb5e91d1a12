"""Backups of photos (and sidecars) taken before ImageWorks changes them, kept under the state dir (never in the
library), and the restore that puts them back.

Layout: ``state_dir()/backups/index.sqlite3`` (one row per write) and ``blobs/ab/abcdef…`` (the original bytes,
named by SHA-256, so writing the same original twice stores it once). A row is committed before the file is
touched and learns the fingerprint and SHA-256 of the new file before the rename, so after a crash at any point
restore knows whether the file holds the original (nothing to do) or what we wrote (safe to put back) or something
else (someone edited it since: refused unless forced). Content decides, not the inode: a file put back by restoring
a later job holds exactly what the earlier job wrote, under a new inode.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import msgspec

from imageworks import paths
from imageworks.metadata import atomic
from imageworks.metadata.plan import Fingerprint, MetadataError, Restored
from imageworks.schema import Migration, migrate

RestoreAction = Literal["restored", "removed", "unchanged", "refused"]

# IF NOT EXISTS: an index of the last release has the tables and no schema version (user_version 0).
# Paths are stored as file-system bytes: a name that is not valid UTF-8 still round-trips.
_BACKUPS_1 = """
CREATE TABLE IF NOT EXISTS backups (
    id INTEGER PRIMARY KEY,
    created_ns INTEGER NOT NULL,
    job_id TEXT,
    photo BLOB NOT NULL,
    target BLOB NOT NULL,
    existed INTEGER NOT NULL,
    blob TEXT,
    size INTEGER, mtime_ns INTEGER, ino INTEGER, mode INTEGER,
    after_size INTEGER, after_mtime_ns INTEGER, after_ino INTEGER,
    restored_ns INTEGER
);
CREATE INDEX IF NOT EXISTS backups_target ON backups(target);
CREATE INDEX IF NOT EXISTS backups_photo ON backups(photo);
CREATE INDEX IF NOT EXISTS backups_job ON backups(job_id);
"""


def _after_sha256_2(conn: sqlite3.Connection) -> None:
    """What ImageWorks wrote, by content; an index of the last release may have the column already."""
    if "after_sha256" not in {row[1] for row in conn.execute("PRAGMA table_info(backups)")}:
        conn.execute("ALTER TABLE backups ADD COLUMN after_sha256 TEXT")


MIGRATIONS: list[Migration] = [_BACKUPS_1, _after_sha256_2]


class BackupEntry(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    created_ns: int
    job_id: str | None
    photo: str
    target: str
    existed: bool
    """False: ImageWorks created the target (a new sidecar); restoring removes it."""
    blob: str | None
    before: Fingerprint | None
    mode: int | None
    after: Fingerprint | None
    """The file as ImageWorks left it; ``None`` if the write never got that far."""
    restored_ns: int | None
    after_sha256: str | None = None
    """SHA-256 of the bytes ImageWorks wrote (rows from before it was kept have none)."""


def backups_dir() -> Path:
    return paths.state_dir() / "backups"


class BackupStore:
    """The index of backups and their blobs. One connection, opened on first use (a store nobody wrote to creates
    nothing) and closed by ``close()`` or ``with``."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or backups_dir()
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            conn = sqlite3.connect(self.root / "index.sqlite3", timeout=30)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")  # the row must be on disk before the photo changes
                migrate(conn, MIGRATIONS, str(self.root / "index.sqlite3"))
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> BackupStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _blob_path(self, digest: str) -> Path:
        return self.root / "blobs" / digest[:2] / digest

    def _write_blob(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        final = self._blob_path(digest)
        if final.exists() and final.stat().st_size == len(data):
            os.utime(final)  # fresh again: prune keeps blobs touched after its cutoff, so this one stays
            return digest
        final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = atomic.write_temp(final, data)
        os.replace(tmp, final)
        atomic.fsync_dir(final.parent)
        return digest

    def blob(self, digest: str) -> bytes:
        path = self._blob_path(digest)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise MetadataError(f"backup {digest[:12]} is missing from {path.parent}", code="no_backup") from exc
        if hashlib.sha256(data).hexdigest() != digest:
            raise MetadataError(f"backup {path} is damaged (checksum mismatch); not restoring it", code="no_backup")
        return data

    def save(
        self, *, photo: Path, target: Path, data: bytes | None, st: os.stat_result | None, job_id: str | None
    ) -> int:
        """Keep ``data`` (the target's bytes now; ``None`` when it does not exist yet) and index it."""
        try:
            digest = self._write_blob(data) if data is not None else None
        except MetadataError as exc:
            raise MetadataError(f"{target}: cannot write its backup ({exc}); nothing changed", code="backup") from exc
        with self._connect() as conn:
            cur = conn.execute(
                "INSERT INTO backups (created_ns, job_id, photo, target, existed, blob, size, mtime_ns, ino, mode)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    time.time_ns(),
                    job_id,
                    os.fsencode(photo),
                    os.fsencode(target),
                    int(st is not None),
                    digest,
                    st.st_size if st else None,
                    st.st_mtime_ns if st else None,
                    st.st_ino if st else None,
                    st.st_mode if st else None,
                ),
            )
            return int(cur.lastrowid or 0)

    def set_after(self, backup_id: int, fp: Fingerprint, sha256: str) -> None:
        with self._connect() as conn:
            conn.execute(
                "UPDATE backups SET after_size = ?, after_mtime_ns = ?, after_ino = ?, after_sha256 = ? WHERE id = ?",
                (fp.size, fp.mtime_ns, fp.ino, sha256, backup_id),
            )

    def forget(self, backup_id: int) -> None:
        """The write failed before the file changed: the row would only confuse a later restore."""
        with self._connect() as conn:
            conn.execute("DELETE FROM backups WHERE id = ?", (backup_id,))

    def entries(
        self, *, path: Path | None = None, job_id: str | None = None, include_restored: bool = False
    ) -> list[BackupEntry]:
        where: list[str] = []
        args: list[object] = []
        if path is not None:
            where.append("(target = ? OR photo = ?)")
            args += [os.fsencode(path)] * 2
        if job_id is not None:
            where.append("job_id = ?")
            args.append(job_id)
        if not include_restored:
            where.append("restored_ns IS NULL")
        sql = "SELECT * FROM backups" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
        with self._connect() as conn:
            cursor = conn.cursor()
            cursor.row_factory = sqlite3.Row
            return [_entry(row) for row in cursor.execute(sql, args)]

    def mark_restored(self, ids: Iterable[int]) -> None:
        now = time.time_ns()
        with self._connect() as conn:
            conn.executemany("UPDATE backups SET restored_ns = ? WHERE id = ?", [(now, i) for i in ids])


class BackupUsage(msgspec.Struct, frozen=True, kw_only=True):
    entries: int
    """Rows in the index (one per write ImageWorks made, restored or not)."""
    blobs: int
    """Distinct original files kept."""
    bytes: int
    """What the backups take on disk (blobs and index)."""


def _disk_usage(root: Path) -> tuple[int, int]:
    """(blob files, bytes of everything under ``root``); zeros when nothing was ever backed up."""
    blobs = size = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            try:
                size += os.lstat(os.path.join(dirpath, name)).st_size
            except FileNotFoundError:
                continue  # pruned or replaced while we walked
            blobs += Path(dirpath).parent.name == "blobs"
    return blobs, size


def backups_total_bytes(root: Path | None = None) -> int:
    """What the metadata backups take on disk, without creating anything (for `daemon status`)."""
    return _disk_usage(root or backups_dir())[1]


@contextmanager
def _given_or_own(store: BackupStore | None) -> Iterator[BackupStore]:
    """The caller's store, or one of our own that is closed after use."""
    if store is not None:
        yield store
        return
    with BackupStore() as own:
        yield own


def backup_usage(store: BackupStore | None = None) -> BackupUsage:
    with _given_or_own(store) as store:
        entries = len(store.entries(include_restored=True)) if store.root.exists() else 0
    blobs, size = _disk_usage(store.root)  # once our own connection is closed: its WAL is folded in and gone
    return BackupUsage(entries=entries, blobs=blobs, bytes=size)


def prune_backups(older_than_s: float, store: BackupStore | None = None) -> BackupUsage:
    """Forget backups made more than ``older_than_s`` seconds ago and delete the originals no remaining backup
    needs. Returns what was removed. Those writes can no longer be restored: the caller asked for exactly that."""
    with _given_or_own(store) as store:
        if not store.root.exists():
            return BackupUsage(entries=0, blobs=0, bytes=0)
        cutoff_ns = time.time_ns() - int(older_than_s * 1e9)
        with store._connect() as conn:
            removed = conn.execute("DELETE FROM backups WHERE created_ns < ?", (cutoff_ns,)).rowcount
            needed = {row[0] for row in conn.execute("SELECT DISTINCT blob FROM backups WHERE blob IS NOT NULL")}
        root = store.root
    blobs = freed = 0
    for path in (root / "blobs").glob("*/*"):
        try:
            st = path.stat()
            # a blob written (or reused) after the cutoff may belong to a write whose row is not in yet
            if path.name in needed or st.st_mtime_ns >= cutoff_ns:
                continue
            path.unlink()
        except FileNotFoundError:
            continue
        blobs += 1
        freed += st.st_size
    return BackupUsage(entries=removed, blobs=blobs, bytes=freed)


def _fp(size: int | None, mtime_ns: int | None, ino: int | None) -> Fingerprint | None:
    return None if size is None or mtime_ns is None or ino is None else Fingerprint(size, mtime_ns, ino)


def _entry(row: sqlite3.Row) -> BackupEntry:
    return BackupEntry(
        id=row["id"],
        created_ns=row["created_ns"],
        job_id=row["job_id"],
        photo=os.fsdecode(row["photo"]),
        target=os.fsdecode(row["target"]),
        existed=bool(row["existed"]),
        blob=row["blob"],
        before=_fp(row["size"], row["mtime_ns"], row["ino"]),
        mode=row["mode"],
        after=_fp(row["after_size"], row["after_mtime_ns"], row["after_ino"]),
        restored_ns=row["restored_ns"],
        after_sha256=row["after_sha256"],
    )


class _Content:
    """A file's SHA-256, read only when a fingerprint did not already settle the question."""

    def __init__(self, path: Path, st: os.stat_result | None) -> None:
        self.path, self.st = path, st
        self._digest: str | None = None

    def holds(self, digest: str | None) -> bool:
        if digest is None or self.st is None or not stat.S_ISREG(self.st.st_mode):
            return False
        if self._digest is None:
            try:
                self._digest = hashlib.sha256(self.path.read_bytes()).hexdigest()
            except OSError:
                return False
        return self._digest == digest


def restore(
    path: str | os.PathLike[str] | None = None,
    *,
    job_id: str | None = None,
    force: bool = False,
    store: BackupStore | None = None,
) -> list[Restored]:
    """Put files back as they were before ImageWorks changed them.

    ``restore(path)``: the photo (or its sidecar) as it was before ImageWorks first changed it (since the last
    restore). ``restore(job_id=…)``: every file that job changed, as it was before that job. A file that changed
    since ImageWorks wrote it (a person's edit, a later job) is refused unless ``force``. Returns one entry per
    file; refusals are entries too (``action="refused"``), so one bad file does not stop the rest."""
    if path is None and job_id is None:
        raise MetadataError("restore needs a path or a job id", code="bad_value")
    where = Path(os.path.realpath(os.fspath(path))) if path is not None else None
    with _given_or_own(store) as store:
        rows = store.entries(path=where, job_id=job_id)
        if not rows:
            what = f"job {job_id}" if job_id is not None else str(where)
            raise MetadataError(f"no ImageWorks backup to restore for {what}", code="no_backup")
        by_target: dict[str, list[BackupEntry]] = {}
        for row in rows:
            by_target.setdefault(row.target, []).append(row)
        return [_restore_one(store, Path(target), group, force) for target, group in by_target.items()]


def _restore_one(store: BackupStore, target: Path, group: list[BackupEntry], force: bool) -> Restored:
    first = group[0]
    later = store.entries(path=target)  # every unrestored write to this file, by any job
    later = [e for e in later if e.target == str(target) and e.id >= first.id]
    newest = later[-1]
    st = atomic.stat_or_none(target)
    now = None if st is None else atomic.fingerprint(st)
    content = _Content(target, st)

    def done(action: RestoreAction, reason: str = "") -> Restored:
        if action != "refused":
            store.mark_restored(e.id for e in later)
        return Restored(
            target=str(target), photo=first.photo, action=action, reason=reason, backup_id=first.id, job_id=first.job_id
        )

    if now == first.before or (first.existed and content.holds(first.blob)):
        return done("unchanged", "already holds the original (the write never landed)")
    if not force:
        if newest.id != group[-1].id:
            by = f"job {newest.job_id}" if newest.job_id else "a later write"
            return done("refused", f"ImageWorks ({by}) wrote it after; restore that first, or use --force")
        if now != newest.after and not content.holds(newest.after_sha256):
            return done("refused", "changed since ImageWorks wrote it; use --force to restore anyway")
    try:
        if not first.existed:
            if st is not None:
                os.unlink(target)
                atomic.fsync_dir(target.parent)
            return done("removed", "ImageWorks had created it")
        data = store.blob(first.blob or "")
        mode, before = first.mode, first.before

        def put_back(tmp: Path) -> None:
            if mode is not None:
                os.chmod(tmp, mode & 0o7777)
            if before is not None:
                os.utime(tmp, ns=(before.mtime_ns, before.mtime_ns))

        owner = st if st is not None else target.parent.stat()
        atomic.replace(target, data, expect=now, owner=owner, keep_mtime=True, finish=put_back)
    except MetadataError as exc:
        return done("refused", str(exc))
    except OSError as exc:
        return done("refused", str(atomic.os_error_message(target, exc)))
    return done("restored")
