"""One schema convention for every SQLite store (imageworks/schema.py): PRAGMA user_version and an ordered list of
migrations, run once at open in one transaction; a newer file refused with one line. Every store's file from the
last release opens under it with its rows, and the stores close what they open."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from pathlib import Path

import pytest
from PIL import Image

from imageworks import metadata as md
from imageworks.config import MetadataConfig
from imageworks.daemon.journal import SCHEMA_VERSION as JOURNAL_VERSION
from imageworks.daemon.journal import Journal
from imageworks.metadata.backup import BackupStore
from imageworks.review.drafts import ReviewError
from imageworks.review.store import SCHEMA_VERSION as DRAFTS_VERSION
from imageworks.review.store import DraftStore
from imageworks.scan import ScanCache
from imageworks.scan.store import SCHEMA_VERSION as SCAN_VERSION
from imageworks.schema import Migration, SchemaError, migrate, version_of
from imageworks.similarity.cache import Fingerprint, SimilarityCache
from imageworks.similarity.marks import MarkStore
from tests import fixtures_store_files as last
from tests.test_review_support import generated

# ---- the helper ----------------------------------------------------------------------------------------------


def tables(con: sqlite3.Connection) -> set[str]:
    return {name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_a_new_file_runs_each_migration_once_in_order(tmp_path: Path) -> None:
    seen: list[set[str]] = []
    migrations: list[Migration] = [
        "CREATE TABLE a (x); CREATE TABLE b (y);",
        lambda con: seen.append(tables(con)),
        "ALTER TABLE a ADD COLUMN z",
    ]
    con = sqlite3.connect(tmp_path / "s.sqlite3")
    assert migrate(con, migrations, "s") == 0
    assert version_of(con) == 3 and seen == [{"a", "b"}]
    assert migrate(con, migrations, "s") == 3 and seen == [{"a", "b"}]  # nothing runs twice
    migrations.append("CREATE TABLE c (w)")
    assert migrate(con, migrations, "s") == 3 and version_of(con) == 4 and tables(con) == {"a", "b", "c"}


def test_a_failing_migration_leaves_the_old_version_whole(tmp_path: Path) -> None:
    con = sqlite3.connect(tmp_path / "s.sqlite3")
    migrate(con, ["CREATE TABLE a (x)"], "s")
    with pytest.raises(sqlite3.OperationalError):
        migrate(con, ["CREATE TABLE a (x)", "CREATE TABLE b (y)", "CREATE TABLE b (y)"], "s")
    assert version_of(con) == 1 and tables(con) == {"a"}


def test_a_newer_file_is_refused_with_one_line(tmp_path: Path) -> None:
    con = sqlite3.connect(tmp_path / "s.sqlite3")
    con.execute("PRAGMA user_version = 7")
    with pytest.raises(SchemaError) as err:
        migrate(con, ["CREATE TABLE a (x)"], "the drafts")
    assert str(err.value) == "the drafts was written by a newer ImageWorks (schema 7 > 1); upgrade ImageWorks"
    assert tables(con) == set() and err.value.code == "newer_schema"


def test_a_second_opener_that_read_the_old_version_waits_and_migrates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    ran: list[str] = []
    first_inside, second_waiting = threading.Event(), threading.Event()

    def slow_first_step(con: sqlite3.Connection) -> None:
        ran.append(threading.current_thread().name)
        first_inside.set()
        assert second_waiting.wait(60)  # the second opener has read version 0 and asks for the write lock

    migrations: list[Migration] = [slow_first_step, "CREATE TABLE listing (x)"]
    first = sqlite3.connect(path, timeout=60, check_same_thread=False)
    second = sqlite3.connect(path, timeout=60, check_same_thread=False)
    second.set_trace_callback(lambda sql: second_waiting.set() if sql == "BEGIN IMMEDIATE" else None)
    found: dict[str, int] = {}

    def opener(name: str, con: sqlite3.Connection) -> None:
        found[name] = migrate(con, migrations, "s")

    a = threading.Thread(target=opener, args=("first", first), name="first")
    a.start()
    assert first_inside.wait(60)
    b = threading.Thread(target=opener, args=("second", second), name="second")
    b.start()
    a.join(60)
    b.join(60)
    assert ran == ["first"] and found == {"first": 0, "second": 2}
    assert version_of(second) == 2 and tables(second) == {"listing"}


# ---- every store opens the last release's file with its rows --------------------------------------------------


def test_journal(tmp_path: Path) -> None:
    job = "INSERT INTO jobs (id, kind, model, params, state, total, done, seq, created, updated)"
    path = last.make(
        tmp_path / "journal.sqlite3",
        last.JOURNAL,
        [
            (job + " VALUES ('j1', 'tag', 'm', '{}', 'done', 1, 1, 1, 1, 2)", ()),
            ("INSERT INTO items VALUES ('j1', 0, ?)", (json.dumps({"path": "/p/a.jpg"}),)),
            ("INSERT INTO results VALUES ('j1', 0, 1, 'ok', ?, 2)", (json.dumps({"status": "ok"}),)),
        ],
    )
    journal = Journal(path)
    try:
        assert version_of(journal.db) == JOURNAL_VERSION
        (info,) = journal.list_jobs()
        assert (info.job_id, info.state, info.done, info.total) == ("j1", "done", 1, 1)
        assert journal.item("j1", 0) == {"path": "/p/a.jpg"}
        assert [r.record.status for r in journal.results_after("j1", 0, 10)[0]] == ["ok"]
    finally:
        journal.close()


@pytest.mark.parametrize("with_keywords", [False, True])
def test_scan_cache(tmp_path: Path, with_keywords: bool) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    rows = [
        ("INSERT INTO roots (id, path, scanned_at, files, bytes) VALUES (1, ?, 1e9, 1, 5)", (str(root),)),
        ("INSERT INTO files VALUES (1, 'a.jpg', 'a.jpg', 0, 5, 7, 1, 2, NULL, NULL, NULL, NULL, NULL)", ()),
    ]
    if with_keywords:
        rows.append(("INSERT INTO file_keywords VALUES (1, 'a.jpg', 5, 7, '', '[\"beach\"]', '[]')", ()))
    db = last.make(tmp_path / "scan.sqlite3", last.SCAN + (last.SCAN_KEYWORDS + ";" if with_keywords else ""), rows)
    with ScanCache(db) as cache:
        assert cache.warnings == []
        (entry,) = cache.query(root)
        assert (entry.relpath, entry.size, entry.ext, entry.kind) == ("a.jpg", 5, "jpg", "jpeg")
        assert cache.library_keywords().flat == ({"beach": 1} if with_keywords else {})
        assert version_of(cache._con) == SCAN_VERSION


def test_drafts(tmp_path: Path) -> None:
    made = tmp_path / "today.sqlite3"
    with DraftStore(made) as store:  # a draft's rows as today's code writes them...
        store.upsert_generated(generated("/lib/a.jpg"))
        seq = store.last_seq()
    con = sqlite3.connect(made)
    rows = [
        (f"INSERT INTO {table} VALUES ({', '.join('?' * len(row))})", tuple(row))
        for table in ("drafts", "bodies")
        for row in con.execute(f"SELECT * FROM {table}")
    ]
    con.close()
    path = last.make(  # ... in a file of the last release: its tables, its version in a meta row
        tmp_path / "drafts.sqlite3",
        last.DRAFTS,
        [*rows, ("INSERT INTO meta VALUES ('schema', 2), ('seq', ?)", (seq,))],
    )
    with DraftStore(path) as store:
        draft = store.get("/lib/a.jpg")
        assert draft is not None and draft.generated is not None and store.last_seq() == seq
        assert version_of(store._db) == DRAFTS_VERSION
        assert store._db.execute("SELECT key FROM meta").fetchall() == [("seq",)]


def test_drafts_of_an_unknown_older_schema_are_refused_untouched(tmp_path: Path) -> None:
    path = last.make(tmp_path / "drafts.sqlite3", last.DRAFTS, [("INSERT INTO meta VALUES ('schema', 1)", ())])
    with pytest.raises(ReviewError, match="drafts schema 1, this ImageWorks reads 2"):
        DraftStore(path)
    con = sqlite3.connect(path)
    assert version_of(con) == 0 and con.execute("SELECT value FROM meta").fetchall() == [(1,)]


@pytest.mark.parametrize("after_sha256", ["", ", after_sha256 TEXT"])
def test_backups_index(tmp_path: Path, after_sha256: str) -> None:
    row = "INSERT INTO backups (id, created_ns, job_id, photo, target, existed, blob) VALUES (1, 5, 'j', ?, ?, 1, 'ab')"
    last.make(tmp_path / "index.sqlite3", last.BACKUPS.format(after_sha256=after_sha256), [(row, (b"/p.jpg",) * 2)])
    with BackupStore(tmp_path) as store:
        (entry,) = store.entries()
        assert (entry.id, entry.job_id, entry.photo, entry.blob, entry.after_sha256) == (1, "j", "/p.jpg", "ab", None)
        assert version_of(store._connect()) == 2


def test_similarity_cache(tmp_path: Path) -> None:
    row = "INSERT INTO hashes VALUES (?, 'phash', 8, 10, 20, ?, NULL)"
    db = last.make(tmp_path / "similarity.sqlite3", last.SIMILARITY, [(row, (b"/p/a.jpg", b"\x01" * 8))])
    with SimilarityCache(db) as cache:
        assert cache.cached_hashes([Fingerprint("/p/a.jpg", 10, 20)], "phash", 8) == {"/p/a.jpg": (b"\x01" * 8, None)}
    assert not list(tmp_path.glob("*.broken-*"))


def test_marks(tmp_path: Path) -> None:
    row = "INSERT INTO marks VALUES (?, 'reject', 1)"
    db = last.make(tmp_path / "marks.sqlite3", last.MARKS, [(row, (b"/p/a.jpg",))])
    with MarkStore(db) as marks:
        assert marks.marks_of(["/p/a.jpg", "/p/b.jpg"]) == {"/p/a.jpg": "reject"}
        assert version_of(marks._con) == 1


# ---- newer files, and connections closed ------------------------------------------------------------------------


def newer(path: Path) -> Path:
    con = sqlite3.connect(path)
    con.execute("PRAGMA user_version = 99")
    con.close()
    return path


def test_stores_of_a_persons_work_refuse_a_newer_file_and_caches_move_it_aside(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="newer ImageWorks"):
        Journal(newer(tmp_path / "journal.sqlite3"))
    with pytest.raises(SchemaError, match="newer ImageWorks"):
        DraftStore(newer(tmp_path / "drafts.sqlite3"))
    with pytest.raises(SchemaError, match="newer ImageWorks"):
        MarkStore(newer(tmp_path / "marks.sqlite3"))
    (tmp_path / "backups").mkdir()
    newer(tmp_path / "backups" / "index.sqlite3")
    with pytest.raises(SchemaError, match="newer ImageWorks"):
        BackupStore(tmp_path / "backups").entries()
    with SimilarityCache(newer(tmp_path / "similarity.sqlite3")):
        assert [p.name.split(".broken-")[0] for p in tmp_path.glob("*.broken-*")] == ["similarity.sqlite3"]


def open_files(name: str, under: Path) -> int:
    """How many of this process's file descriptors point at a file called ``name`` below ``under`` (connections
    other tests of this process left open elsewhere do not count)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        count += os.path.basename(target) == name and target.startswith(str(under))
    return count


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc (Linux)")
def test_stores_close_every_connection_they_open(tmp_path: Path, xdg: dict[str, Path]) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    side = journal.side_connection()
    side.execute("SELECT 1")
    assert open_files("journal.sqlite3", tmp_path) == 2
    journal.close()
    assert open_files("journal.sqlite3", tmp_path) == 0

    store = BackupStore(tmp_path / "backups")
    for _ in range(3):
        store.entries()  # one connection for the store's life, not one per call
    assert open_files("index.sqlite3", tmp_path) == 1
    store.close()
    assert open_files("index.sqlite3", tmp_path) == 0

    photo = tmp_path / "p.jpg"
    Image.new("RGB", (16, 12), "red").save(photo)
    md.apply(md.plan(photo, md.Proposed(keywords=["x"]), "merge", options=MetadataConfig()))  # backs up first
    assert open_files("index.sqlite3", xdg["state"]) == 0  # the default store, in the state dir
    with BackupStore() as store:
        assert len(store.entries(path=photo)) == 1
