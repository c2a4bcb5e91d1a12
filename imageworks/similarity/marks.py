"""Keep/reject marks on similar photos.

Marks are a person's decisions, so they live in the state dir (``similarity-marks.sqlite3``), never in the photo
folders and never in the disposable similarity cache. The daemon alone writes them (``similar.mark`` requests, and
``move`` jobs, whose photos' marks follow them: ``moves.py``).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

from imageworks import paths
from imageworks.scan.store import connect
from imageworks.schema import Migration, migrate

Mark = Literal["keep", "reject"]
MARKS: tuple[Mark, ...] = ("keep", "reject")
# IF NOT EXISTS: a marks file of the last release has the table and no schema version (user_version 0)
SCHEMA = """
CREATE TABLE IF NOT EXISTS marks (
    path BLOB PRIMARY KEY,
    mark TEXT NOT NULL,
    updated REAL NOT NULL
) WITHOUT ROWID;
"""
MIGRATIONS: list[Migration] = [SCHEMA]  # 1: path -> mark


def marks_db() -> Path:
    return paths.state_dir() / "similarity-marks.sqlite3"


def _key(path: str) -> bytes:
    return os.fsencode(path)  # names that are not UTF-8 (surrogate escapes) still make a key


class MarkStore:
    """path -> keep/reject, persisted on every change."""

    def __init__(self, db_path: str | Path | None = None) -> None:
        self.db_path = Path(db_path) if db_path is not None else marks_db()
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._con: sqlite3.Connection = connect(str(self.db_path))
        try:  # a person's decisions: a newer ImageWorks's file is refused (SchemaError), never moved aside
            self._con.execute("PRAGMA journal_mode = WAL")
            migrate(self._con, MIGRATIONS, str(self.db_path))
        except BaseException:
            self._con.close()
            raise

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> MarkStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def marks_of(self, photos: Iterable[str]) -> dict[str, Mark]:
        """The marks of those of ``photos`` that have one."""
        wanted = {_key(p): p for p in photos}
        rows = self._con.execute("SELECT path, mark FROM marks")
        return {wanted[key]: mark for key, mark in rows if key in wanted}

    def set(self, photo: str, mark: Mark | None) -> None:
        """Mark ``photo`` (``None`` clears its mark)."""
        if mark is None:
            self._con.execute("DELETE FROM marks WHERE path = ?", (_key(photo),))
        elif mark in MARKS:
            self._con.execute("INSERT OR REPLACE INTO marks VALUES (?, ?, ?)", (_key(photo), mark, time.time()))
        else:
            raise ValueError(f"unknown mark {mark!r} (one of {', '.join(MARKS)})")

    def moved(self, moves: Sequence[tuple[str, str]]) -> None:
        """Photos moved from ``src`` to ``dst``: their marks follow them."""
        with self._con:
            self._con.execute("BEGIN")
            self._con.executemany(
                "UPDATE OR REPLACE marks SET path = ? WHERE path = ?", [(_key(dst), _key(src)) for src, dst in moves]
            )
