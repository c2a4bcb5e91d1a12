"""DraftStore: review drafts in SQLite (state dir, WAL), written only by the daemon.

One row per image (``path`` as bytes, so non-UTF-8 file names work) holding the search columns the filter
language reads (``query.search_columns``) and the kept keywords (counts), small enough that counting and filtering
20 000 drafts reads little; the msgpack Draft itself is in ``bodies``, read only for the page asked for. Every
change takes the next number of one store-wide sequence and stamps it on the draft's row (``seq``):
``changes_since(n)`` gives a client that saw ``n`` every draft changed since (the ZeroMQ Guide's Clone pattern:
snapshot, then sequence-numbered updates). Person edits are optimistic (``apply(edit, base_version)``: a stale
version raises ``Conflict`` and changes nothing) and undoable (``history``): one history for the store, a batch
edit is one step, a new edit clears redo, kept across restarts.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import msgspec

from imageworks import paths
from imageworks.review import history, query
from imageworks.review.codec import decode_draft, encode_draft, path_key
from imageworks.review.edits import (
    BatchEdit,
    DraftEdit,
    RenameKeyword,
    apply_edit,
    describe_edit,
    expand,
    merge_generated,
)
from imageworks.review.model import (
    BackupLink,
    Conflict,
    Draft,
    FileFingerprint,
    Generated,
    ReviewError,
    UnknownDraft,
    keyword_key,
)
from imageworks.review.vocabulary import Vocabulary

SCHEMA_VERSION = 2  # 2: bodies in a table of their own, kept keywords as a column
DAEMON = "daemon"
"""``changed_by`` of the changes no person made (a finished tag result, a commit, a file found changed)."""
PAGE = 200

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS drafts (
    path BLOB PRIMARY KEY, version INTEGER NOT NULL, seq INTEGER NOT NULL, kept TEXT NOT NULL,
    status TEXT NOT NULL, caption_fold TEXT NOT NULL, description_fold TEXT NOT NULL, path_fold TEXT NOT NULL,
    keywords_fold TEXT NOT NULL, keyword_keys TEXT NOT NULL,
    has_new INTEGER NOT NULL, is_edited INTEGER NOT NULL, has_proposal INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS drafts_seq ON drafts (seq);
CREATE TABLE IF NOT EXISTS bodies (path BLOB PRIMARY KEY, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS renames (
    old_key TEXT NOT NULL, new TEXT NOT NULL, times INTEGER NOT NULL, PRIMARY KEY (old_key, new)
);
{history.SCHEMA}
"""


def default_path() -> Path:
    return paths.state_dir() / "drafts.sqlite3"


class DraftPage(msgspec.Struct, frozen=True, kw_only=True):
    drafts: list[Draft]
    total: int
    """Drafts under the root matching the filter, on every page."""
    next_after: str | None
    """Pass as ``after`` for the next page; None on the last."""


class DraftStore:
    """Open one per daemon (a lock serialises its writers: handlers may run in worker threads)."""

    def __init__(self, path: Path | None = None, *, autocheckpoint: bool = True) -> None:
        """``autocheckpoint=False``: the caller runs ``checkpoint()`` now and then, off the thread that edits (SQLite's
        own checkpoint runs in the committing write and costs it ~10 ms every thousand pages: an edit's p99)."""
        self.path = path or default_path()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        if not autocheckpoint:
            self._db.execute("PRAGMA wal_autocheckpoint=0")
        self._checkpointer: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        with self._lock:  # executescript runs its own transaction (it commits any open one first)
            self._db.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} COMMIT;")
        with self._write():
            found = self._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if found is None:
                self._db.execute("INSERT INTO meta VALUES ('schema', ?), ('seq', 0)", (SCHEMA_VERSION,))
            elif found[0] != SCHEMA_VERSION:
                raise ReviewError(f"{self.path}: drafts schema {found[0]}, this ImageWorks reads {SCHEMA_VERSION}")

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
        self._db.close()

    def checkpoint(self) -> None:
        """Copy the WAL into the database as far as readers allow, on a connection of its own (writers go on)."""
        if self._checkpointer is None:
            self._checkpointer = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def __enter__(self) -> DraftStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[None]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _next_seq(self) -> int:
        self._db.execute("UPDATE meta SET value = value + 1 WHERE key = 'seq'")  # no RETURNING: SQLite < 3.35
        return int(self._db.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone()[0])

    def _save(self, draft: Draft, *, by: str, change: str) -> Draft:
        """Write ``draft`` as its next version with the next sequence number; inside ``_write``."""
        saved = msgspec.structs.replace(
            draft,
            version=draft.version + 1,
            seq=self._next_seq(),
            updated=time.time(),
            changed_by=by,
            last_change=change,
        )
        columns = query.search_columns(saved)
        names = ", ".join(columns)
        key = path_key(saved.path)
        self._db.execute(
            f"INSERT OR REPLACE INTO drafts (path, version, seq, kept, {names}) "
            f"VALUES (?, ?, ?, ?, {', '.join('?' * len(columns))})",
            (key, saved.version, saved.seq, query.SEP.join(saved.edited.kept_keywords), *columns.values()),
        )
        self._db.execute("INSERT OR REPLACE INTO bodies VALUES (?, ?)", (key, encode_draft(saved)))
        return saved

    def _load(self, path: str) -> Draft | None:
        row = self._db.execute("SELECT body FROM bodies WHERE path = ?", (path_key(path),)).fetchone()
        return None if row is None else decode_draft(row[0])

    # --- reading -----------------------------------------------------------------------------------------------

    def get(self, path: str) -> Draft | None:
        with self._lock:
            return self._load(path)

    def list_drafts(
        self, root: str = "", filter: str = "", *, after: str | None = None, limit: int = PAGE
    ) -> DraftPage:
        """One page of the drafts under ``root`` (a directory; "" = all) matching ``filter`` (the query language),
        in path order, after the path ``after``. Raises ``QueryError`` for a bad filter."""
        where, params = self._where(root, filter)
        with self._lock:
            total = self._db.execute(f"SELECT count(*) FROM drafts WHERE {where}", params).fetchone()[0]
            page_where, page_params = where, list(params)
            if after is not None:
                page_where, page_params = f"({where}) AND path > ?", [*params, path_key(after)]
            rows = self._db.execute(
                f"SELECT body FROM drafts JOIN bodies USING (path) WHERE {page_where} ORDER BY path LIMIT ?",
                (*page_params, limit + 1),
            ).fetchall()
        drafts = [decode_draft(body) for (body,) in rows[:limit]]
        return DraftPage(drafts=drafts, total=total, next_after=drafts[-1].path if len(rows) > limit else None)

    def count(self, root: str = "", filter: str = "") -> int:
        """Drafts under ``root`` matching ``filter``."""
        where, params = self._where(root, filter)
        with self._lock:
            return int(self._db.execute(f"SELECT count(*) FROM drafts WHERE {where}", params).fetchone()[0])

    def _where(self, root: str, filter: str) -> tuple[str, list[object]]:
        sql, params = query.to_sql(query.parse(filter))
        if not root:
            return sql, params
        prefix = path_key(root.rstrip("/") + "/")
        # a range on the primary key: every path that starts with the prefix ("0" is the byte after "/")
        return f"path >= ? AND path < ? AND ({sql})", [prefix, prefix[:-1] + b"0", *params]

    def _paths(self, root: str, filter: str) -> list[str]:
        where, params = self._where(root, filter)
        rows = self._db.execute(f"SELECT path FROM drafts WHERE {where} ORDER BY path", params).fetchall()
        return [os.fsdecode(path) for (path,) in rows]

    def last_seq(self) -> int:
        """The sequence number of the latest change: a client's snapshot is current as of it."""
        with self._lock:
            return int(self._db.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone()[0])

    def changes_since(self, seq: int, limit: int = 1000) -> list[Draft]:
        """Every draft changed after ``seq``, oldest change first (a draft changed twice appears once)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM drafts JOIN bodies USING (path) WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
            ).fetchall()
        return [decode_draft(body) for (body,) in rows]

    def keyword_counts(self, root: str = "", filter: str = "") -> Counter[str]:
        """Kept keyword → drafts holding it, over ``root`` and ``filter`` (the all-keywords pane;
        ``filter="status:approved OR status:committed"`` gives the vocabulary's approved counts)."""
        where, params = self._where(root, filter)
        with self._lock:
            rows = self._db.execute(f"SELECT kept FROM drafts WHERE {where} AND kept != ''", params).fetchall()
        counts: Counter[str] = Counter()
        for (kept,) in rows:
            counts.update(kept.split(query.SEP))
        return counts

    def renames(self) -> dict[tuple[str, str], int]:
        """(old keyword key, new keyword) → how many drafts the person renamed it on (the vocabulary's memory)."""
        with self._lock:
            rows = self._db.execute("SELECT old_key, new, times FROM renames").fetchall()
        return {(old, new): times for old, new, times in rows}

    # --- the daemon's writes -----------------------------------------------------------------------------------

    def upsert_generated(self, generated: Generated, vocabulary: Vocabulary | None = None) -> Draft:
        """A finished tag result becomes (or updates) its image's draft; keywords mapped onto ``vocabulary`` first.
        An edited draft keeps its edits and gets the new values as ``proposal``."""
        return self.upsert_many([generated], vocabulary)[0]

    def upsert_many(self, results: Iterable[Generated], vocabulary: Vocabulary | None = None) -> list[Draft]:
        """``upsert_generated`` for a batch of results, in one transaction."""
        out: list[Draft] = []
        now = time.time()
        with self._write():
            for generated in results:
                if vocabulary is not None:
                    generated = msgspec.structs.replace(generated, values=vocabulary.map_values(generated.values))
                current = self._load(generated.path)
                merged = merge_generated(current, generated, now)
                out.append(self._save(merged, by=DAEMON, change="re-tag" if current else "tagged"))
        return out

    def mark_stale(self, path: str, reason: str) -> Draft:
        """The file changed since the model looked at it: the draft waits for a re-tag or a new approval."""
        with self._write():
            draft = self._require(path)
            stale = msgspec.structs.replace(draft, status="stale", stale_reason=reason)
            return self._save(stale, by=DAEMON, change="stale")

    def record_commit(self, path: str, version: int, backup: BackupLink | None, fingerprint: FileFingerprint) -> Draft:
        """The draft's values are in the file now: ``committed``, with the backup link and the file as left."""
        with self._write():
            draft = self._require(path)
            if draft.version != version:
                raise Conflict(path, version, draft.version, draft.changed_by, draft.last_change)
            committed = msgspec.structs.replace(draft, status="committed", backup=backup, fingerprint=fingerprint)
            return self._save(committed, by=DAEMON, change="committed")

    def _require(self, path: str) -> Draft:
        draft = self._load(path)
        if draft is None:
            raise UnknownDraft(f"{path}: no draft (tag it first)")
        return draft

    # --- the person's edits ------------------------------------------------------------------------------------

    def apply(self, edit: DraftEdit, base_version: int, *, by: str = "") -> Draft:
        """Apply ``edit`` to the draft it names, made against ``base_version``; returns the new draft (the same
        one, unchanged, when the edit changes nothing). Raises ``Conflict`` if the draft moved on since."""
        with self._write():
            draft = self._require(edit.path)
            if draft.version != base_version:
                raise Conflict(draft.path, base_version, draft.version, draft.changed_by, draft.last_change)
            return next(iter(self._apply_step([edit], describe_edit(edit), by)), draft)

    def apply_batch(self, edit: BatchEdit, *, by: str = "") -> list[Draft]:
        """Apply a batch edit to every draft of its selection as it is now; one undo step. Returns the changed
        drafts."""
        selection = edit.selection
        with self._write():
            targets = list(selection.paths) or self._paths(selection.root, selection.query)
            return self._apply_step([expand(edit, path) for path in targets], describe_edit(edit), by)

    def _apply_step(self, edits: list[DraftEdit], label: str, by: str) -> list[Draft]:
        changed: list[tuple[Draft, Draft]] = []
        renamed: Counter[tuple[str, str]] = Counter()
        for edit in edits:
            before = self._require(edit.path)
            after = apply_edit(before, edit)
            if after is before:
                continue
            changed.append((before, self._save(after, by=by, change=label)))
            if isinstance(edit, RenameKeyword):
                renamed[keyword_key(edit.old), edit.new] += 1
        if changed:
            history.record(self._db, label, by, changed, renamed)
            self._remember_renames(renamed, +1)
        return [after for _, after in changed]

    def _remember_renames(self, renamed: Mapping[tuple[str, str], int], sign: int) -> None:
        """Count (or, for an undo, uncount) renames: the vocabulary's rename memory."""
        self._db.executemany(
            "INSERT INTO renames VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET times = times + excluded.times",
            [(old, new, sign * times) for (old, new), times in renamed.items()],
        )
        self._db.execute("DELETE FROM renames WHERE times <= 0")

    def undo(self, *, by: str = "") -> list[Draft]:
        """Undo the latest step not undone yet (anyone's); returns the drafts it changed ([] = nothing to undo).
        Raises ``Conflict`` if one of them changed since that step."""
        return self._travel(undo=True, by=by)

    def redo(self, *, by: str = "") -> list[Draft]:
        return self._travel(undo=False, by=by)

    def _travel(self, *, undo: bool, by: str) -> list[Draft]:
        with self._write():
            step = history.next_step(self._db, undo=undo)
            if step is None:
                return []
            out: list[Draft] = []
            for expected, target in step.drafts:
                current = self._require(target.path)
                if not history.same_values(current, expected):
                    raise Conflict(
                        current.path, expected.version, current.version, current.changed_by, current.last_change
                    )
                change = f"{'undo' if undo else 'redo'} {step.label}"
                out.append(self._save(msgspec.structs.replace(target, version=current.version), by=by, change=change))
            history.moved(self._db, step.step, undo=undo)
            self._remember_renames(step.renamed, -1 if undo else +1)
            return out

    def history_state(self) -> history.HistoryState:
        with self._lock:
            return history.state(self._db)
