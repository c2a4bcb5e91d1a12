"""Per-path updates of a cached listing: for a caller that knows which files changed (a library watcher's events)
and should not walk the whole root for them. ``ScanCache`` has these methods."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager

from imageworks.scan.digests import dir_of, forget_digest
from imageworks.scan.rows import db_text, root_key
from imageworks.scan.store import rollback
from imageworks.scan.walk import Walker
from imageworks.scan.write import apply_diff


class PathChanges:
    """Mixed into ``ScanCache``, whose connections and error handling it uses (``_walk_db``, ``_root_id``)."""

    _walk_db: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _root_id: Callable[[sqlite3.Connection, str], int]

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
