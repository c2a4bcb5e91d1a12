"""The cache file: SQLite in WAL mode, its schema brought up to date at open by ``MIGRATIONS``
(``imageworks.schema``).

A cache is disposable, so nothing here ever stops the app: a corrupt file or one written by a newer ImageWorks
is moved aside (``scan.sqlite3.broken-<time>``) and a fresh one is built, with a warning; if the cache dir can't
be written at all, an in-memory cache serves this session.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
import urllib.parse
from pathlib import Path

from imageworks.schema import Migration, SchemaError, migrate, statements, version_of

log = logging.getLogger("imageworks.scan")

PAGE_SIZE = 16384

# relpath is TEXT, or a BLOB of the raw bytes when the name is not UTF-8 (sqlite3 can't store surrogate escapes).
SCHEMA = """
CREATE TABLE roots (
    id INTEGER PRIMARY KEY,
    path NOT NULL UNIQUE,
    scanned_at REAL NOT NULL,
    walk_seconds REAL NOT NULL DEFAULT 0,
    files INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    follow_symlinks INTEGER NOT NULL DEFAULT 0,
    skipped_dirs INTEGER NOT NULL DEFAULT 0,
    symlinks_skipped INTEGER NOT NULL DEFAULT 0,
    empty_files INTEGER NOT NULL DEFAULT 0,
    error_count INTEGER NOT NULL DEFAULT 0,
    errors TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE files (
    root_id INTEGER NOT NULL,
    relpath NOT NULL,
    name_lc TEXT NOT NULL,
    ext_id INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    dev INTEGER NOT NULL,
    width INTEGER,
    height INTEGER,
    has_meta INTEGER,
    probe_sig TEXT,
    problem TEXT,
    PRIMARY KEY (root_id, relpath)
) WITHOUT ROWID;
"""
DIRS_TABLE = """
CREATE TABLE dirs (
    root_id INTEGER NOT NULL,
    relpath NOT NULL,
    digest BLOB NOT NULL,
    PRIMARY KEY (root_id, relpath)
) WITHOUT ROWID
"""
"""The table migration 4 adds: each walked directory's digest (digests.py), '' being the root. A cache made before
keeps its rows and probes; its first refresh diffs each root whole, once."""

# ext_id: index in records.EXTENSIONS. width/height: NULL = not read yet, -1 = unreadable.
# has_meta: NULL = not probed, 0/1, -1 = unreadable.

FILE_KEYWORDS = """
CREATE TABLE IF NOT EXISTS file_keywords (
    root_id INTEGER NOT NULL, relpath NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    sig TEXT NOT NULL, flat TEXT NOT NULL, hierarchical TEXT NOT NULL, PRIMARY KEY (root_id, relpath)
) WITHOUT ROWID
"""
"""Each file's own keywords (``keywords.py``). IF NOT EXISTS: caches of schema 2 made it on first use."""


def _add_watched(con: sqlite3.Connection) -> None:
    """``roots.watched``: 1 while the daemon's watcher keeps the root's rows current (daemon/watch.py), so that its
    scan answers from the cache; the daemon clears it for every root when it starts (files may have changed while
    it was down). Added once: a file already holding it keeps it."""
    if "watched" not in {row[1] for row in con.execute("PRAGMA table_info(roots)")}:
        con.execute("ALTER TABLE roots ADD COLUMN watched INTEGER NOT NULL DEFAULT 0")


def _rebuild_listing(con: sqlite3.Connection) -> None:
    """A cache is disposable: a listing of an older shape is dropped and made anew, and the next scan refills it."""
    for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        con.execute(f'DROP TABLE IF EXISTS "{name}"')
    for statement in statements(SCHEMA):
        con.execute(statement)


MIGRATIONS: list[Migration] = [
    "",  # 1: the first listing (ext and kind as text); migration 2 drops it, so its shape is not kept here
    _rebuild_listing,  # 2: ext_id instead of ext, kind
    FILE_KEYWORDS,  # 3: the keywords read from each file
    DIRS_TABLE,  # 4: each directory's digest, so a refresh reads only the directories that changed
    _add_watched,  # 5: the daemon watches the root: its listing is kept current without walks
]
SCHEMA_VERSION = len(MIGRATIONS)


def is_corrupt(exc: sqlite3.Error) -> bool:
    """SQLITE_CORRUPT or SQLITE_NOTADB (as opposed to a lock, which is waited out or reported)."""
    code = getattr(exc, "sqlite_errorcode", None)  # Python >= 3.11
    if code is not None:
        return code & 0xFF in (11, 26)
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text


def move_aside(path: Path) -> Path:
    """Rename the DB (and its -wal/-shm) out of the way; return the new name."""
    aside = path.with_name(f"{path.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    for suffix in ("", "-wal", "-shm"):
        src = Path(f"{path}{suffix}")
        if src.exists():
            try:
                os.replace(src, f"{aside}{suffix}")
            except OSError:
                src.unlink(missing_ok=True)
    return aside


def connect(target: str) -> sqlite3.Connection:
    con = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
    con.execute("PRAGMA busy_timeout = 60000")  # a walk of a big library holds the write lock for a while
    return con


def _prepare(con: sqlite3.Connection, path: Path) -> str | None:
    """Bring an open DB to the current schema. Returns a warning, or raises ``_MoveAside`` / sqlite3.Error."""
    version = version_of(con)  # "file is not a database" surfaces here
    if version > SCHEMA_VERSION:
        raise _MoveAside(f"written by a newer ImageWorks (schema {version} > {SCHEMA_VERSION})")
    if version == 0:
        con.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # only takes on a new file
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = NORMAL")
    try:
        found = migrate(con, MIGRATIONS, f"scan cache {path}")
    except SchemaError as exc:  # made newer by another process since the first look
        raise _MoveAside(str(exc)) from None
    con.execute("SELECT count(*) FROM roots").fetchone()
    return f"scan cache {path}: old schema {found}, rebuilt" if found == 1 else None  # only 1 was dropped


class _MoveAside(Exception):
    pass


def open_db(path: Path) -> tuple[sqlite3.Connection, list[str]]:
    """Open (creating, migrating or rebuilding as needed) the cache at ``path``; return it and any warnings."""
    warnings: list[str] = []
    for _ in range(3):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            con = connect(str(path))
        except (OSError, sqlite3.Error) as exc:
            warnings.append(f"scan cache {path} cannot be opened ({exc}); using an in-memory cache for this session")
            break
        try:
            note = _prepare(con, path)
        except _MoveAside as exc:
            reason = str(exc)
        except sqlite3.Error as exc:
            if not is_corrupt(exc):
                con.close()
                warnings.append(f"scan cache {path} unusable ({exc}); using an in-memory cache for this session")
                break
            reason = f"corrupt ({exc})"
        else:
            if note:
                warnings.append(note)
            for w in warnings:
                log.warning(w)
            return con, warnings
        con.close()
        aside = move_aside(path)
        warnings.append(f"scan cache {path} was {reason}; moved to {aside.name} and rebuilt")
    con = connect(":memory:")
    _prepare(con, path)
    for w in warnings:
        log.warning(w)
    return con, warnings


def open_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection to the cache (``mode=ro``): what a client reads while the daemon writes. A cache not
    made yet, or one this version cannot read (the daemon rebuilds it at its next scan), reads as empty."""
    if path.exists():
        try:
            con = sqlite3.connect(f"file:{urllib.parse.quote(str(path))}?mode=ro", uri=True, check_same_thread=False)
            con.execute("PRAGMA busy_timeout = 60000")
            if con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
                return con
            con.close()
        except sqlite3.Error as exc:
            log.warning("scan cache %s not readable (%s): read as empty", path, exc)
    con = connect(":memory:")
    _prepare(con, path)
    return con


def rollback(con: sqlite3.Connection) -> None:
    """ROLLBACK, if there is still a transaction (after an error the original exception matters more)."""
    try:
        con.execute("ROLLBACK")
    except sqlite3.Error:
        pass
