"""The job journal on its own: real SQLite files, typed records in, typed records out, counts on the job row."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from imageworks.daemon.journal import SCHEMA_VERSION, Journal
from imageworks.jobs.records import EchoRecord, Fingerprint, KeywordScore, TagRecord

ITEMS = [{"path": f"/p/{i}.jpg", "size": i, "mtime_ns": i} for i in range(3)]


def new_job(journal: Journal, kind: str = "tag", items: list[dict] | None = None) -> str:
    return journal.create_job(kind=kind, model="m", params={}, items=items or ITEMS, batch_size=0, boot_id="b")


def test_typed_records_round_trip_and_counts_stay_on_the_row(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    job_id = new_job(journal)
    ok = TagRecord(status="ok", path="/p/0.jpg", caption="A bus.", keywords=[KeywordScore(keyword="bus", score=0.5)])
    written = journal.append_result(job_id, 0, ITEMS[0], ok)
    assert written.record == ok and written.item == ITEMS[0] and written.status == "ok"
    journal.append_result(job_id, 1, ITEMS[1], TagRecord(error="worker crashed"))
    info = journal.job(job_id)
    assert (info.done, info.failed, info.seq) == (1, 1, 2)
    results, more = journal.results_after(job_id, 0, 10)
    assert not more and [r.record for r in results] == [ok, TagRecord(error="worker crashed")]
    assert results[0].item == ITEMS[0]
    # a resumed job's retry replaces the failure: the counts follow
    journal.append_result(job_id, 1, ITEMS[1], TagRecord(status="ok", path="/p/1.jpg"))
    info = journal.job(job_id)
    assert (info.done, info.failed) == (2, 0)
    journal.append_result(job_id, 1, ITEMS[1], TagRecord(error="again"))
    assert (journal.job(job_id).done, journal.job(job_id).failed) == (1, 1)


def test_listing_jobs_is_one_query_and_append_does_not_read_the_item_back(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    ids = [new_job(journal) for _ in range(4)]
    journal.append_result(ids[0], 0, ITEMS[0], TagRecord(status="ok"))
    statements: list[str] = []
    journal.db.set_trace_callback(statements.append)
    jobs = journal.list_jobs(10)
    assert len(statements) == 1 and {j.job_id for j in jobs} == set(ids)
    assert {j.job_id: j.done for j in jobs}[ids[0]] == 1
    statements.clear()
    journal.append_result(ids[1], 2, ITEMS[2], TagRecord(status="ok"))
    assert not [s for s in statements if "items" in s]


def test_rows_written_before_records_were_typed_still_decode(tmp_path: Path) -> None:
    """Rows journaled as plain dicts (no ``kind`` tag), including a runner's bare error, read back typed."""
    journal = Journal(tmp_path / "journal.sqlite3")
    tag_job, echo_job = new_job(journal), new_job(journal, "echo", [{"text": "hi"}])
    old_tag = {
        "status": "ok",
        "error": None,
        "path": "/p/0.jpg",
        "fingerprint": {"size": 0, "mtime_ns": 0},
        "caption": "A bus.",
        "keywords": [{"keyword": "bus", "score": None}],
        "description": "",
        "complete": False,
        "model": {"name": "m", "revision": ""},
        "profile": {"name": "three-step", "version": 1, "digest": "abc"},
        "timings": {"caption": 0.5, "total": 0.5},
        "tokens": {"caption": 3, "total": 3},
        "notes": [],
        "schema_version": 1,
    }
    rows = [
        (tag_job, 0, "ok", old_tag),
        (tag_job, 1, "error", {"status": "error", "error": "model worker crashed"}),
        (echo_job, 0, "ok", {"status": "ok", "error": None, "output": "hi", "tokens": 1, "seconds": 0.1, "model": "m"}),
    ]
    for seq, (job_id, idx, status, record) in enumerate(rows, 1):
        journal.db.execute(
            "INSERT INTO results (job_id, idx, seq, status, record, created) VALUES (?, ?, ?, ?, ?, 0)",
            (job_id, idx, seq, status, json.dumps(record)),
        )
    tag_results, _ = journal.results_after(tag_job, 0, 10)
    first, bare = (r.record for r in tag_results)
    assert isinstance(first, TagRecord) and first.caption == "A bus." and first.keywords[0].keyword == "bus"
    assert first.fingerprint == Fingerprint() and first.write is None
    assert isinstance(bare, TagRecord) and (bare.status, bare.error, bare.path) == ("error", "model worker crashed", "")
    (echo,) = (r.record for r in journal.results_after(echo_job, 0, 10)[0])
    assert echo == EchoRecord(status="ok", output="hi", tokens=1, seconds=0.1, model="m")


SCHEMA_1 = """
CREATE TABLE jobs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, model TEXT NOT NULL, params TEXT NOT NULL,
    state TEXT NOT NULL, total INTEGER NOT NULL, seq INTEGER NOT NULL DEFAULT 0, batch_size INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL, updated REAL NOT NULL, started REAL, finished REAL, error TEXT NOT NULL DEFAULT '',
    boot_id TEXT NOT NULL DEFAULT '', idempotency_key TEXT UNIQUE);
CREATE TABLE items (job_id TEXT NOT NULL, idx INTEGER NOT NULL, item TEXT NOT NULL, PRIMARY KEY (job_id, idx))
    WITHOUT ROWID;
CREATE TABLE results (job_id TEXT NOT NULL, idx INTEGER NOT NULL, seq INTEGER NOT NULL, status TEXT NOT NULL,
    record TEXT NOT NULL, created REAL NOT NULL, PRIMARY KEY (job_id, idx)) WITHOUT ROWID;
CREATE INDEX results_by_seq ON results (job_id, seq);
CREATE INDEX jobs_by_state ON jobs (state);
PRAGMA user_version=1;
"""
"""The journal as schema 1 wrote it (no counts on the job row)."""


def test_a_schema_1_journal_gets_its_counts_computed_once_on_open(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_1)
    for job_id, results in (("a", ["ok", "ok", "error"]), ("b", []), ("c", ["error"])):
        db.execute(
            "INSERT INTO jobs (id, kind, model, params, state, total, seq, created, updated)"
            " VALUES (?, 'tag', 'm', '{}', 'done', 3, ?, 1, 1)",
            (job_id, len(results)),
        )
        for idx, status in enumerate(results):
            db.execute("INSERT INTO items VALUES (?, ?, ?)", (job_id, idx, json.dumps(ITEMS[idx])))
            record = json.dumps({"status": status, "error": None if status == "ok" else "failed"})
            db.execute("INSERT INTO results VALUES (?, ?, ?, ?, ?, 1)", (job_id, idx, idx + 1, status, record))
    db.commit()
    db.close()

    journal = Journal(path)
    assert journal.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
    assert {j.job_id: (j.done, j.failed) for j in journal.list_jobs()} == {"a": (2, 1), "b": (0, 0), "c": (0, 1)}
    assert all(j.outcome is None for j in journal.list_jobs())  # schema 4: no job-level outcome yet
    journal.append_result("b", 0, ITEMS[0], TagRecord(status="ok"))
    assert (journal.job("b").done, journal.job("b").seq) == (1, 1)
    journal.close()
    reopened = Journal(path)  # opening again migrates nothing twice
    assert (reopened.job("a").done, reopened.job("b").done) == (2, 1)


def test_a_newer_journal_is_refused(tmp_path: Path) -> None:
    from imageworks.schema import SchemaError

    path = tmp_path / "journal.sqlite3"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(SchemaError, match="newer ImageWorks"):
        Journal(path)


def test_a_non_utf8_file_name_survives_the_journal(tmp_path: Path) -> None:
    import os

    odd = os.fsdecode(b"/p/caf\xe9-\xff.jpg")
    journal = Journal(tmp_path / "journal.sqlite3")
    item = {"path": odd, "size": 1, "mtime_ns": 2}
    job_id = new_job(journal, items=[item])
    journal.append_result(job_id, 0, item, TagRecord(status="ok", path=odd, notes=[f"about {odd}"]))
    (result,), _ = journal.results_after(job_id, 0, 10)
    assert result.record == TagRecord(status="ok", path=odd, notes=[f"about {odd}"]) and result.item == item


def test_a_full_journal_raises_keeps_unwritten_states_and_writes_them_once_there_is_room(tmp_path: Path) -> None:
    from imageworks.daemon.journal import JournalWriteError

    journal = Journal(tmp_path / "journal.sqlite3")
    job_id = new_job(journal)
    journal.set_state(job_id, "running")
    pages = journal.db.execute("PRAGMA page_count").fetchone()[0]
    journal.db.execute(f"PRAGMA max_page_count = {pages}")  # the database may not grow: as on a full disk
    big = TagRecord(status="ok", path="/p/0.jpg", description="x" * 20000)
    with pytest.raises(JournalWriteError) as failed:
        journal.append_result(job_id, 0, ITEMS[0], big)
    assert failed.value.disk_full and "the state disk is full" in str(failed.value)
    assert journal.results_after(job_id, 0, 10) == ([], False)  # rolled back: nothing half-written
    shown = journal.keep_state(job_id, "interrupted", "disk full")
    assert shown.state == journal.job(job_id).state == journal.list_jobs()[0].state == "interrupted"
    journal.db.execute("PRAGMA max_page_count = 1073741823")
    journal.flush_unsaved()
    reopened = Journal(tmp_path / "journal.sqlite3")
    assert reopened.job(job_id).state == "interrupted"  # written, not just shown
    journal.append_result(job_id, 0, ITEMS[0], big)  # and the journal takes writes again
    assert journal.job(job_id).done == 1
