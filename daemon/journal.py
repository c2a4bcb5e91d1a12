"""Jobs and their journal: SQLite in WAL mode under the state dir.

Every job's config, state and each per-item result are written as they happen, so a killed client, a killed
daemon or a crashed worker loses at most the items in flight. Each job has a ``seq`` that grows by one for
every result or state change; a result row keeps the seq at which it was written, so ``results_after(seq)``
gives a client exactly what it missed (the Clone pattern's snapshot) and nothing twice. A job row keeps its
``done``/``failed`` counts, updated in the transaction that writes each result, so listing jobs is one query.

Records are stored as JSON (``msgspec``-encoded typed records, tagged by kind) and decoded by the job's kind,
so rows journaled before records were typed (no ``kind`` tag) still read back.

A file write is journaled first (``intents``): the record it will journal and the write's target before the
write, the written bytes' digest and the backup just before the rename; the result row replaces the intent.
``daemon.intents`` writes them and settles those a killed daemon left. A write that fails (a full state disk) raises
``JournalWriteError``; a job state that could not be written is kept in memory, shown by every read and written
when the disk has room again (``flush_unsaved``), so followers and ``jobs cancel`` never hang on a full disk.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from pathlib import Path
from typing import Any

import msgspec

from imageworks.errors import DaemonError
from imageworks.jobs.records import RECORD_TYPES, AnyOutcome, AnyRecord, JobRecord
from imageworks.protocol import FINAL_STATES, JobInfo, ResultRecord, new_id
from imageworks.schema import Migration, migrate

from .journal_items import CpuJobJournal

_SCHEMA_1 = """
CREATE TABLE jobs (
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
CREATE TABLE items (
    job_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    item TEXT NOT NULL,
    PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;
CREATE TABLE results (
    job_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    status TEXT NOT NULL,
    record TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;
CREATE INDEX results_by_seq ON results (job_id, seq);
CREATE INDEX jobs_by_state ON jobs (state);
"""

_COUNT_RESULTS_2 = """
ALTER TABLE jobs ADD COLUMN done INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN failed INTEGER NOT NULL DEFAULT 0;
UPDATE jobs SET
    done = (SELECT COUNT(*) FROM results r WHERE r.job_id = jobs.id AND r.status = 'ok'),
    failed = (SELECT COUNT(*) FROM results r WHERE r.job_id = jobs.id AND r.status != 'ok');
"""

_INTENTS_3 = """
CREATE TABLE intents (
    job_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    target BLOB NOT NULL,
    record TEXT NOT NULL,
    sha256 TEXT,
    backup_id INTEGER,
    created REAL NOT NULL,
    PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;
"""

_OUTCOME_4 = "ALTER TABLE jobs ADD COLUMN outcome TEXT NOT NULL DEFAULT '';"

MIGRATIONS: list[Migration] = [_SCHEMA_1, _COUNT_RESULTS_2, _INTENTS_3, _OUTCOME_4]
"""1: the first journal; 2: ``done``/``failed`` counts on the job row, computed once from the results; 3: write
intents; 4: a job's outcome (JSON of a CPU kind's tagged ``JobOutcome``, from its ``conclude``). A schema change is
one more entry (``imageworks.schema``)."""
SCHEMA_VERSION = len(MIGRATIONS)

_JOB_COLUMNS = (
    "id, kind, state, model, total, done, failed, seq, created, updated, started, finished, error, params,"
    " boot_id, batch_size, outcome"
)


SQLITE_FULL = 13
"""SQLite's result code for a full disk (``sqlite3.SQLITE_FULL`` exists from Python 3.11 on only)."""


class JournalWriteError(DaemonError):
    """A journal write failed; ``disk_full`` (reply code ``state_disk_full``) when the state disk (or its quota) has
    no room, else ``journal_error``."""

    def __init__(self, path: Path, exc: sqlite3.Error) -> None:
        code = getattr(exc, "sqlite_errorcode", None)  # Python >= 3.11; before, the message tells
        self.disk_full = code == SQLITE_FULL or "disk is full" in str(exc)
        what = "the state disk is full" if self.disk_full else str(exc)
        super().__init__(
            f"cannot write the job journal {path}: {what}",
            code="state_disk_full" if self.disk_full else "journal_error",
        )


class Journal(CpuJobJournal):
    """The daemon's only writer of job state. Single-threaded use from the daemon's event loop."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = self.connect()
        self._side: list[sqlite3.Connection] = []
        try:
            migrate(self.db, MIGRATIONS, str(path))
        except BaseException:
            self.db.close()
            raise
        self._unsaved: dict[str, tuple[str, str]] = {}
        """Job states that could not be written (job id -> state, error); reads show them."""

    @contextmanager
    def writing(self, db: sqlite3.Connection | None = None) -> Iterator[sqlite3.Connection]:
        """One write transaction on ``db`` (the loop's connection by default); a failure rolls it back and
        raises JournalWriteError (an IntegrityError stays what it is: the caller handles it)."""
        db = db or self.db
        try:
            with db:
                yield db
        except sqlite3.Error as exc:
            if db.in_transaction:
                with suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.IntegrityError):
                raise
            raise JournalWriteError(self.path, exc) from exc

    def connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL: a committed row survives a killed process (only a power cut can lose the last ones)
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=10000")
        return db

    def side_connection(self) -> sqlite3.Connection:
        """A connection of its own for another thread's writes, closed with the journal."""
        db = self.connect()
        self._side.append(db)
        return db

    def close(self) -> None:
        for db in (*self._side, self.db):
            db.close()

    def probe_write(self) -> None:
        """A small real write (WAL frames appended, then dropped): raises JournalWriteError while the disk is full."""
        with self.writing():
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("CREATE TABLE IF NOT EXISTS probe (x BLOB)")
            self.db.execute("INSERT INTO probe VALUES (zeroblob(8192))")
            self.db.execute("DELETE FROM probe")

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
        db = self.connect()
        with closing(db), self.writing(db):
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
        return job_id

    def job_by_key(self, key: str) -> JobInfo | None:
        row = self.db.execute("SELECT id FROM jobs WHERE idempotency_key = ?", (key,)).fetchone()
        return self.job(row[0]) if row else None

    def job(self, job_id: str) -> JobInfo:
        row = self.db.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise KeyError(job_id)
        return self._shown(_job_info(row))

    def list_jobs(self, limit: int = 50) -> list[JobInfo]:
        rows = self.db.execute(f"SELECT {_JOB_COLUMNS} FROM jobs ORDER BY created DESC LIMIT ?", (limit,))
        return [self._shown(_job_info(row)) for row in rows]

    def jobs_of_kind(self, kind: str) -> list[JobInfo]:
        """Every job of ``kind``, newest first."""
        rows = self.db.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE kind = ? ORDER BY created DESC", (kind,))
        return [self._shown(_job_info(row)) for row in rows]

    def _shown(self, info: JobInfo) -> JobInfo:
        """The job with the state it has in memory when that one could not be written yet."""
        unsaved = self._unsaved.get(info.job_id)
        if unsaved is None:
            return info
        state, error = unsaved
        return msgspec.structs.replace(info, state=state, error=error, seq=info.seq + 1)

    def flush_unsaved(self) -> None:
        """Write the job states that could not be written; raises JournalWriteError while that still fails."""
        for job_id, (state, error) in list(self._unsaved.items()):
            self.set_state(job_id, state, error=error)

    def keep_state(self, job_id: str, state: str, error: str) -> JobInfo:
        """A state that could not be written: every read shows it, ``flush_unsaved`` writes it later."""
        self._unsaved[job_id] = (state, error)
        return self.job(job_id)

    def set_state(self, job_id: str, state: str, *, error: str = "", boot_id: str | None = None) -> JobInfo:
        now = time.time()
        with self.writing():
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
        self._unsaved.pop(job_id, None)
        return self.job(job_id)

    def mark_interrupted(self, boot_id: str) -> list[str]:
        """Jobs a previous daemon left queued or running become ``interrupted`` (resumable)."""
        rows = self.db.execute(
            "SELECT id FROM jobs WHERE state IN ('queued', 'running') AND boot_id != ?", (boot_id,)
        ).fetchall()
        for (job_id,) in rows:
            self.set_state(job_id, "interrupted", error="the daemon stopped before this job finished")
        return [r[0] for r in rows]

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

    def append_result(self, job_id: str, index: int, item: dict[str, Any], record: JobRecord) -> ResultRecord:
        """Write one item's result (``item`` as the caller holds it), bump the job's seq and its counts, in one
        transaction. A resumed job's retry replaces the item's earlier failure, so that one is counted out."""
        with self.writing():
            self.db.execute("BEGIN IMMEDIATE")
            return self._append(job_id, index, item, record, time.time())

    def _append(self, job_id: str, index: int, item: dict[str, Any], record: JobRecord, now: float) -> ResultRecord:
        """One result row and the job's seq and counts; inside a write transaction."""
        status = "ok" if record.status == "ok" else "error"
        old = self.db.execute("SELECT status FROM results WHERE job_id = ? AND idx = ?", (job_id, index)).fetchone()
        done = (status == "ok") - (old is not None and old[0] == "ok")
        failed = (status != "ok") - (old is not None and old[0] != "ok")
        (seq,) = self.db.execute(
            "UPDATE jobs SET seq = seq + 1, updated = ?, done = done + ?, failed = failed + ? WHERE id = ?"
            " RETURNING seq",
            (now, done, failed, job_id),
        ).fetchone()
        self.db.execute(
            "INSERT OR REPLACE INTO results (job_id, idx, seq, status, record, created) VALUES (?,?,?,?,?,?)",
            (job_id, index, seq, status, encode_record(record), now),
        )
        self.db.execute("DELETE FROM intents WHERE job_id = ? AND idx = ?", (job_id, index))
        return ResultRecord(job_id=job_id, index=index, seq=seq, status=status, record=record, item=item)  # type: ignore[arg-type]

    def item(self, job_id: str, index: int) -> dict[str, Any]:
        (item,) = self.db.execute("SELECT item FROM items WHERE job_id = ? AND idx = ?", (job_id, index)).fetchone()
        return json.loads(item)

    def results_after(self, job_id: str, after_seq: int, limit: int) -> tuple[list[ResultRecord], bool]:
        kind = self.job(job_id).kind
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
                record=decode_record(kind, rec),
                item=json.loads(item),
            )
            for idx, seq, status, rec, item in rows[:limit]
        ], more


def encode_record(record: JobRecord) -> str:
    try:
        return msgspec.json.encode(record).decode()
    except UnicodeEncodeError:  # a non-UTF-8 file name (surrogate escapes): json keeps them as \udcxx escapes
        return json.dumps(msgspec.to_builtins(record))


def decode_record(kind: str, data: str) -> AnyRecord:
    """A journaled record, decoded as its job's kind (rows written before records were tagged carry no tag)."""
    try:
        return msgspec.json.decode(data, type=RECORD_TYPES[kind])  # type: ignore[return-value]
    except msgspec.DecodeError:  # \udcxx escapes of a non-UTF-8 file name, which only json turns back
        return msgspec.convert(json.loads(data), RECORD_TYPES[kind])  # type: ignore[return-value]


def _job_info(row: tuple[Any, ...]) -> JobInfo:
    (job_id, kind, state, model, total, done, failed, seq, created, updated, started, finished, error, params,
     boot_id, batch_size, outcome) = row  # fmt: skip
    return JobInfo(
        job_id=job_id,
        kind=kind,
        state=state,
        model=model,
        total=total,
        done=done,
        failed=failed,
        seq=seq,
        created=created,
        updated=updated,
        started=started,
        finished=finished,
        error=error,
        params=json.loads(params),
        boot_id=boot_id,
        batch_size=batch_size,
        outcome=msgspec.convert(json.loads(outcome), AnyOutcome) if outcome else None,
    )
