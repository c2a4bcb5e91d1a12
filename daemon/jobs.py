"""Jobs and their journal: SQLite in WAL mode under the state dir.

Every job's config, state and each per-item result are written as they happen, so a killed client, a killed
daemon or a crashed worker loses at most the items in flight. Each job has a ``seq`` that grows by one for
every result or state change; a result row keeps the seq at which it was written, so ``results_after(seq)``
gives a client exactly what it missed (the Clone pattern's snapshot) and nothing twice.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from imageworks.protocol import FINAL_STATES, JobInfo, ResultRecord, new_id

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    model TEXT NOT NULL,
    params TEXT NOT NULL,
    state TEXT NOT NULL,
    total INTEGER NOT NULL,
    seq INTEGER NOT NULL DEFAULT 0,
    batch_size INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    started REAL,
    finished REAL,
    error TEXT NOT NULL DEFAULT '',
    boot_id TEXT NOT NULL DEFAULT '',
    idempotency_key TEXT UNIQUE
);
CREATE TABLE IF NOT EXISTS items (
    job_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    item TEXT NOT NULL,
    PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS results (
    job_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    status TEXT NOT NULL,
    record TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS results_by_seq ON results (job_id, seq);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state);
"""


class JournalError(Exception):
    pass


class Journal:
    """The daemon's only writer of job state. Single-threaded use from the daemon's event loop."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = self._connect()
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"{path} was written by a newer ImageWorks (schema {version} > {SCHEMA_VERSION}); upgrade"
            )
        self.db.executescript(_SCHEMA)
        self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL: a committed row survives a killed process (only a power cut can lose the last ones)
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=10000")
        return db

    def close(self) -> None:
        self.db.close()

    # ---- jobs --------------------------------------------------------------------------------------------

    def create_job(
        self,
        *,
        kind: str,
        model: str,
        params: dict[str, Any],
        items: list[dict[str, Any]],
        batch_size: int,
        boot_id: str,
        idempotency_key: str = "",
    ) -> str:
        """Safe to call from a worker thread: it writes through its own connection (WAL lets readers go on)."""
        job_id = time.strftime("%Y%m%d-%H%M%S-") + new_id()[:8]
        now = time.time()
        db = self._connect()
        with db:
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "INSERT INTO jobs (id, kind, model, params, state, total, batch_size, created, updated, boot_id,"
                " idempotency_key) VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    kind,
                    model,
                    json.dumps(params),
                    len(items),
                    batch_size,
                    now,
                    now,
                    boot_id,
                    idempotency_key or None,
                ),
            )
            db.executemany(
                "INSERT INTO items (job_id, idx, item) VALUES (?, ?, ?)",
                ((job_id, i, json.dumps(item)) for i, item in enumerate(items)),
            )
        db.close()
        return job_id

    def job_by_key(self, key: str) -> JobInfo | None:
        row = self.db.execute("SELECT id FROM jobs WHERE idempotency_key = ?", (key,)).fetchone()
        return self.job(row[0]) if row else None

    def job(self, job_id: str) -> JobInfo:
        row = self.db.execute(
            "SELECT id, kind, state, model, total, seq, created, updated, started, finished, error, params,"
            " boot_id, batch_size FROM jobs WHERE id = ?",
            (job_id,),
        ).fetchone()
        if row is None:
            raise KeyError(job_id)
        done, failed = self.db.execute(
            "SELECT COALESCE(SUM(status = 'ok'), 0), COALESCE(SUM(status != 'ok'), 0) FROM results WHERE job_id = ?",
            (job_id,),
        ).fetchone()
        return JobInfo(
            job_id=row[0],
            kind=row[1],
            state=row[2],
            model=row[3],
            total=row[4],
            done=done,
            failed=failed,
            seq=row[5],
            created=row[6],
            updated=row[7],
            started=row[8],
            finished=row[9],
            error=row[10],
            params=json.loads(row[11]),
            boot_id=row[12],
            batch_size=row[13],
        )

    def list_jobs(self, limit: int = 50) -> list[JobInfo]:
        rows = self.db.execute("SELECT id FROM jobs ORDER BY created DESC LIMIT ?", (limit,)).fetchall()
        return [self.job(r[0]) for r in rows]

    def set_state(self, job_id: str, state: str, *, error: str = "", boot_id: str | None = None) -> JobInfo:
        now = time.time()
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            sets = ["state = ?", "updated = ?", "seq = seq + 1", "error = ?"]
            args: list[Any] = [state, now, error]
            if state == "running":
                sets.append("started = COALESCE(started, ?)")
                args.append(now)
                sets.append("finished = NULL")
            if state in FINAL_STATES:
                sets.append("finished = ?")
                args.append(now)
            if boot_id is not None:
                sets.append("boot_id = ?")
                args.append(boot_id)
            self.db.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE id = ?", (*args, job_id))
        return self.job(job_id)

    def mark_interrupted(self, boot_id: str) -> list[str]:
        """Jobs a previous daemon left queued or running become ``interrupted`` (resumable)."""
        rows = self.db.execute(
            "SELECT id FROM jobs WHERE state IN ('queued', 'running') AND boot_id != ?", (boot_id,)
        ).fetchall()
        for (job_id,) in rows:
            self.set_state(job_id, "interrupted", error="the daemon stopped before this job finished")
        return [r[0] for r in rows]

    def queued_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'queued'").fetchone()[0]

    # ---- items and results -------------------------------------------------------------------------------

    def pending_page(self, job_id: str, after_index: int, limit: int) -> list[tuple[int, dict[str, Any]]]:
        """The next ``limit`` items after ``after_index`` with no successful result yet (resume retries failed
        ones). The runner pages through a job this way, so a 100k-item job is never loaded (or decoded) at once
        and the event loop is held up for a page at a time only."""
        rows = self.db.execute(
            "SELECT i.idx, i.item FROM items i LEFT JOIN results r ON r.job_id = i.job_id AND r.idx = i.idx"
            " WHERE i.job_id = ? AND i.idx > ? AND (r.status IS NULL OR r.status != 'ok') ORDER BY i.idx LIMIT ?",
            (job_id, after_index, limit),
        ).fetchall()
        return [(idx, json.loads(item)) for idx, item in rows]

    def append_result(self, job_id: str, index: int, status: str, record: dict[str, Any]) -> ResultRecord:
        """Write one item's result and bump the job's seq, in one transaction."""
        now = time.time()
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("UPDATE jobs SET seq = seq + 1, updated = ? WHERE id = ?", (now, job_id))
            seq = self.db.execute("SELECT seq FROM jobs WHERE id = ?", (job_id,)).fetchone()[0]
            self.db.execute(
                "INSERT OR REPLACE INTO results (job_id, idx, seq, status, record, created) VALUES (?,?,?,?,?,?)",
                (job_id, index, seq, status, json.dumps(record), now),
            )
        item = self.db.execute("SELECT item FROM items WHERE job_id = ? AND idx = ?", (job_id, index)).fetchone()
        return ResultRecord(
            job_id=job_id,
            index=index,
            seq=seq,
            status=status,
            record=record,
            item=json.loads(item[0]) if item else {},
        )

    def results_after(self, job_id: str, after_seq: int, limit: int) -> tuple[list[ResultRecord], bool]:
        rows = self.db.execute(
            "SELECT r.idx, r.seq, r.status, r.record, i.item FROM results r JOIN items i"
            " ON i.job_id = r.job_id AND i.idx = r.idx WHERE r.job_id = ? AND r.seq > ? ORDER BY r.seq LIMIT ?",
            (job_id, after_seq, limit + 1),
        ).fetchall()
        more = len(rows) > limit
        return [
            ResultRecord(
                job_id=job_id,
                index=idx,
                seq=seq,
                status=status,
                record=json.loads(rec),
                item=json.loads(item),
            )
            for idx, seq, status, rec, item in rows[:limit]
        ], more
