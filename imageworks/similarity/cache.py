"""The similarity cache (SQLite, WAL, next to the scan cache): perceptual hashes per file and stored neighbours.

- ``hashes`` is keyed by (path, algorithm, hash size) and remembers the file's (size, mtime_ns): a file whose size
  or mtime changed is hashed again, the rest are read back. Unreadable files are remembered with their problem.
- ``embeddings`` is keyed by (path, model, model revision) and remembers the file's (size, mtime_ns) the same way;
  vectors are float16 (half the bytes; cosines move by ~1e-3), files the model could not read keep their problem.
- ``quality`` is keyed by path and remembers (size, mtime_ns) the same way: what ranks a photo as a group's
  reference (pixels, sharpness, bytes: ``quality.py``), measured only for photos a search linked.
- ``neighbours`` holds, per scope (folder, library, method), the last search: the fingerprints it ran over (one
  digest), the lowest score it kept, the pairs and the linked photos' quality. A threshold at or above that score
  re-groups from it alone.

Like the scan cache it is disposable: a corrupt or foreign file is moved aside and rebuilt.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import msgspec
import numpy as np

from imageworks import paths
from imageworks.scan.store import connect, is_corrupt, move_aside
from imageworks.schema import Migration, SchemaError, migrate
from imageworks.similarity.neighbours import Neighbours
from imageworks.similarity.quality import Quality

LOOKUP_BATCH = 500  # keys per IN (...) query: well under SQLite's 32 766 bound parameters
SCHEMA = """
CREATE TABLE IF NOT EXISTS hashes (
    path BLOB NOT NULL,
    algorithm TEXT NOT NULL,
    hash_size INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    digest BLOB,
    problem TEXT,
    PRIMARY KEY (path, algorithm, hash_size)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS embeddings (
    path BLOB NOT NULL,
    model TEXT NOT NULL,
    revision TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    vector BLOB,
    problem TEXT,
    PRIMARY KEY (path, model, revision)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS neighbours (
    scope TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    min_score REAL NOT NULL,
    paths TEXT NOT NULL,
    skipped TEXT NOT NULL,
    pairs BLOB NOT NULL
);
"""
QUALITY = """
CREATE TABLE quality (
    path BLOB PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    sharpness REAL NOT NULL
) WITHOUT ROWID;
ALTER TABLE neighbours ADD COLUMN quality TEXT;
"""
MIGRATIONS: list[Migration] = [SCHEMA, QUALITY]  # 1: hashes, embeddings, neighbours; 2: references' quality
SCHEMA_VERSION = len(MIGRATIONS)


class Fingerprint(msgspec.Struct, frozen=True, array_like=True):
    """What identifies a file's content for caching: path, size, mtime (ns)."""

    path: str
    size: int
    mtime_ns: int


class StoredSearch(msgspec.Struct, frozen=True, kw_only=True):
    """A stored neighbour search: the images it indexed (``paths``), those it skipped (path -> problem), its pairs and
    the quality of the images they link (which one is a group's reference)."""

    min_score: float
    paths: list[str]
    skipped: dict[str, str]
    neighbours: Neighbours
    quality: dict[str, Quality] = {}


TABLE_VALUE = {"hashes": "digest", "embeddings": "vector"}
"""The column each per-file table keeps its value in."""


def _key(path: str) -> bytes:
    return os.fsencode(path)  # names that are not UTF-8 (surrogate escapes) still make a key


class SimilarityCache:
    """Hashes, embeddings and neighbour searches, persisted. ``hashes_computed`` and ``embeddings_computed`` count
    the files hashed and embedded through this object."""

    def __init__(self, db_path: str | Path | None = None) -> None:
        self.db_path = Path(db_path) if db_path is not None else paths.similarity_db()
        self.hashes_computed = 0
        self.embeddings_computed = 0
        self._con = self._open()

    def _open(self) -> sqlite3.Connection:
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return self._prepare(connect(str(self.db_path)))
        except SchemaError:
            pass  # a newer ImageWorks's cache: disposable, like a corrupt one
        except sqlite3.DatabaseError as exc:
            if not is_corrupt(exc):
                raise
        move_aside(self.db_path)
        return self._prepare(connect(str(self.db_path)))

    def _prepare(self, con: sqlite3.Connection) -> sqlite3.Connection:
        try:
            con.execute("PRAGMA journal_mode = WAL")
            con.execute("PRAGMA synchronous = NORMAL")
            migrate(con, MIGRATIONS, f"similarity cache {self.db_path}")
        except BaseException:
            con.close()
            raise
        return con

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> SimilarityCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _cached(
        self, table: str, columns: tuple[str, str], files: Sequence[Fingerprint], key: tuple[str | int, str | int]
    ) -> dict[str, tuple[bytes | None, str | None]]:
        """path -> (value, problem) from ``table`` (hashes or embeddings) under ``key`` (its two key columns'
        values) for the files whose stored size and mtime still match."""
        found: dict[str, tuple[bytes | None, str | None]] = {}
        by_key = {_key(f.path): f for f in files}
        keys = list(by_key)
        for start in range(0, len(keys), LOOKUP_BATCH):
            batch = keys[start : start + LOOKUP_BATCH]
            rows = self._con.execute(
                f"SELECT path, size, mtime_ns, {TABLE_VALUE[table]}, problem FROM {table} "
                f"WHERE {columns[0]} = ? AND {columns[1]} = ? AND path IN ({','.join('?' * len(batch))})",
                (*key, *batch),
            )
            for path_key, size, mtime_ns, value, problem in rows:
                f = by_key[path_key]
                if f.size == size and f.mtime_ns == mtime_ns:
                    found[f.path] = (value, problem)
        return found

    # ---- hashes -------------------------------------------------------------------------------------------

    def cached_hashes(
        self, files: Sequence[Fingerprint], algorithm: str, hash_size: int
    ) -> dict[str, tuple[bytes | None, str | None]]:
        """path -> (digest, problem) for the files whose stored size and mtime still match."""
        return self._cached("hashes", ("algorithm", "hash_size"), files, (algorithm, hash_size))

    def store_hashes(
        self,
        files: Sequence[Fingerprint],
        results: Sequence[tuple[bytes | None, str | None]],
        algorithm: str,
        hash_size: int,
    ) -> None:
        self.hashes_computed += len(files)
        with self._con:
            self._con.execute("BEGIN")
            self._con.executemany(
                "INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (_key(f.path), algorithm, hash_size, f.size, f.mtime_ns, digest, problem)
                    for f, (digest, problem) in zip(files, results, strict=True)
                ],
            )

    # ---- embeddings ---------------------------------------------------------------------------------------

    def cached_embeddings(
        self, files: Sequence[Fingerprint], model: str, revision: str
    ) -> dict[str, tuple[np.ndarray | None, str | None]]:
        """path -> (float16 vector, problem) for the files whose stored size and mtime still match."""
        found = self._cached("embeddings", ("model", "revision"), files, (model, revision))
        return {
            path: (np.frombuffer(blob, "<f2") if blob is not None else None, problem)
            for path, (blob, problem) in found.items()
        }

    def store_embeddings(
        self,
        files: Sequence[Fingerprint],
        results: Sequence[tuple[np.ndarray | None, str | None]],
        model: str,
        revision: str,
    ) -> None:
        self.embeddings_computed += len(files)
        with self._con:
            self._con.execute("BEGIN")
            self._con.executemany(
                "INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        _key(f.path),
                        model,
                        revision,
                        f.size,
                        f.mtime_ns,
                        np.asarray(vector, "<f2").tobytes() if vector is not None else None,
                        problem,
                    )
                    for f, (vector, problem) in zip(files, results, strict=True)
                ],
            )

    # ---- the quality of references ------------------------------------------------------------------------

    def cached_quality(self, files: Sequence[Fingerprint]) -> dict[str, Quality]:
        """path -> quality for the files whose stored size and mtime still match."""
        found: dict[str, Quality] = {}
        by_key = {_key(f.path): f for f in files}
        keys = list(by_key)
        for start in range(0, len(keys), LOOKUP_BATCH):
            batch = keys[start : start + LOOKUP_BATCH]
            rows = self._con.execute(
                "SELECT path, size, mtime_ns, width, height, sharpness FROM quality "
                f"WHERE path IN ({','.join('?' * len(batch))})",
                batch,
            )
            for path_key, size, mtime_ns, width, height, sharpness in rows:
                f = by_key[path_key]
                if f.size == size and f.mtime_ns == mtime_ns:
                    found[f.path] = Quality(width, height, sharpness, size, mtime_ns)
        return found

    def store_quality(self, measured: Sequence[tuple[Fingerprint, Quality]]) -> None:
        with self._con:
            self._con.execute("BEGIN")
            self._con.executemany(
                "INSERT OR REPLACE INTO quality VALUES (?, ?, ?, ?, ?, ?)",
                [(_key(f.path), f.size, f.mtime_ns, q.width, q.height, q.sharpness) for f, q in measured],
            )

    # ---- neighbour searches -------------------------------------------------------------------------------

    def load_search(self, scope: str, digest: str | None) -> StoredSearch | None:
        """The stored search for ``scope`` if it ran over exactly the files behind ``digest`` (None: whatever files
        the last search of ``scope`` ran over: what a finished similar job left)."""
        row = self._con.execute(
            "SELECT min_score, paths, skipped, pairs, quality FROM neighbours "
            "WHERE scope = ? AND digest = coalesce(?, digest)",
            (scope, digest),
        ).fetchone()
        if row is None or row[4] is None:  # a search stored before references had a quality: search again
            return None
        min_score, paths_json, skipped_json, pairs, quality_json = row
        return StoredSearch(
            min_score=min_score,
            paths=json.loads(paths_json),
            skipped=json.loads(skipped_json),
            neighbours=Neighbours.from_bytes(pairs),
            quality={path: Quality(*fields) for path, fields in json.loads(quality_json).items()},
        )

    def store_search(self, scope: str, digest: str, search: StoredSearch) -> None:
        """Replace the scope's stored search (one per scope: the cache does not grow with re-runs)."""
        with self._con:
            self._con.execute("BEGIN")
            self._con.execute(
                "INSERT OR REPLACE INTO neighbours VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    scope,
                    digest,
                    search.min_score,
                    json.dumps(search.paths),
                    json.dumps(search.skipped),
                    search.neighbours.to_bytes(),
                    json.dumps({p: msgspec.to_builtins(q) for p, q in search.quality.items()}),
                ),
            )
