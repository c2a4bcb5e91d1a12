"""Keep/reject marks on similar photos, and moving the rejects to a folder.

Marks are a person's decisions, so they live in the state dir (``similarity-marks.sqlite3``), never in the photo
folders and never in the disposable similarity cache. Nothing here deletes a photo: ``move_to_folder`` moves files
(with their ``.xmp`` sidecars) and never overwrites one already at the destination.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import msgspec

from imageworks import paths
from imageworks.metadata.formats import sidecar_path
from imageworks.scan.store import connect

Mark = Literal["keep", "reject"]
MARKS: tuple[Mark, ...] = ("keep", "reject")
SCHEMA = """
CREATE TABLE IF NOT EXISTS marks (
    path BLOB PRIMARY KEY,
    mark TEXT NOT NULL,
    updated REAL NOT NULL
) WITHOUT ROWID;
"""


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
        self._con.execute("PRAGMA journal_mode = WAL")
        self._con.executescript(SCHEMA)

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


class MoveReport(msgspec.Struct, frozen=True, kw_only=True):
    moved: list[tuple[str, str]]
    """(from, to) per photo moved."""
    failed: list[tuple[str, str]]
    """(photo, why) per photo left where it was."""


def free_name(folder: Path, name: str) -> Path:
    """``folder/name``, or ``folder/stem-2.ext`` (-3, …) when that is taken: a move never replaces a file."""
    target = folder / name
    stem, suffix = os.path.splitext(name)
    n = 2
    while os.path.lexists(target):
        target = folder / f"{stem}-{n}{suffix}"
        n += 1
    return target


def move_to_folder(photos: Sequence[str], folder: str | Path) -> MoveReport:
    """Move each photo (and its ``.xmp`` sidecar, if it has one) into ``folder``, creating it; a name already
    there gets a ``-2`` suffix. A photo that cannot be moved stays where it is and is reported."""
    folder = Path(folder)
    moved: list[tuple[str, str]] = []
    failed: list[tuple[str, str]] = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return MoveReport(moved=[], failed=[(p, f"cannot create {folder}: {exc.strerror or exc}") for p in photos])
    for photo in photos:
        source = Path(photo)
        target = free_name(folder, source.name)
        try:
            shutil.move(source, target)
        except OSError as exc:
            failed.append((photo, exc.strerror or str(exc)))
            continue
        moved.append((photo, str(target)))
        sidecar, new_sidecar = sidecar_path(source), sidecar_path(target)  # named after the photo's new name
        if not sidecar.exists():
            continue
        if os.path.lexists(new_sidecar):
            failed.append((str(sidecar), f"sidecar left behind: {new_sidecar} already exists"))
            continue
        try:
            shutil.move(sidecar, new_sidecar)
        except OSError as exc:
            failed.append((str(sidecar), f"sidecar left behind: {exc.strerror or exc}"))
    return MoveReport(moved=moved, failed=failed)
