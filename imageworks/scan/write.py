"""How a walk's records reach the ``files`` table, inside the walk's transaction: ``BulkInsert`` for a cold scan
(no rows yet for the root), ``Refresh`` for a walk of a root already cached (writes only what changed).

``BulkInsert`` sends rows through multi-row ``INSERT ... VALUES (...), (...)`` statements from a thread of its own
while the walk goes on. Why: per row, ``executemany`` binds (holding the GIL) and steps (releasing it), so a writer
thread using it swaps the GIL with the walker (which releases it for every ``lstat``) twice per row: slower than no
thread at all (measured: 2.2x ``find`` vs 1.8x). One statement per ``ROWS`` rows releases the GIL for the b-tree
work of all its rows (~2/3 of the insert's CPU), which then runs on another core; inline it is also ~5% cheaper.
What stays on the walk's critical path is binding the values (~25 ms per 80k rows) and the GIL hand-overs.
"""

from __future__ import annotations

import queue
import sqlite3
import sys
import threading
from collections.abc import Sequence
from itertools import chain
from typing import Any

from imageworks.scan.digests import DirDigests, has_byte_relpaths, rows_of_dir, store_digests, stored_digests
from imageworks.scan.records import is_plain_utf8
from imageworks.scan.roots import usable_cpus
from imageworks.scan.rows import db_text, from_db

ROWS = 1000
"""Rows per statement. Fewer mean more GIL hand-overs (250: ~10% slower scan); more, a dearer prepare (~3 us per
row, once per scan) for nothing (2000 and 4000 measured the same as 1000)."""
COLUMNS = "root_id, relpath, name_lc, ext_id, size, mtime_ns, ino, dev"
_PER_ROW = 7  # bound values per row: a walker record (root_id is a literal)
_DONE = None

Row = tuple[Any, ...]  # a walker record; its relpath as stored (str, or bytes when not UTF-8)


def _db_rows(batch: Sequence[Row], clean: bool) -> Sequence[Row]:
    return batch if clean else [(db_text(r[0]), *r[1:]) for r in batch]


class BulkInsert:
    """``add(batch, clean)`` per walker batch, then ``finish()`` (raises what the writer raised), or ``abort()``.

    ``threaded`` (default: with 2 or more usable CPUs; on one, the thread only adds GIL hand-overs) runs the
    statements on a thread, which alone uses the connection until ``finish``/``abort`` return; the directory
    digests and the rows' conversion are made there too, so the walking thread only hands batches over. A writer
    error (a full disk, a corrupt file) stops the walk at its next ``add`` and is re-raised as is, so the cache's
    corruption handling sees it."""

    added = changed = removed = 0  # a cold scan reports no changes

    def __init__(self, con: sqlite3.Connection, root_id: int, *, threaded: bool | None = None) -> None:
        self.con = con
        self.root_id = int(root_id)
        variables = 999  # SQLite < 3.32 allows only 999 variables; Python >= 3.11 can ask
        if sys.version_info >= (3, 11):
            variables = con.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        self.rows_per_statement = max(1, min(ROWS, variables // _PER_ROW))
        self._pending: list[Row] = []
        self._batches: list[tuple[Sequence[Row], bool]] = []  # threaded: the walk's batches not yet handed over
        self._batched = 0  # rows in them
        self.digests = DirDigests()
        self._error: BaseException | None = None
        self._queue: queue.Queue[list[tuple[Sequence[Row], bool]] | None] | None = None
        self._thread: threading.Thread | None = None
        if threaded if threaded is not None else usable_cpus() >= 2:
            self._queue = queue.Queue(maxsize=64)  # bounded: a slow disk slows the walk instead of filling memory
            self._thread = threading.Thread(target=self._run, name="scan-bulk-insert", daemon=True)
            self._thread.start()

    def _sql(self, rows: int) -> str:
        values = f"({self.root_id}{',?' * _PER_ROW})"
        return f"INSERT INTO files ({COLUMNS}) VALUES {','.join([values] * rows)}"

    def _insert(self, rows: list[Row], *, final: bool = False) -> list[Row]:
        """Insert whole statements' worth of ``rows`` (all of them if ``final``); return the rest."""
        n = self.rows_per_statement
        full = len(rows) // n * n
        if full:
            sql = self._sql(n)  # the same text each time: sqlite3's statement cache prepares it once
            for i in range(0, full, n):
                self.con.execute(sql, list(chain.from_iterable(rows[i : i + n])))
        if final and full < len(rows):  # the tail: executemany, as a statement of its own size costs a prepare
            self.con.executemany(self._sql(1), rows[full:])
            return []
        return rows[full:]

    def _run(self) -> None:
        assert self._queue is not None
        pending: list[Row] = []
        while (batches := self._queue.get()) is not _DONE:
            if self._error is not None:
                continue  # keep draining so that add() never blocks on a full queue
            try:
                for batch, clean in batches:  # the digests too are made here, off the walk's thread
                    self.digests.add(batch, clean)
                    pending += _db_rows(batch, clean)
                pending = self._insert(pending)
            except BaseException as exc:  # handed to the walking thread
                self._error = exc
        if self._error is None:
            try:
                self._insert(pending, final=True)
            except BaseException as exc:
                self._error = exc

    def add(self, batch: Sequence[Row], clean: bool) -> None:
        """``clean``: every relpath in ``batch`` is plain UTF-8 (else they are stored as bytes)."""
        if self._error is not None:
            raise self._error
        if self._queue is not None:
            self._batches.append((batch, clean))
            self._batched += len(batch)
            if self._batched >= self.rows_per_statement:  # a statement's worth at a time: each hand-over wakes
                self._queue.put(self._batches)  # the writer (and takes the GIL) once
                self._batches, self._batched = [], 0
            return
        self.digests.add(batch, clean)
        self._pending += _db_rows(batch, clean)
        if len(self._pending) >= self.rows_per_statement:
            self._pending = self._insert(self._pending)

    def finish(self) -> None:
        """Insert what is left; on return every row is in the (uncommitted) transaction."""
        if self._queue is not None:
            if self._batches:
                self._queue.put(self._batches)
            self._stop()
        elif self._error is None:
            self._insert(self._pending, final=True)
        if self._error is not None:
            raise self._error
        store_digests(self.con, self.root_id, self.digests.digests().items())  # the writer thread is done with con

    def abort(self) -> None:
        """Stop without raising; the caller rolls back."""
        self._error = self._error or RuntimeError("aborted")
        if self._queue is not None:
            self._stop()

    def _stop(self) -> None:
        assert self._queue is not None and self._thread is not None
        self._queue.put(_DONE)
        try:
            self._thread.join()
        finally:  # interrupted (Ctrl-C): still wait, so that no statement runs after the caller's rollback
            self._thread.join()
            self._queue = None


class Refresh:
    """A walk of a cached root: inserts added files, updates changed ones (size, mtime, inode: their probe results
    are dropped), deletes the ones not seen; unchanged rows, and their probe results, are left alone.

    Only directories whose digest (digests.py) differs from the stored one are diffed row by row; the rows of the
    others are never read. The whole root is diffed row by row when there are no stored digests (a cache written
    before them) or a name is not UTF-8 (digests carry text only)."""

    _INSERT = f"INSERT INTO files ({COLUMNS}) VALUES ({{root_id}}{',?' * _PER_ROW})"
    _UPDATE = (
        "UPDATE files SET name_lc = ?2, ext_id = ?3, size = ?4, mtime_ns = ?5, ino = ?6, dev = ?7, "
        "width = NULL, height = NULL, has_meta = NULL, probe_sig = NULL, problem = NULL "
        "WHERE root_id = {root_id} AND relpath = ?1"
    )

    def __init__(self, con: sqlite3.Connection, root_id: int) -> None:
        self.con = con
        self.root_id = int(root_id)
        self.added = self.changed = self.removed = 0
        self._insert = self._INSERT.format(root_id=self.root_id)
        self._update = self._UPDATE.format(root_id=self.root_id)
        self.digests = DirDigests()
        self._batches: dict[str, list[Sequence[Row]]] = {}
        self._clean = True
        self._stored = stored_digests(con, self.root_id)

    def add(self, batch: Sequence[Row], clean: bool) -> None:
        directory = self.digests.add(batch, clean)
        self._batches.setdefault(directory, []).append(batch)
        self._clean = self._clean and clean

    def finish(self) -> None:
        digests = self.digests.digests()
        if not self._stored or not self._clean or has_byte_relpaths(self.con, self.root_id):
            existing = self.con.execute(
                "SELECT relpath, size, mtime_ns, ino, dev FROM files WHERE root_id = ?", (self.root_id,)
            ).fetchall()
            self._diff(existing, [batch for batches in self._batches.values() for batch in batches])
        else:
            for directory, batches in self._batches.items():
                digest = digests[directory]
                if digest is None or self._stored.get(directory) != digest:
                    self._diff(rows_of_dir(self.con, self.root_id, directory), batches)
            for directory in self._stored.keys() - digests.keys():  # no image files there any more
                self._diff(rows_of_dir(self.con, self.root_id, directory), [])
        if {d: g for d, g in digests.items() if g is not None} != self._stored:  # an unchanged tree writes nothing
            store_digests(self.con, self.root_id, digests.items())

    def _diff(self, existing_rows: list[Row], batches: list[Sequence[Row]]) -> None:
        added, changed, removed = apply_diff(self.con, self.root_id, existing_rows, batches)
        self.added += added
        self.changed += changed
        self.removed += removed

    def abort(self) -> None:
        pass


def apply_diff(
    con: sqlite3.Connection, root_id: int, existing_rows: list[Row], batches: Sequence[Sequence[Row]]
) -> tuple[int, int, int]:
    """Write what differs between cached rows (relpath, size, mtime_ns, ino, dev) and walker records: insert the
    new, update the changed (dropping their probe results), delete the cached ones not among the records.
    Returns (added, changed, removed)."""
    insert = Refresh._INSERT.format(root_id=int(root_id))
    update = Refresh._UPDATE.format(root_id=int(root_id))
    existing = {from_db(r[0]): r[1:] for r in existing_rows}
    pop = existing.pop
    added = changed = 0
    for batch in batches:
        new, moved = [], []
        for r in batch:
            old = pop(r[0], None)
            if old is None:
                new.append(r)
            elif old != (r[3], r[4], r[5], r[6]):
                moved.append(r)
        clean = all(is_plain_utf8(r[0]) for r in new + moved)
        if new:
            con.executemany(insert, _db_rows(new, clean))
        if moved:
            con.executemany(update, _db_rows(moved, clean))
        added += len(new)
        changed += len(moved)
    if existing:
        con.executemany(
            "DELETE FROM files WHERE root_id = ? AND relpath = ?", [(root_id, db_text(rel)) for rel in existing]
        )
    return added, changed, len(existing)
