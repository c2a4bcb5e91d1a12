"""Store files as the last release wrote them, before every store kept one schema convention: its DDL verbatim and
its version marker (a ``PRAGMA user_version``, a ``meta`` row, or none at all). tests/test_store_schemas.py opens
each under the current code and checks that the rows are there."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

JOURNAL = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, model TEXT NOT NULL, params TEXT NOT NULL, state TEXT NOT NULL,
    total INTEGER NOT NULL, done INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,
    seq INTEGER NOT NULL DEFAULT 0, batch_size INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL,
    updated REAL NOT NULL, started REAL, finished REAL, error TEXT NOT NULL DEFAULT '',
    boot_id TEXT NOT NULL DEFAULT '', idempotency_key TEXT UNIQUE
);
CREATE TABLE IF NOT EXISTS items (
    job_id TEXT NOT NULL, idx INTEGER NOT NULL, item TEXT NOT NULL, PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS results (
    job_id TEXT NOT NULL, idx INTEGER NOT NULL, seq INTEGER NOT NULL, status TEXT NOT NULL, record TEXT NOT NULL,
    created REAL NOT NULL, PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS intents (
    job_id TEXT NOT NULL, idx INTEGER NOT NULL, target BLOB NOT NULL, record TEXT NOT NULL, sha256 TEXT,
    backup_id INTEGER, created REAL NOT NULL, PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS results_by_seq ON results (job_id, seq);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state);
PRAGMA user_version=3;
"""

SCAN = """
CREATE TABLE roots (
    id INTEGER PRIMARY KEY, path NOT NULL UNIQUE, scanned_at REAL NOT NULL, walk_seconds REAL NOT NULL DEFAULT 0,
    files INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0, follow_symlinks INTEGER NOT NULL DEFAULT 0,
    skipped_dirs INTEGER NOT NULL DEFAULT 0, symlinks_skipped INTEGER NOT NULL DEFAULT 0,
    empty_files INTEGER NOT NULL DEFAULT 0, error_count INTEGER NOT NULL DEFAULT 0, errors TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE files (
    root_id INTEGER NOT NULL, relpath NOT NULL, name_lc TEXT NOT NULL, ext_id INTEGER NOT NULL,
    size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ino INTEGER NOT NULL, dev INTEGER NOT NULL, width INTEGER,
    height INTEGER, has_meta INTEGER, probe_sig TEXT, problem TEXT, PRIMARY KEY (root_id, relpath)
) WITHOUT ROWID;
PRAGMA user_version = 2;
"""
SCAN_KEYWORDS = """
CREATE TABLE IF NOT EXISTS file_keywords (
    root_id INTEGER NOT NULL, relpath NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    sig TEXT NOT NULL, flat TEXT NOT NULL, hierarchical TEXT NOT NULL, PRIMARY KEY (root_id, relpath)
) WITHOUT ROWID
"""
"""Made on the first keyword read: a cache of the last release may or may not have it."""

DRAFTS = """
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
CREATE TABLE IF NOT EXISTS history (
    step INTEGER PRIMARY KEY, label TEXT NOT NULL, by TEXT NOT NULL, at REAL NOT NULL,
    undone INTEGER NOT NULL DEFAULT 0, renamed BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS history_drafts (
    step INTEGER NOT NULL, path BLOB NOT NULL, before BLOB NOT NULL, after BLOB NOT NULL,
    PRIMARY KEY (step, path)
) WITHOUT ROWID;
"""
"""Versioned by a ``meta`` row ('schema', 2); user_version stayed 0."""

BACKUPS = """
CREATE TABLE IF NOT EXISTS backups (
    id INTEGER PRIMARY KEY, created_ns INTEGER NOT NULL, job_id TEXT, photo BLOB NOT NULL, target BLOB NOT NULL,
    existed INTEGER NOT NULL, blob TEXT, size INTEGER, mtime_ns INTEGER, ino INTEGER, mode INTEGER,
    after_size INTEGER, after_mtime_ns INTEGER, after_ino INTEGER, restored_ns INTEGER{after_sha256}
);
CREATE INDEX IF NOT EXISTS backups_target ON backups(target);
CREATE INDEX IF NOT EXISTS backups_photo ON backups(photo);
CREATE INDEX IF NOT EXISTS backups_job ON backups(job_id);
"""
"""Unversioned (user_version 0); indexes made before content was compared lack ``after_sha256``."""

SIMILARITY = """
CREATE TABLE IF NOT EXISTS hashes (
    path BLOB NOT NULL, algorithm TEXT NOT NULL, hash_size INTEGER NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, digest BLOB, problem TEXT, PRIMARY KEY (path, algorithm, hash_size)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS embeddings (
    path BLOB NOT NULL, model TEXT NOT NULL, revision TEXT NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, vector BLOB, problem TEXT, PRIMARY KEY (path, model, revision)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS neighbours (
    scope TEXT PRIMARY KEY, digest TEXT NOT NULL, min_score REAL NOT NULL, paths TEXT NOT NULL,
    skipped TEXT NOT NULL, pairs BLOB NOT NULL
);
PRAGMA user_version = 1;
"""

MARKS = """
CREATE TABLE IF NOT EXISTS marks (path BLOB PRIMARY KEY, mark TEXT NOT NULL, updated REAL NOT NULL) WITHOUT ROWID;
"""
"""Unversioned (user_version 0)."""


def make(path: Path, script: str, rows: Sequence[tuple[str, tuple[object, ...]]] = ()) -> Path:
    """A store file at ``path`` made by ``script``, holding ``rows`` (SQL, parameters)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.executescript(script)
    for sql, args in rows:
        con.execute(sql, args)
    con.commit()
    con.close()
    return path
