"""What CPU jobs add to the journal (mixed into ``Journal``): items planned when a job starts (a ``similar`` job's
images to hash), results journaled in batches (a pool finishes hundreds a second: one transaction per batch, not per
item), and a job's outcome (what its job-level step found)."""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import AbstractContextManager, closing
from typing import TYPE_CHECKING, Any

import msgspec

from imageworks.jobs.records import JobOutcome, JobRecord
from imageworks.protocol import JobInfo, ResultRecord


def _dump_json(value: Any) -> str:
    """json.dumps keeps a non-UTF-8 file name's surrogate escapes as \\udcxx, which json.loads turns back."""
    return json.dumps(value)


class CpuJobJournal:
    """Uses the ``Journal``'s connection (``db``), ``connect``, ``writing``, ``job`` and ``_append``."""

    if TYPE_CHECKING:  # what Journal provides
        db: sqlite3.Connection

        def connect(self) -> sqlite3.Connection: ...

        def writing(self, db: sqlite3.Connection | None = None) -> AbstractContextManager[sqlite3.Connection]: ...

        def job(self, job_id: str) -> JobInfo: ...

        def _append(
            self, job_id: str, index: int, item: dict[str, Any], record: JobRecord, now: float
        ) -> ResultRecord: ...

    def add_items(self, job_id: str, items: list[dict[str, Any]]) -> JobInfo:
        """Items of a job submitted without any (a CPU kind's ``plan_items``, run when the job starts): journaled after
        those it has, ``total`` counting them. Safe from a worker thread (its own connection)."""
        db = self.connect()
        with closing(db), self.writing(db):
            db.execute("BEGIN IMMEDIATE")
            (start,) = db.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM items WHERE job_id = ?", (job_id,)).fetchone()
            db.executemany(
                "INSERT INTO items (job_id, idx, item) VALUES (?, ?, ?)",
                ((job_id, start + i, _dump_json(item)) for i, item in enumerate(items)),
            )
            db.execute(
                "UPDATE jobs SET total = total + ?, seq = seq + 1, updated = ? WHERE id = ?",
                (len(items), time.time(), job_id),
            )
        return self.job(job_id)

    def set_outcome(self, job_id: str, outcome: JobOutcome | None) -> None:
        """What the job's job-level step (``CpuKind.conclude``) found, kept on the job row (None clears it)."""
        text = "" if outcome is None else _dump_json(msgspec.to_builtins(outcome))
        with self.writing():
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("UPDATE jobs SET outcome = ?, updated = ? WHERE id = ?", (text, time.time(), job_id))

    def append_results(self, job_id: str, done: list[tuple[int, dict[str, Any], JobRecord]]) -> list[ResultRecord]:
        """Several items' results in one transaction (a CPU job finishes hundreds a second): as ``append_result``
        for each, in order."""
        now = time.time()
        out: list[ResultRecord] = []
        with self.writing():
            self.db.execute("BEGIN IMMEDIATE")
            for index, item, record in done:
                out.append(self._append(job_id, index, item, record, now))
        return out
