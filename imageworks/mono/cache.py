"""Mono results by file fingerprint (path, size, mtime) and rules, so a second check of an unchanged photo costs a
lookup. Keyed also by ``ANALYSIS_VERSION``, a digest of every threshold and of the code's version: recalibrating
re-checks everything, and nothing stale is ever shown. SQLite (WAL) in the cache dir, like the scan and similarity
caches, and like them disposable: a corrupt or foreign file is moved aside and rebuilt. The daemon is its writer.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import msgspec

from imageworks import paths
from imageworks.mono import thresholds
from imageworks.mono.result import Analysis, Overlays

CODE_VERSION = 1
"""Bump when the analysis changes in a way the thresholds do not show."""
SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    path BLOB NOT NULL,
    rules TEXT NOT NULL,
    version TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    analysis BLOB,
    overlays BLOB,
    problem TEXT,
    PRIMARY KEY (path, rules)
) WITHOUT ROWID;
"""


def _analysis_version() -> str:
    values = sorted((k, repr(v)) for k, v in vars(thresholds).items() if k.isupper())
    return hashlib.sha1(repr((CODE_VERSION, values)).encode()).hexdigest()[:16]


ANALYSIS_VERSION = _analysis_version()


class Cached(msgspec.Struct, kw_only=True):
    """One stored check: its analysis, or the one-line problem that kept the file from being read."""

    analysis: Analysis | None = None
    overlays: Overlays = msgspec.field(default_factory=Overlays)
    problem: str = ""


def overlay_key(path: str, size: int, mtime_ns: int, rules: str) -> str:
    """The overlays' file name stem for one fingerprint (a changed file gets new ones, never a stale picture)."""
    text = f"{path}\0{size}\0{mtime_ns}\0{rules}\0{ANALYSIS_VERSION}"
    return hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()[:24]


def _key(path: str) -> bytes:
    return os.fsencode(path)


class MonoCache:
    def __init__(self, db_path: str | Path | None = None) -> None:
        self.db_path = Path(db_path) if db_path is not None else paths.mono_db()
        self._con = self._open()

    def _open(self) -> sqlite3.Connection:
        from imageworks.scan.store import connect, is_corrupt, move_aside

        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return self._prepare(connect(str(self.db_path)))
        except sqlite3.DatabaseError as exc:
            if not is_corrupt(exc) and "newer" not in str(exc):
                raise
        move_aside(self.db_path)
        return self._prepare(connect(str(self.db_path)))

    @staticmethod
    def _prepare(con: sqlite3.Connection) -> sqlite3.Connection:
        version = con.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            con.close()
            raise sqlite3.DatabaseError(f"written by a newer ImageWorks (schema {version})")
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("PRAGMA synchronous = NORMAL")
        con.executescript(SCHEMA)
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        return con

    @classmethod
    def reader(cls, db_path: str | Path | None = None) -> MonoCache:
        """A read-only connection (a pool worker's: the daemon alone writes). sqlite3.Error when there is no cache."""
        self = cls.__new__(cls)
        self.db_path = Path(db_path) if db_path is not None else paths.mono_db()
        if not self.db_path.exists():
            raise sqlite3.OperationalError(f"{self.db_path}: no mono cache yet")
        self._con = sqlite3.connect(f"{self.db_path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
        self._con.execute("PRAGMA busy_timeout = 5000")
        return self

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> MonoCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, path: str, size: int, mtime_ns: int, rules: str) -> Cached | None:
        """The stored check of this exact file version under these rules and this analysis version, if any."""
        row = self._con.execute(
            "SELECT size, mtime_ns, version, analysis, overlays, problem FROM results WHERE path = ? AND rules = ?",
            (_key(path), rules),
        ).fetchone()
        if row is None or (row[0], row[1], row[2]) != (size, mtime_ns, ANALYSIS_VERSION):
            return None
        analysis = msgspec.json.decode(row[3], type=Analysis) if row[3] is not None else None
        overlays = msgspec.json.decode(row[4], type=Overlays) if row[4] is not None else Overlays()
        pictures = (overlays.chroma, overlays.residual, *overlays.regions)
        if analysis is not None and not all(os.path.exists(p) for p in pictures if p):
            return None  # someone cleared the overlays: check again so the pictures come back
        return Cached(analysis=analysis, overlays=overlays, problem=row[5] or "")

    def put(self, path: str, size: int, mtime_ns: int, rules: str, cached: Cached) -> None:
        self._con.execute(
            "INSERT OR REPLACE INTO results (path, rules, version, size, mtime_ns, analysis, overlays, problem) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                _key(path),
                rules,
                ANALYSIS_VERSION,
                size,
                mtime_ns,
                msgspec.json.encode(cached.analysis) if cached.analysis is not None else None,
                msgspec.json.encode(cached.overlays),
                cached.problem or None,
            ),
        )

    def count(self) -> int:
        return int(self._con.execute("SELECT count(*) FROM results").fetchone()[0])


def check_and_draw(path: str, size: int, mtime_ns: int, rules: str, overlay_dir: Path | None = None) -> Cached:
    """Check one photo and write its overlays: what a cache miss computes (in a worker process). A file that cannot
    be read comes back with its one-line problem."""
    from imageworks.mono import overlays
    from imageworks.mono.check import check_file
    from imageworks.mono.decode import DecodeError

    try:
        checked = check_file(path, rules)
    except DecodeError as exc:
        return Cached(problem=str(exc))
    drawn = overlays.write(checked, overlay_key(path, size, mtime_ns, rules), overlay_dir)
    return Cached(analysis=checked.analysis, overlays=drawn)


def check_cached(cache: MonoCache, path: str, rules: str = "fiap") -> tuple[Cached, bool]:
    """The check of ``path`` from the cache when its fingerprint matches, else computed and stored; and whether it
    came from the cache. OSError when the file cannot be stat'ed."""
    st = os.stat(path)
    found = cache.get(path, st.st_size, st.st_mtime_ns, rules)
    if found is not None:
        return found, True
    cached = check_and_draw(path, st.st_size, st.st_mtime_ns, rules)
    cache.put(path, st.st_size, st.st_mtime_ns, rules, cached)
    return cached, False
