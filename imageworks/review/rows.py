"""The drafts' rows in SQLite (state dir, WAL): opening and migrating the store, reading drafts, and the one
way a change is saved. ``DraftStore`` (store.py) makes every change on top of it.

One row per image (``path`` as bytes, so non-UTF-8 file names work) holding the search columns the filter
language reads (``query.search_columns``) and the kept keywords (counts), small enough that counting and filtering
20 000 drafts reads little; the msgpack Draft itself is in ``bodies``, read only for the page asked for. Every
change takes the next number of one store-wide sequence and stamps it on the draft's row (``seq``):
``changes_since(n)`` gives a client that saw ``n`` every draft changed since (the ZeroMQ Guide's Clone pattern:
snapshot, then sequence-numbered updates).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import msgspec

from imageworks import paths
from imageworks.review import history, query
from imageworks.review.codec import decode_draft, encode_draft, path_key
from imageworks.review.drafts import Draft, ReviewError, UnknownDraft
from imageworks.schema import Migration, migrate, statements

DAEMON = "daemon"

RowsT = TypeVar("RowsT", bound="DraftRows")
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
_META_SCHEMA_READ = 2
"""What a drafts file of the last release says in ``meta``: before the store kept ``PRAGMA user_version``, its
version lived in a ``schema`` row there (2: bodies in a table of their own, kept keywords as a column)."""


def _create_or_adopt(db: sqlite3.Connection) -> None:
    """Make the tables of a new file; adopt a file of the last release (meta schema 2: the same tables) as it is,
    its ``schema`` row giving way to user_version; refuse any other."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone() is None:
        for statement in statements(_SCHEMA):
            db.execute(statement)
        db.execute("INSERT INTO meta VALUES ('seq', 0)")
        return
    found = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    if found is None or found[0] != _META_SCHEMA_READ:
        raise ReviewError(f"drafts schema {found[0] if found else '?'}, this ImageWorks reads {_META_SCHEMA_READ}")
    db.execute("DELETE FROM meta WHERE key = 'schema'")


MIGRATIONS: list[Migration] = [_create_or_adopt, history.WHO_AND_JOB]
"""1: drafts, bodies, renames, history (what meta schema 2 was); 2: a history step's author and commit job (its
drafts keep working: new fields have defaults). A schema change is one more entry (``imageworks.schema``)."""
SCHEMA_VERSION = len(MIGRATIONS)


def default_path() -> Path:
    return paths.state_dir() / "drafts.sqlite3"


def drafted(paths: Iterable[str], store: Path | None = None) -> set[str]:
    """Which of ``paths`` have a draft, read through a read-only connection: a writer outside the daemon asks
    before it starts one to tell. Empty when there is no drafts file (or it cannot be read)."""
    store = store or default_path()
    if not store.exists():
        return set()
    try:
        db = sqlite3.connect(store.as_uri() + "?mode=ro", uri=True)
    except sqlite3.Error:
        return set()
    try:
        found = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'drafts'").fetchone()
        if found is None:
            return set()
        return {
            p
            for p in dict.fromkeys(paths)
            if db.execute("SELECT 1 FROM drafts WHERE path = ?", (path_key(p),)).fetchone()
        }
    except sqlite3.Error:
        return set()
    finally:
        db.close()


class DraftPage(msgspec.Struct, frozen=True, kw_only=True):
    drafts: list[Draft]
    total: int
    """Drafts under the root matching the filter, on every page."""
    next_after: str | None
    """Pass as ``after`` for the next page; None on the last."""


class DraftRows:
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
        try:
            with self._lock:
                migrate(self._db, MIGRATIONS, str(self.path))
        except ReviewError as exc:
            self._db.close()
            raise ReviewError(f"{self.path}: {exc}") from None
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
        self._db.close()

    def checkpoint(self) -> None:
        """Copy the WAL into the database as far as readers allow, on a connection of its own (writers go on)."""
        if self._checkpointer is None:
            self._checkpointer = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def __enter__(self: RowsT) -> RowsT:
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

    def last_committed(self, path: str) -> Draft | None:
        """The draft of ``path`` as its latest commit left it: itself while committed, else the latest committed
        draft of the kept history; None when there is none."""
        with self._lock:
            draft = self._load(path)
            if draft is None or draft.status == "committed":
                return draft
            return history.last_committed(self._db, path)

    def _require(self, path: str) -> Draft:
        draft = self._load(path)
        if draft is None:
            raise UnknownDraft(f"{path}: no draft (tag it first)")
        return draft

    def history_state(self) -> history.HistoryState:
        with self._lock:
            return history.state(self._db)
