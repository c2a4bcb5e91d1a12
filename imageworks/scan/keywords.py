"""The library's own keywords, as its files hold them (dc:subject / IPTC keywords, and lr:hierarchicalSubject
paths), read into the scan cache: the photographer's vocabulary for review.

Each file's keywords are read once (``ensure_keywords``) and kept beside its listing row with the size, mtime and
(for RAW) sidecar signature they were read at; a walk that finds the file changed updates its row, so the stored
keywords no longer match it and the next ``ensure_keywords`` reads the file again (a removed file's keywords no
longer count). ``library_keywords`` counts images per keyword over the fresh reads only, in SQL.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import msgspec

from imageworks.scan.probe import sidecar_signature
from imageworks.scan.records import KIND_OF_ID
from imageworks.scan.rows import db_text, from_db, root_key
from imageworks.scan.store import rollback

log = logging.getLogger("imageworks.scan")

_BATCH = 256


class LibraryKeywords(msgspec.Struct, frozen=True, kw_only=True):
    flat: dict[str, int] = {}
    """Keyword → images holding it (dc:subject, IPTC Keywords)."""
    hierarchical: dict[str, int] = {}
    """lr:hierarchicalSubject path (``Animals|Dog``) → images holding it."""


def read_file_keywords(path: str) -> tuple[list[str], list[str]]:
    """(flat keywords, hierarchical paths) a photo holds, its sidecar included. Raises MetadataError / OSError."""
    from imageworks import metadata as md  # pyexiv2: only where files are read

    existing = md.read(path)
    return list(existing.keywords), list(existing.hierarchical)


class KeywordReads:
    """Mixed into ``ScanCache``, whose connection, lock and root lookup it uses."""

    _db: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _root_id: Callable[[sqlite3.Connection, str], int]
    keywords_reader: Callable[[str], tuple[list[str], list[str]]] = staticmethod(read_file_keywords)

    def ensure_keywords(
        self, root: str | os.PathLike[str], *, progress: Callable[[int, int], None] | None = None
    ) -> int:
        """Read the keywords of every file under ``root`` not read since it last changed; returns how many were
        read. A file that cannot be read counts as holding none (until it changes). Raises ScanError if ``root``
        was never scanned."""
        key = root_key(root)
        base = key if key.endswith(os.sep) else key + os.sep
        with self._db() as con:
            root_id = self._root_id(con, key)
            rows = con.execute(
                "SELECT f.relpath, f.size, f.mtime_ns, f.ext_id, k.size, k.mtime_ns, k.sig FROM files f "
                "LEFT JOIN file_keywords k ON k.root_id = f.root_id AND k.relpath = f.relpath WHERE f.root_id = ?",
                (root_id,),
            ).fetchall()
        todo = []
        for rel, size, mtime_ns, ext_id, read_size, read_mtime, read_sig in rows:
            path = base + from_db(rel)
            sig = sidecar_signature(path) if KIND_OF_ID[ext_id] == "raw" else ""
            if (read_size, read_mtime, read_sig) != (size, mtime_ns, sig):
                todo.append((rel, path, size, mtime_ns, sig))
        pending: list[tuple[Any, ...]] = []
        for done, (rel, path, size, mtime_ns, sig) in enumerate(todo, 1):
            try:
                flat, hierarchical = self.keywords_reader(path)
            except Exception as exc:  # an unreadable file holds no keywords we can use
                log.debug("keywords of %s not read: %s", path, exc)
                flat, hierarchical = [], []
            pending.append((root_id, rel, size, mtime_ns, sig, json.dumps(flat), json.dumps(hierarchical)))
            if len(pending) >= _BATCH or done == len(todo):
                self._store_keywords(pending)
                pending = []
            if progress is not None:
                progress(done, len(todo))
        return len(todo)

    def _store_keywords(self, rows: list[tuple[Any, ...]]) -> None:
        with self._db() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                con.executemany("INSERT OR REPLACE INTO file_keywords VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
                con.execute("COMMIT")
            except BaseException:
                rollback(con)
                raise

    def library_keywords(self, roots: list[str] | None = None) -> LibraryKeywords:
        """Images per keyword and per hierarchy path over the fresh reads under ``roots`` (None = every root)."""
        flat: Counter[str] = Counter()
        hierarchical: Counter[str] = Counter()
        for flat_json, hier_json in self._fresh_rows(roots):
            flat.update(dict.fromkeys(json.loads(flat_json), 1))
            hierarchical.update(dict.fromkeys(json.loads(hier_json), 1))
        return LibraryKeywords(flat=dict(flat), hierarchical=dict(hierarchical))

    def _fresh_rows(self, roots: list[str] | None) -> list[tuple[str, str]]:
        sql = (
            "SELECT k.flat, k.hierarchical FROM file_keywords k JOIN files f ON f.root_id = k.root_id "
            "AND f.relpath = k.relpath AND f.size = k.size AND f.mtime_ns = k.mtime_ns "
            "WHERE (k.flat != '[]' OR k.hierarchical != '[]')"
        )
        with self._db() as con:
            if roots is None:
                return con.execute(sql).fetchall()
            out: list[tuple[str, str]] = []
            for root in roots:
                found = con.execute("SELECT id FROM roots WHERE path = ?", (db_text(root_key(root)),)).fetchone()
                if found is not None:
                    out += con.execute(sql + " AND k.root_id = ?", (found[0],)).fetchall()
            return out

    def roots_holding(self, path: str) -> list[str]:
        """The cached roots ``path`` lies under (nested scans may give several)."""
        with self._db() as con:
            keys = [from_db(p) for (p,) in con.execute("SELECT path FROM roots").fetchall()]
        return [k for k in keys if path.startswith(k if k.endswith(os.sep) else k + os.sep)]
