"""Per-directory digests of a walk, so that a refresh diffs only the directories that changed.

A directory's digest hashes the walker records of its image files (relpath, name, ext, size, mtime, inode, device)
in the order the walk met them. A scan stores one per directory (the ``dirs`` table); a refresh computes them again
as it walks, and a directory whose digest matches is unchanged: none of its rows is read. Only the others have their
rows loaded and diffed, file by file. So an unchanged library costs its walk plus ~0.1 µs a file (encoding the
records, in C) instead of loading and comparing every cached row (the walk plus ~1.6 µs a file).

A digest that does not match only costs a diff: the order of a directory's entries may change (a rename inside it)
and the result is still exact. What a digest cannot see, a refresh must not skip: a batch holding a non-UTF-8 name
gets no digest (its directory is always diffed), and a relpath's bytes are not mixed with text.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

_encode = msgspec.msgpack.Encoder().encode
DIGEST_BYTES = 16
_NEW = object()

Row = tuple[Any, ...]


def dir_of(relpath: str) -> str:
    """The directory part of a relpath ('' for a file at the root)."""
    return relpath.rpartition("/")[0]


class DirDigests:
    """Collects a walk's batches (each holds one directory's records: ``walk.Walker`` yields them so) and gives
    each directory's digest once the walk is over. A directory met in several batches is hashed over all of them,
    in order; one with a non-UTF-8 name (``clean`` false) gets none. Each batch is hashed as it comes (the same
    digest as hashing them joined), so no hashing is left for the end of the walk."""

    def __init__(self) -> None:
        self.hashes: dict[str, Any] = {}  # directory -> its running blake2b, or None: no digest

    def add(self, batch: Sequence[Row], clean: bool) -> str:
        """Take one walker batch (not empty); returns its directory."""
        directory = dir_of(batch[0][0])
        h = self.hashes.get(directory, _NEW)
        if h is None:
            return directory
        if not clean:
            self.hashes[directory] = None
            return directory
        if h is _NEW:
            h = self.hashes[directory] = hashlib.blake2b(digest_size=DIGEST_BYTES)
        h.update(_encode(batch))
        return directory

    def digests(self) -> dict[str, bytes | None]:
        """Each directory walked -> its digest (None: it holds a name the digest cannot carry)."""
        return {directory: None if h is None else h.digest() for directory, h in self.hashes.items()}


def stored_digests(con: sqlite3.Connection, root_id: int) -> dict[str, bytes]:
    return dict(con.execute("SELECT relpath, digest FROM dirs WHERE root_id = ?", (root_id,)).fetchall())


def store_digests(con: sqlite3.Connection, root_id: int, digests: Iterable[tuple[str, bytes | None]]) -> None:
    """Replace the root's digests with ``digests`` (directories without one are left out)."""
    con.execute("DELETE FROM dirs WHERE root_id = ?", (root_id,))
    con.executemany(
        f"INSERT INTO dirs (root_id, relpath, digest) VALUES ({int(root_id)}, ?, ?)",
        [(d, digest) for d, digest in digests if digest is not None],
    )


def forget_digest(con: sqlite3.Connection, root_id: int, directory: str) -> None:
    """A file of ``directory`` changed outside a walk: its next refresh diffs it row by row. An empty digest (one
    no walk gives) rather than none, so that a refresh that no longer finds the directory still deletes its rows."""
    con.execute("INSERT OR REPLACE INTO dirs (root_id, relpath, digest) VALUES (?, ?, x'')", (root_id, directory))


def rows_of_dir(con: sqlite3.Connection, root_id: int, directory: str) -> list[Row]:
    """(relpath, size, mtime_ns, ino, dev) of the files directly in ``directory`` (text relpaths only: a directory
    with a non-UTF-8 name has no digest and goes the whole-root way, see ``write.Refresh``)."""
    columns = "relpath, size, mtime_ns, ino, dev"
    if not directory:
        sql = f"SELECT {columns} FROM files WHERE root_id = ? AND instr(relpath, '/') = 0"
        return con.execute(sql, (root_id,)).fetchall()
    prefix = directory + "/"
    # the key range of everything under the directory ('0' follows '/'), then only its direct children
    sql = (
        f"SELECT {columns} FROM files WHERE root_id = ? AND relpath >= ? AND relpath < ? "
        "AND instr(substr(relpath, ?), '/') = 0"
    )
    return con.execute(sql, (root_id, prefix, directory + "0", len(prefix) + 1)).fetchall()


def has_byte_relpaths(con: sqlite3.Connection, root_id: int) -> bool:
    """Whether the root has rows stored as raw bytes (non-UTF-8 names): BLOBs sort after every TEXT key."""
    sql = "SELECT 1 FROM files WHERE root_id = ? AND relpath >= CAST(x'' AS BLOB) LIMIT 1"
    return con.execute(sql, (root_id,)).fetchone() is not None
