"""Changes of a cached listing other than a walk: per-path updates for a caller that knows which files changed (a
library watcher's events) and should not walk the whole root for them, the watch mark (``roots.watched``), and
forgetting roots (``clear``). ``ScanCache`` has these methods."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Any

from imageworks.scan.digests import dir_of, forget_digest
from imageworks.scan.records import ScanError
from imageworks.scan.rows import db_text, from_db, root_key
from imageworks.scan.store import rollback
from imageworks.scan.walk import Walker
from imageworks.scan.write import apply_diff


class PathChanges:
    """Mixed into ``ScanCache``, whose connections and error handling it uses (``_db``, ``_walk_db``, ``_root_id``)."""

    _db: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _walk_db: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _root_id: Callable[[sqlite3.Connection, str], int]
    _retrying: Callable[..., Any]
    _con: sqlite3.Connection

    def refresh_paths(self, root: str | os.PathLike[str], relpaths: Iterable[str]) -> tuple[int, int, int]:
        """Bring the rows of these files (relative to the cached ``root``) in line with the disk: a new image file
        is added, a changed one updated (its probe results dropped), one gone or no longer an image removed. Other
        rows are not touched; their directories' next refresh diffs them row by row (their digests are forgotten).
        Files only: a directory added or removed needs a refresh. Returns (added, changed, removed); ScanError if
        ``root`` has no cached listing."""
        key = root_key(root)
        rels = sorted(set(relpaths))
        if not rels:
            return 0, 0, 0
        records = Walker(key).stat_records(rels)
        with self._walk_db() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                root_id = self._root_id(con, key)
                existing = [
                    row
                    for rel in rels
                    for row in con.execute(
                        "SELECT relpath, size, mtime_ns, ino, dev FROM files WHERE root_id = ? AND relpath = ?",
                        (root_id, db_text(rel)),
                    )
                ]
                counts = apply_diff(con, root_id, existing, [records])
                for directory in {dir_of(rel) for rel in rels}:
                    forget_digest(con, root_id, directory)
                con.execute(
                    "UPDATE roots SET files = (SELECT count(*) FROM files WHERE root_id = ?1), "
                    "bytes = (SELECT coalesce(sum(size), 0) FROM files WHERE root_id = ?1) WHERE id = ?1",
                    (root_id,),
                )
                con.execute("COMMIT")
            except BaseException:
                rollback(con)
                raise
        return counts

    def relpaths_under(self, root: str | os.PathLike[str], directory: str) -> list[str]:
        """The cached relpaths under ``directory`` (relative to ``root``; '' = all), for a watcher told that a
        directory went away or was renamed: each is then refreshed (and found gone). Text relpaths only: a name that
        is not UTF-8 waits for the next walk."""
        key = root_key(root)
        with self._db() as con:
            root_id = self._root_id(con, key)
            if not directory:
                rows = con.execute("SELECT relpath FROM files WHERE root_id = ?", (root_id,)).fetchall()
            else:  # the key range of everything under the directory ('0' follows '/')
                sql = "SELECT relpath FROM files WHERE root_id = ? AND relpath >= ? AND relpath < ?"
                rows = con.execute(sql, (root_id, directory + "/", directory + "0")).fetchall()
        return [r for (r,) in rows if isinstance(r, str)]

    def cached_roots(self) -> list[tuple[str, bool]]:
        """Every cached root and whether its listing followed symlinks, the most recently walked first."""
        with self._db() as con:
            rows = con.execute("SELECT path, follow_symlinks FROM roots ORDER BY scanned_at DESC, path").fetchall()
        return [(from_db(path), bool(follow)) for path, follow in rows]

    def set_watched(self, root: str | os.PathLike[str] | None, watched: bool) -> bool:
        """Mark ``root`` (None: every root) as kept current by the daemon's watcher, so that the daemon's ``scan``
        answers from its rows without a walk, or no longer. Returns whether any root was marked."""
        with self._db() as con:
            if root is None:
                return con.execute("UPDATE roots SET watched = ?", (int(watched),)).rowcount > 0
            sql = "UPDATE roots SET watched = ? WHERE path = ?"
            return con.execute(sql, (int(watched), db_text(root_key(root)))).rowcount > 0

    def clear(self, root: str | os.PathLike[str] | None = None) -> int:
        """Forget the cached listing of ``root``, or of every root when None. Returns how many roots were dropped."""
        key = None if root is None else root_key(root)

        def attempt() -> int:
            with self._db() as con:
                con.execute("BEGIN IMMEDIATE")
                try:
                    if key is None:
                        dropped = con.execute("SELECT count(*) FROM roots").fetchone()[0]
                        con.execute("DELETE FROM files")
                        con.execute("DELETE FROM dirs")
                        con.execute("DELETE FROM roots")
                    else:
                        found = con.execute("SELECT id FROM roots WHERE path = ?", (db_text(key),)).fetchone()
                        dropped = 0 if found is None else 1
                        if found is not None:
                            con.execute("DELETE FROM files WHERE root_id = ?", found)
                            con.execute("DELETE FROM dirs WHERE root_id = ?", found)
                            con.execute("DELETE FROM roots WHERE id = ?", found)
                    con.execute("COMMIT")
                except BaseException:
                    rollback(con)
                    raise
                if key is None:
                    con.execute("VACUUM")  # give the space back: a cleared cache should be small on disk
                return int(dropped)

        try:
            return self._retrying(attempt, key or "", retry=False)
        except ScanError:
            if self._con.execute("SELECT count(*) FROM roots").fetchone()[0] == 0:
                return 0  # the corrupt file was moved aside: the cache is now empty, which is what was asked
            raise
