"""The review's undo history in SQLite: one list of steps for the whole store, kept across restarts.

A step is one person's edit (or one batch edit), or one commit job's write, and holds each changed draft before and
after: undo goes ahead only while each draft still holds the step's "after" values (redo: its "before" values), so
it never throws away a change made since (a re-tag, someone else's edit). What a draft knows of its file
(``FILE_FACTS``: the fingerprint, what ImageWorks wrote, the backup) is no part of that comparison and is never
undone: undoing a write makes the draft approved-not-written again, and the file changes only at the next write.
A step remembers who made it, as a person knows them (``tui (pid 4242)``), so undo can say whose step it undid.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping

import msgspec

from imageworks.review.codec import decode_draft, encode_draft, path_key
from imageworks.review.drafts import FILE_FACTS, Draft

STEPS_KEPT = 200
"""Older steps are forgotten (a session of a few hundred images stays undoable)."""

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
WHO_AND_JOB = """
ALTER TABLE history ADD COLUMN who TEXT NOT NULL DEFAULT '';
ALTER TABLE history ADD COLUMN job TEXT NOT NULL DEFAULT '';
"""
"""Drafts migration 2: a step's author as a person knows them, and the commit job a write step belongs to."""


class HistoryState(msgspec.Struct, frozen=True, kw_only=True):
    """What ``u`` and ``ctrl+y`` would do now, for a footer or a help line."""

    undo_steps: int
    redo_steps: int
    undo_label: str | None
    redo_label: str | None
    undo_who: str = ""
    """Whose step ``u`` would undo (``tui (pid 4242)``, ``the daemon``); empty when unknown."""


class Step(msgspec.Struct, frozen=True):
    step: int
    label: str
    drafts: list[tuple[Draft, Draft]]
    """(the values each draft must hold now, the values to restore)."""
    renamed: dict[tuple[str, str], int]
    """The renames the step made (old keyword key, new keyword) → drafts: the rename memory follows undo/redo."""
    by: str = ""
    """The session that made the step."""
    who: str = ""
    """That session as a person knows it, when the step was made."""


def _forget(db: sqlite3.Connection, where: str, params: tuple[object, ...] = ()) -> None:
    db.execute(f"DELETE FROM history_drafts WHERE step IN (SELECT step FROM history WHERE {where})", params)
    db.execute(f"DELETE FROM history WHERE {where}", params)


def record(
    db: sqlite3.Connection,
    label: str,
    by: str,
    changed: list[tuple[Draft, Draft]],
    renamed: Mapping[tuple[str, str], int],
    *,
    who: str = "",
    job: str = "",
) -> None:
    """A new step (``changed``: each draft before and after, as saved); it clears the redo list."""
    _forget(db, "undone = 1")
    renames = msgspec.msgpack.encode([[old, new, times] for (old, new), times in renamed.items()])
    step = db.execute(
        "INSERT INTO history (label, by, at, renamed, who, job) VALUES (?, ?, ?, ?, ?, ?)",
        (label, by, time.time(), renames, who, job),
    ).lastrowid
    db.executemany(
        "INSERT INTO history_drafts VALUES (?, ?, ?, ?)",
        [(step, path_key(b.path), encode_draft(b), encode_draft(a)) for b, a in changed],
    )
    _forget(db, "step <= ?", ((step or 0) - STEPS_KEPT,))


def record_write(db: sqlite3.Connection, job: str, by: str, who: str, before: Draft, after: Draft) -> None:
    """One draft written by the job ``job`` (a commit, a tag job's ``--write``, one ``metadata write``): its results
    arrive one by one and make one step together (a write is undone in one go); a job whose step was undone
    meanwhile starts a new one."""
    found = db.execute("SELECT step FROM history WHERE job = ? AND undone = 0 ORDER BY step DESC LIMIT 1", (job,))
    row = found.fetchone() if job else None  # a write of no job is a step of its own (edits have no job)
    if row is None:
        record(db, "write", by, [(before, after)], {}, who=who, job=job)
        return
    db.execute(
        "INSERT OR IGNORE INTO history_drafts VALUES (?, ?, ?, ?)",
        (row[0], path_key(after.path), encode_draft(before), encode_draft(after)),
    )


def last_committed(db: sqlite3.Connection, path: str) -> Draft | None:
    """The draft of ``path`` as its latest commit in the kept history left it (a person's edit after a commit keeps
    the committed draft as its "before"); None when no kept step holds a committed one."""
    rows = db.execute(
        "SELECT after, before FROM history_drafts WHERE path = ? ORDER BY step DESC", (path_key(path),)
    ).fetchall()
    for pair in rows:
        for body in pair:
            draft = decode_draft(body)
            if draft.status == "committed":
                return draft
    return None


def next_step(db: sqlite3.Connection, *, undo: bool) -> Step | None:
    """The step ``undo`` (the latest done) or redo (the earliest undone) would move, or None."""
    order = "DESC" if undo else "ASC"
    found = db.execute(
        f"SELECT step, label, renamed, by, who FROM history WHERE undone = ? ORDER BY step {order} LIMIT 1",
        (int(not undo),),
    ).fetchone()
    if found is None:
        return None
    rows = db.execute("SELECT before, after FROM history_drafts WHERE step = ?", (found[0],)).fetchall()
    pairs = [(decode_draft(before), decode_draft(after)) for before, after in rows]
    renamed = {(old, new): times for old, new, times in msgspec.msgpack.decode(found[2])}
    return Step(found[0], found[1], [(a, b) if undo else (b, a) for b, a in pairs], renamed, found[3], found[4])


def rename(db: sqlite3.Connection, old: str, new: str) -> None:
    """A draft's photo moved: its steps name the new path, so undo and redo of them apply to it there."""
    rows = db.execute("SELECT step, before, after FROM history_drafts WHERE path = ?", (path_key(old),)).fetchall()
    for step, before, after in rows:
        renamed = [encode_draft(msgspec.structs.replace(decode_draft(d), path=new)) for d in (before, after)]
        db.execute(
            "UPDATE history_drafts SET path = ?, before = ?, after = ? WHERE step = ? AND path = ?",
            (path_key(new), *renamed, step, path_key(old)),
        )


def moved(db: sqlite3.Connection, step: int, *, undo: bool) -> None:
    """Mark ``step`` undone (or done again)."""
    db.execute("UPDATE history SET undone = ? WHERE step = ?", (int(undo), step))


_BOOKKEEPING = {"version": 0, "seq": 0, "updated": 0.0, "changed_by": "", "last_change": ""}


def same_values(a: Draft, b: Draft) -> bool:
    """Equal but for the bookkeeping every save changes (version, sequence, time, who) and what the draft knows of
    its file (``FILE_FACTS``)."""
    blank = {**_BOOKKEEPING, **{name: getattr(b, name) for name in FILE_FACTS}}
    return msgspec.structs.replace(a, **blank) == msgspec.structs.replace(b, **blank)


def restored(target: Draft, current: Draft) -> Draft:
    """``target`` (a step's before or after) as undo or redo saves it over ``current``: the file facts stay."""
    return msgspec.structs.replace(
        target, version=current.version, **{name: getattr(current, name) for name in FILE_FACTS}
    )


def state(db: sqlite3.Connection) -> HistoryState:
    def side(undone: int, order: str) -> tuple[int, str | None, str]:
        count = db.execute("SELECT count(*) FROM history WHERE undone = ?", (undone,)).fetchone()[0]
        found = db.execute(
            f"SELECT label, who FROM history WHERE undone = ? ORDER BY step {order} LIMIT 1", (undone,)
        ).fetchone()
        return (count, None, "") if found is None else (count, found[0], found[1])

    undo_steps, undo_label, undo_who = side(0, "DESC")
    redo_steps, redo_label, _ = side(1, "ASC")
    return HistoryState(
        undo_steps=undo_steps, redo_steps=redo_steps, undo_label=undo_label, redo_label=redo_label, undo_who=undo_who
    )
