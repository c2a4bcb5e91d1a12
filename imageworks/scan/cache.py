"""``ScanCache``: the persistent, filterable listing of image files under a root."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from imageworks import paths
from imageworks.config import ScanConfig
from imageworks.scan.changes import PathChanges
from imageworks.scan.filters import ScanFilter
from imageworks.scan.keywords import KeywordReads
from imageworks.scan.probe import LazyProbes, has_metadata, image_dimensions
from imageworks.scan.records import FileEntry, ScanError, ScanProgress, ScanResult, display_path
from imageworks.scan.roots import check_root
from imageworks.scan.rows import ENTRY_COLUMNS, db_text, entry_from_row, root_key
from imageworks.scan.store import connect, is_corrupt, move_aside, open_db, open_readonly, rollback
from imageworks.scan.walk import MAX_MESSAGES, Walker
from imageworks.scan.write import BulkInsert, Refresh

log = logging.getLogger("imageworks.scan")
T = TypeVar("T")

_ROOT_COLUMNS = (
    "id, scanned_at, walk_seconds, files, bytes, follow_symlinks, skipped_dirs, symlinks_skipped, empty_files, "
    "error_count, errors, watched"
)


class ScanCache(LazyProbes, KeywordReads, PathChanges):
    """The library scan cache (SQLite, WAL): the daemon writes it, clients open it ``read_only``. Thread-safe.

    - ``scan(root)`` returns the cached listing while it is younger than the TTL, else walks: cold (no entry yet) or
      a refresh that writes only added, removed and changed files (size, mtime, inode), keeping the rest's probes.
    - ``query`` / ``count`` / ``totals`` filter the cached listing in SQL; they never touch the filesystem.
    - ``ensure_metadata_flags`` / ``ensure_dimensions`` probe files lazily; answers are cached until the file changes.
    - ``ensure_keywords`` / ``library_keywords``: the library's own keywords, read once per file (keywords.py).
    - ``refresh_paths(root, relpaths)``: update just these files' rows (changes.py), for a watcher's events.

    ``clock`` (epoch seconds) decides TTL ages; ``metadata_probe(path) -> bool`` and ``dimensions_probe(path) ->
    (w, h)`` may be replaced; ``walker`` is ``auto`` (see ``walk.default_engine``), ``rust`` or ``python``."""

    def __init__(
        self,
        db_path: str | Path | None = None,
        *,
        config: ScanConfig | None = None,
        clock: Callable[[], float] = time.time,
        metadata_probe: Callable[[str], bool] | None = None,
        dimensions_probe: Callable[[str], tuple[int, int]] | None = None,
        walker: str = "auto",
        read_only: bool = False,
    ) -> None:
        self.db_path = Path(db_path) if db_path is not None else paths.scan_db()
        self.config = config or ScanConfig()
        self.clock = clock
        self.metadata_probe = metadata_probe or has_metadata
        self.dimensions_probe = dimensions_probe or image_dimensions
        self.walker = walker
        self.read_only = read_only  # a client's view (mode=ro): queries only; the daemon, the one writer, scans
        self.scans_run = 0
        """Walks performed (cold scans and refreshes)."""
        self.cache_hits = 0
        """``scan`` calls answered from the cache."""
        self.files_probed = 0
        """Files read by ``ensure_*`` (cache answers not counted)."""
        self._lock = threading.RLock()
        self._open()

    def _open(self) -> None:
        self._con, warnings = (open_readonly(self.db_path), []) if self.read_only else open_db(self.db_path)
        self.warnings: list[str] = getattr(self, "warnings", []) + warnings
        self._in_memory = not self._con.execute("PRAGMA database_list").fetchone()[2]

    # ---- lifecycle ------------------------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def __enter__(self) -> ScanCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def counters(self) -> dict[str, int]:
        """For the TUI's debug panel."""
        return {"scans_run": self.scans_run, "cache_hits": self.cache_hits, "files_probed": self.files_probed}

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """A corrupt file is moved aside and rebuilt (``_Rebuilt``); other DB errors become ScanError."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if is_corrupt(exc):
                with self._lock:
                    self._rebuild(exc)
                raise _Rebuilt(str(exc)) from exc
            raise ScanError(f"scan cache {self.db_path}: {exc}") from exc

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """The shared connection, under the lock (short work); a read-only view finds the file the daemon makes."""
        with self._lock, self._errors():
            if self.read_only and self._in_memory and self.db_path.exists():
                self._con.close()
                self._open()
            yield self._con

    @contextmanager
    def _walk_db(self) -> Iterator[sqlite3.Connection]:
        """A connection of its own for a walk, so queries on the shared one keep reading the last committed listing
        (WAL) instead of waiting for the walk. An in-memory cache has only the shared connection."""
        if self._in_memory:
            with self._db() as con:
                yield con
            return
        with self._errors():
            con = connect(str(self.db_path))
            try:
                con.execute("PRAGMA synchronous = NORMAL")
                yield con
            finally:
                con.close()

    def _rebuild(self, exc: sqlite3.Error) -> None:
        self._con.close()
        aside = move_aside(self.db_path)
        message = f"scan cache {self.db_path} was corrupt ({exc}); moved to {aside.name} and rebuilt"
        log.warning(message)
        self.warnings.append(message)
        self._open()

    def _retrying(self, action: Callable[[], T], key: str, *, retry: bool) -> T:
        """Run ``action``; if the cache turned out corrupt (and was rebuilt), run it once more or say so."""
        for _attempt in range(2 if retry else 1):
            try:
                return action()
            except _Rebuilt as exc:
                failure = exc
        raise ScanError(
            f"the scan cache was corrupt ({failure}) and has been rebuilt: scan {display_path(key)} again"
        ) from None

    # ---- scanning -------------------------------------------------------------------------------------------

    def scan(
        self,
        root: str | os.PathLike[str],
        *,
        ttl: float | None = None,
        refresh: bool = False,
        follow_symlinks: bool | None = None,
        progress: Callable[[ScanProgress], None] | None = None,
        trust_watch: bool = False,
    ) -> ScanResult:
        """The listing of image files under ``root``, from the cache when younger than ``ttl`` seconds (default
        ``config.ttl_seconds``; 0 = always walk), else walked now. ``refresh`` walks regardless. A cached listing made
        with another ``follow_symlinks`` (default ``config.follow_symlinks``) is walked again. ``progress`` is called
        during a walk; an exception raised from it cancels the walk and leaves the cache as it was. ``trust_watch``
        (the daemon's scan job, once the root's watcher applied what changed before the request): a root the daemon
        watches is answered from the cache at any age, ``refresh`` or not.
        Raises ScanError when the root is missing, not a directory or unreadable."""
        started = time.perf_counter()
        key = check_root(root)
        follow = self.config.follow_symlinks if follow_symlinks is None else follow_symlinks
        if self.read_only:
            raise ScanError(f"{display_path(key)}: this scan cache is read-only here (the daemon scans)")

        def attempt() -> ScanResult:
            fresh = self._fresh(key, ttl, follow, started, refresh=refresh, trust_watch=trust_watch)
            if fresh is not None:
                self.cache_hits += 1
                return fresh
            self.scans_run += 1
            with self._walk_db() as con:
                return self._walk(con, key, follow, progress, started, self.clock())

        return self._retrying(attempt, key, retry=True)

    def fresh(
        self, root: str | os.PathLike[str], *, ttl: float | None = None, follow_symlinks: bool | None = None
    ) -> ScanResult | None:
        """``scan``'s answer without a walk (younger than ``ttl``, same ``follow_symlinks``), else None: read-only."""
        started, key = time.perf_counter(), root_key(root)
        follow = self.config.follow_symlinks if follow_symlinks is None else follow_symlinks
        return self._retrying(lambda: self._fresh(key, ttl, follow, started), key, retry=False)

    def _fresh(
        self,
        key: str,
        ttl: float | None,
        follow: bool,
        started: float,
        *,
        refresh: bool = False,
        trust_watch: bool = False,
    ) -> ScanResult | None:
        """The cached answer when young enough (never on ``refresh``); with ``trust_watch``, a watched root's."""
        ttl = self.config.ttl_seconds if ttl is None else float(ttl)  # 0: always walk
        with self._db() as con:
            row = self._root_row(con, key)
            now = self.clock()
            if row is None or bool(row["follow_symlinks"]) != follow:
                return None
            watched = trust_watch and bool(row["watched"])
            if not watched and (refresh or not 0 <= now - row["scanned_at"] < ttl):
                return None
            return self._result(key, row, now, from_cache=True, seconds=time.perf_counter() - started)

    def _walk(
        self,
        con: sqlite3.Connection,
        key: str,
        follow: bool,
        progress: Callable[[ScanProgress], None] | None,
        started: float,
        now: float,
    ) -> ScanResult:
        """Walk ``key`` in one transaction: a cold insert, or a diff against the rows already cached. The listing
        is dated ``now`` (the walk's start), so a file changed during the walk is seen again by the next one."""
        walker = Walker(key, follow_symlinks=follow, engine=self.walker)
        files = nbytes = empty = 0
        writer: BulkInsert | Refresh | None = None
        con.execute("BEGIN IMMEDIATE")
        try:
            row = self._root_row(con, key)  # read again under the write lock: another walk may have just committed
            if row is None:
                root_id = con.execute(
                    "INSERT INTO roots (path, scanned_at) VALUES (?, ?)", (db_text(key), now)
                ).lastrowid
                assert root_id is not None  # an INSERT sets it; in-memory, the connection is the shared one (1 thread)
                writer = BulkInsert(con, root_id, threaded=False if self._in_memory else None)
            else:
                writer = Refresh(con, row["id"])
            for batch, clean in walker.batches():
                sizes = [r[3] for r in batch]
                files += len(batch)
                nbytes += sum(sizes)
                empty += sizes.count(0)
                writer.add(batch, clean)
                if progress is not None:
                    progress(ScanProgress(files=files, bytes=nbytes, dirs=walker.dirs))
            writer.finish()
            errors = list(walker.errors)
            error_count = walker.error_count
            if walker.vanished:
                error_count += 1
                errors.append(f"{walker.vanished} entries vanished while scanning (skipped)")
            con.execute(
                "UPDATE roots SET scanned_at = ?, walk_seconds = ?, files = ?, bytes = ?, follow_symlinks = ?, "
                "skipped_dirs = ?, symlinks_skipped = ?, empty_files = ?, error_count = ?, errors = ?, "
                "watched = CASE WHEN ? THEN 0 ELSE watched END WHERE id = ?",  # a watch sees nothing behind symlinks
                (
                    now,
                    time.perf_counter() - started,
                    files,
                    nbytes,
                    int(follow),
                    walker.skipped_dirs,
                    walker.symlinks_skipped,
                    empty,
                    error_count,
                    json.dumps(errors[:MAX_MESSAGES]),
                    int(follow),
                    writer.root_id,
                ),
            )
            con.execute("COMMIT")
        except BaseException:
            if writer is not None:
                writer.abort()  # BulkInsert's thread is done with the connection before the rollback
            rollback(con)
            raise
        row = self._root_row(con, key)
        assert row is not None
        return self._result(
            key,
            row,
            self.clock(),
            from_cache=False,
            seconds=time.perf_counter() - started,
            added=writer.added,
            removed=writer.removed,
            changed=writer.changed,
        )

    @staticmethod
    def _root_row(con: sqlite3.Connection, key: str) -> dict[str, Any] | None:
        values = con.execute(f"SELECT {_ROOT_COLUMNS} FROM roots WHERE path = ?", (db_text(key),)).fetchone()
        if values is None:
            return None
        return dict(zip([c.strip() for c in _ROOT_COLUMNS.split(",")], values, strict=True))

    @staticmethod
    def _result(
        key: str, row: dict[str, Any], now: float, *, from_cache: bool, seconds: float, **changes: int
    ) -> ScanResult:
        return ScanResult(
            root=key,
            files=row["files"],
            bytes=row["bytes"],
            from_cache=from_cache,
            seconds=seconds,
            scanned_at=row["scanned_at"],
            age_seconds=max(0.0, now - row["scanned_at"]),
            walk_seconds=row["walk_seconds"],
            skipped_dirs=row["skipped_dirs"],
            symlinks_skipped=row["symlinks_skipped"],
            empty_files=row["empty_files"],
            error_count=row["error_count"],
            errors=tuple(json.loads(row["errors"])),
            follow_symlinks=bool(row["follow_symlinks"]),
            **changes,
        )

    # ---- filtering ------------------------------------------------------------------------------------------

    def _root_id(self, con: sqlite3.Connection, key: str) -> int:
        found = con.execute("SELECT id FROM roots WHERE path = ?", (db_text(key),)).fetchone()
        if found is None:
            raise ScanError(f"{display_path(key)} has no cached listing: scan it first")
        return int(found[0])

    def query(
        self,
        root: str | os.PathLike[str],
        filters: ScanFilter | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[FileEntry]:
        """Cached entries under ``root`` matching ``filters``, ordered by relative path (``limit``/``offset`` page
        through them). Raises ScanError if ``root`` was never scanned."""
        key = root_key(root)
        where, params = (filters or ScanFilter()).to_sql()

        def attempt() -> list[Any]:
            with self._db() as con:
                sql = f"SELECT {ENTRY_COLUMNS} FROM files WHERE root_id = ?{where} ORDER BY relpath"
                args: list[object] = [self._root_id(con, key), *params]
                if limit is not None or offset:
                    sql += " LIMIT ? OFFSET ?"
                    args += [-1 if limit is None else limit, offset]
                return con.execute(sql, args).fetchall()

        rows = self._retrying(attempt, key, retry=False)
        base = key if key.endswith(os.sep) else key + os.sep
        return [entry_from_row(base, r) for r in rows]

    def totals(self, root: str | os.PathLike[str], filters: ScanFilter | None = None) -> tuple[int, int]:
        """(files, bytes) of the cached entries matching ``filters``."""
        key = root_key(root)
        where, params = (filters or ScanFilter()).to_sql()

        def attempt() -> tuple[int, int]:
            with self._db() as con:
                n, size = con.execute(
                    f"SELECT count(*), coalesce(sum(size), 0) FROM files WHERE root_id = ?{where}",
                    [self._root_id(con, key), *params],
                ).fetchone()
                return int(n), int(size)

        return self._retrying(attempt, key, retry=False)

    def count(self, root: str | os.PathLike[str], filters: ScanFilter | None = None) -> int:
        """How many cached entries match ``filters``."""
        return self.totals(root, filters)[0]


class _Rebuilt(Exception):
    """The cache file was corrupt and has been replaced by an empty one."""
