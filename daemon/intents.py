"""Journal first, then the file: write intents, and settling the ones a killed daemon left.

Before a job item's metadata is written, the record it will journal and the file it writes are journaled
(``planned``); just before the atomic rename, the written bytes' SHA-256 and the backup taken (``ready``). The
item's result row replaces the intent. An intent left behind (the daemon was killed, or the journal could not
take the result) is settled by ``reconcile``: a file that holds exactly the planned bytes was written, so its
record is journaled (with the backup the write took, as the writer would have recorded it) and the item is not
run again; any other file was never written, so the intent (and its
backup row, when the file still holds the backed-up bytes) is dropped and the item runs again on resume.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from imageworks.jobs.records import AnyRecord, JobRecord
from imageworks.protocol import ResultRecord
from imageworks.review.rounds import Recalled

from .journal import Journal, decode_record, encode_record

log = logging.getLogger("imageworks.daemon")


@dataclass(frozen=True)
class Intent:
    """A metadata write journaled before it happened."""

    job_id: str
    index: int
    target: str
    record: AnyRecord
    """The record to journal once the file holds the write."""
    sha256: str | None
    """The bytes the write puts in place; None while it was only planned."""
    backup_id: int | None


class IntentLog:
    """The intents of one job item, written from the finalize thread through a connection of its own (the
    event loop's connection is never shared across threads)."""

    def __init__(
        self,
        journal: Journal,
        connection: sqlite3.Connection,
        job_id: str,
        index: int,
        recall: Callable[[str], Recalled] | None = None,
    ) -> None:
        self.journal = journal
        self.db = connection
        self.job_id = job_id
        self.index = index
        self._recall = recall
        """The review desk's memory of our writes (None: a daemon without one; nothing is remembered)."""

    def recall(self, path: str) -> Recalled:
        return self._recall(path) if self._recall is not None else Recalled(path=path)

    def planned(self, target: str, record: JobRecord) -> None:
        with self.journal.writing(self.db) as db:
            db.execute(
                "INSERT OR REPLACE INTO intents (job_id, idx, target, record, created) VALUES (?, ?, ?, ?, ?)",
                (self.job_id, self.index, os.fsencode(target), encode_record(record), time.time()),
            )

    def ready(self, sha256: str, backup_id: int | None) -> None:
        with self.journal.writing(self.db) as db:
            db.execute(
                "UPDATE intents SET sha256 = ?, backup_id = ? WHERE job_id = ? AND idx = ?",
                (sha256, backup_id, self.job_id, self.index),
            )


def pending_intents(journal: Journal, job_id: str | None = None) -> list[Intent]:
    sql = "SELECT n.job_id, n.idx, n.target, n.record, n.sha256, n.backup_id, j.kind FROM intents n"
    sql += " JOIN jobs j ON j.id = n.job_id" + (" WHERE n.job_id = ?" if job_id else "") + " ORDER BY n.idx"
    rows = journal.db.execute(sql, (job_id,) if job_id else ()).fetchall()
    return [
        Intent(job, idx, os.fsdecode(target), decode_record(kind, record), sha256, backup_id)
        for job, idx, target, record, sha256, backup_id, kind in rows
    ]


def reconcile(journal: Journal, job_id: str | None = None, *, remove_temps: bool = False) -> list[ResultRecord]:
    """Settle the intents left (of one job, or all): returns the results journaled for files that hold their
    write. ``remove_temps`` (at daemon start, when no writer of ours runs) also deletes the temp files an
    interrupted write left next to each target."""
    from imageworks.metadata import BackupStore
    from imageworks.metadata.atomic import remove_stale_temps

    journaled: list[ResultRecord] = []
    for intent in pending_intents(journal, job_id):
        target = Path(intent.target)
        if remove_temps:
            for temp in remove_stale_temps(target):
                log.info("removed %s, left by an interrupted write", temp)
        now = _sha256_of(target)
        if intent.sha256 is not None and now == intent.sha256:
            item = journal.item(intent.job_id, intent.index)
            record = intent.record.with_backup(intent.backup_id, intent.target)  # planned before the backup
            journaled.append(journal.append_result(intent.job_id, intent.index, item, record))
            continue
        if intent.backup_id is not None:
            with BackupStore() as store:
                backup = next((b for b in store.entries(path=target) if b.id == intent.backup_id), None)
                if backup is not None and backup.blob == now:  # the file still holds what was backed up
                    store.forget(intent.backup_id)
        with journal.writing() as db:
            db.execute("DELETE FROM intents WHERE job_id = ? AND idx = ?", (intent.job_id, intent.index))
    if journaled:
        log.info("journaled %d metadata write(s) that reached their files before the daemon stopped", len(journaled))
    return journaled


def _sha256_of(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()
