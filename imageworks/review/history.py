"""The review's undo history in SQLite: one list of steps for the whole store, kept across restarts.

A step is one person's edit (or one batch edit) and holds each changed draft before and after: undo goes ahead only
while each draft still holds the step's "after" values (redo: its "before" values), so it never throws away a
change made since (a re-tag, a commit, someone else's edit).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping

import msgspec

from imageworks.review.codec import decode_draft, encode_draft, path_key
from imageworks.review.model import Draft

STEPS_KEPT = 200
"""Older steps are forgotten (the issue asks for at least 50)."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS history (
    step INTEGER PRIMARY KEY, label TEXT NOT NULL, by TEXT NOT NULL, at REAL NOT NULL,
    undone INTEGER NOT NULL DEFAULT 0, renamed BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS history_drafts (
    step INTEGER NOT NULL, path BLOB NOT NULL, before BLOB NOT NULL, after BLOB NOT NULL,
    PRIMARY KEY (step, path)
) WITHOUT ROWID;
"""


class HistoryState(msgspec.Struct, frozen=True, kw_only=True):
    """What ``u`` and ``ctrl+y`` would do now, for a footer or a help line."""

    undo_steps: int
    redo_steps: int
    undo_label: str | None
    redo_label: str | None


class Step(msgspec.Struct, frozen=True):
    step: int
    label: str
    drafts: list[tuple[Draft, Draft]]
    """(the values each draft must hold now, the values to restore)."""
    renamed: dict[tuple[str, str], int]
    """The renames the step made (old keyword key, new keyword) → drafts: the rename memory follows undo/redo."""


def _forget(db: sqlite3.Connection, where: str, params: tuple[object, ...] = ()) -> None:
    db.execute(f"DELETE FROM history_drafts WHERE step IN (SELECT step FROM history WHERE {where})", params)
    db.execute(f"DELETE FROM history WHERE {where}", params)


def record(
    db: sqlite3.Connection,
    label: str,
    by: str,
    changed: list[tuple[Draft, Draft]],
    renamed: Mapping[tuple[str, str], int],
) -> None:
    """A new step (``changed``: each draft before and after, as saved); it clears the redo list."""
    _forget(db, "undone = 1")
    renames = msgspec.msgpack.encode([[old, new, times] for (old, new), times in renamed.items()])
    step = db.execute(
        "INSERT INTO history (label, by, at, renamed) VALUES (?, ?, ?, ?)", (label, by, time.time(), renames)
    ).lastrowid
    db.executemany(
        "INSERT INTO history_drafts VALUES (?, ?, ?, ?)",
        [(step, path_key(b.path), encode_draft(b), encode_draft(a)) for b, a in changed],
    )
    _forget(db, "step <= ?", ((step or 0) - STEPS_KEPT,))


def next_step(db: sqlite3.Connection, *, undo: bool) -> Step | None:
    """The step ``undo`` (the latest done) or redo (the earliest undone) would move, or None."""
    order = "DESC" if undo else "ASC"
    found = db.execute(
        f"SELECT step, label, renamed FROM history WHERE undone = ? ORDER BY step {order} LIMIT 1", (int(not undo),)
    ).fetchone()
    if found is None:
        return None
    rows = db.execute("SELECT before, after FROM history_drafts WHERE step = ?", (found[0],)).fetchall()
    pairs = [(decode_draft(before), decode_draft(after)) for before, after in rows]
    renamed = {(old, new): times for old, new, times in msgspec.msgpack.decode(found[2])}
    return Step(found[0], found[1], [(a, b) if undo else (b, a) for b, a in pairs], renamed)


def moved(db: sqlite3.Connection, step: int, *, undo: bool) -> None:
    """Mark ``step`` undone (or done again)."""
    db.execute("UPDATE history SET undone = ? WHERE step = ?", (int(undo), step))


def same_values(a: Draft, b: Draft) -> bool:
    """Equal but for the bookkeeping every save changes (version, sequence, time, who)."""
    blank = {"version": 0, "seq": 0, "updated": 0.0, "changed_by": "", "last_change": ""}
    return msgspec.structs.replace(a, **blank) == msgspec.structs.replace(b, **blank)


def state(db: sqlite3.Connection) -> HistoryState:
    def side(undone: int, order: str) -> tuple[int, str | None]:
        count = db.execute("SELECT count(*) FROM history WHERE undone = ?", (undone,)).fetchone()[0]
        label = db.execute(
            f"SELECT label FROM history WHERE undone = ? ORDER BY step {order} LIMIT 1", (undone,)
        ).fetchone()
        return count, None if label is None else label[0]

    undo_steps, undo_label = side(0, "DESC")
    redo_steps, redo_label = side(1, "ASC")
    return HistoryState(undo_steps=undo_steps, redo_steps=redo_steps, undo_label=undo_label, redo_label=redo_label)
