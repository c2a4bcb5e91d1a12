"""The cold scan's bulk insert (imageworks.scan.write): statement boundaries, its writer thread, failures mid-write."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from imageworks import paths
from imageworks.scan import ScanCache, ScanError, ScanProgress
from imageworks.scan import write as write_mod
from imageworks.scan.store import MIGRATIONS
from imageworks.scan.write import BulkInsert
from imageworks.schema import migrate

ROOT = Path(__file__).resolve().parents[1]


def rows(n: int, start: int = 0) -> list[tuple[object, ...]]:
    return [(f"d/f{i:04d}.jpg", f"f{i:04d}.jpg", 0, i, i * 10, i + 1, 7) for i in range(start, start + n)]


def writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "scan-bulk-insert"]


def cache_db() -> sqlite3.Connection:
    """An empty scan cache in memory, made by the migrations a cache file goes through."""
    con = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    migrate(con, MIGRATIONS, "scan cache (memory)")
    return con


@pytest.mark.parametrize("threaded", [True, False])
@pytest.mark.parametrize("total", [0, 1, 3, 7, 12])
def test_every_row_lands_once_whatever_the_statement_boundaries(
    monkeypatch: pytest.MonkeyPatch, threaded: bool, total: int
) -> None:
    monkeypatch.setattr(write_mod, "ROWS", 3)
    con = cache_db()
    con.execute("BEGIN")
    bulk = BulkInsert(con, 5, threaded=threaded)
    assert bulk.rows_per_statement == 3
    sent = rows(total)
    for i in range(0, total, 2):  # walker batches of 2: statements straddle them
        bulk.add(sent[i : i + 2], True)
    bulk.finish()
    con.execute("COMMIT")
    got = con.execute("SELECT relpath, name_lc, ext_id, size, mtime_ns, ino, dev FROM files WHERE root_id = 5")
    assert sorted(got) == sorted(sent)
    assert not writer_threads()


def test_threaded_and_inline_writers_store_the_same_directory_digests(monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer thread makes the digests (and converts the rows) itself: the same ones as inline, for directories
    met in several batches, and none for one holding a non-UTF-8 name."""
    monkeypatch.setattr(write_mod, "ROWS", 3)
    batches: list[tuple[list[tuple[object, ...]], bool]] = [
        (rows(2), True),
        ([(f"e/g{i}.png", f"g{i}.png", 1, i, i, i, 7) for i in range(4)], True),
        (rows(3, start=2), True),  # d/ again
        ([(os.fsdecode(b"x/caf\xe9.jpg"), "caf\\xe9.jpg", 0, 1, 2, 3, 4)], False),
        ([("x/plain.jpg", "plain.jpg", 0, 1, 2, 3, 4)], True),
    ]
    stored = []
    for threaded in (True, False):
        con = cache_db()
        con.execute("BEGIN")
        bulk = BulkInsert(con, 1, threaded=threaded)
        for batch, clean in batches:
            bulk.add(batch, clean)
        bulk.finish()
        con.execute("COMMIT")
        stored.append(con.execute("SELECT relpath, digest FROM dirs ORDER BY relpath").fetchall())
        assert con.execute("SELECT count(*) FROM files").fetchone()[0] == 11
    assert stored[0] == stored[1]
    assert [d for d, _ in stored[0]] == ["d", "e"]  # x/ holds a name a digest cannot carry
    assert not writer_threads()


def test_statements_fit_sqlites_variable_limit() -> None:
    if sys.version_info < (3, 11):
        pytest.skip("Python < 3.11")
    con = cache_db()
    con.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)  # the default before SQLite 3.32
    bulk = BulkInsert(con, 1, threaded=False)
    assert bulk.rows_per_statement == 999 // 7
    bulk.add(rows(300), True)
    bulk.finish()
    assert con.execute("SELECT count(*) FROM files").fetchone()[0] == 300


def test_non_utf8_relpaths_are_stored_as_bytes() -> None:
    con = cache_db()
    bulk = BulkInsert(con, 1, threaded=True)
    bulk.add([(os.fsdecode(b"caf\xe9.jpg"), "caf\\xe9.jpg", 0, 1, 2, 3, 4)], False)
    bulk.finish()
    assert con.execute("SELECT relpath FROM files").fetchone()[0] == b"caf\xe9.jpg"


@pytest.mark.parametrize("cpus", [1, 2])
def test_threaded_and_inline_cold_scans_list_the_same(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cpus: int
) -> None:
    monkeypatch.setattr(write_mod, "ROWS", 4)
    monkeypatch.setattr(write_mod, "usable_cpus", lambda: cpus)
    root = tmp_path / "lib"
    expected = set()
    for d in range(5):
        for f in range(3 + d):
            (root / f"d{d}").mkdir(parents=True, exist_ok=True)
            (root / f"d{d}" / f"f{f}.jpg").write_bytes(b"\xff\xd8\xff" * f)
            expected.add(f"d{d}/f{f}.jpg")
    os.mkdir(os.fsencode(root) + b"/x\xff")
    with open(os.fsencode(root) + b"/x\xff/n\xe9.png", "wb") as out:
        out.write(b"png")
    expected.add(os.fsdecode(b"x\xff/n\xe9.png"))
    with ScanCache(walker="python") as cache:
        result = cache.scan(root)
        assert result.files == len(expected) and result.empty_files == 5
        assert {e.relpath for e in cache.query(root)} == expected
        assert cache.scan(root, refresh=True).changed == 0
    assert not writer_threads()


def test_a_corrupt_file_met_by_the_writer_thread_is_rebuilt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(write_mod, "ROWS", 2)
    monkeypatch.setattr(write_mod, "usable_cpus", lambda: 2)
    root = tmp_path / "lib"
    root.mkdir()
    for i in range(9):
        (root / f"f{i}.jpg").write_bytes(b"x")
    insert = BulkInsert._insert
    failures: list[str] = []

    def corrupt_once(self: BulkInsert, batch: list[tuple[object, ...]], *, final: bool = False) -> object:
        if not failures:
            failures.append(threading.current_thread().name)
            raise sqlite3.DatabaseError("database disk image is malformed")
        return insert(self, batch, final=final)

    monkeypatch.setattr(BulkInsert, "_insert", corrupt_once)
    with ScanCache() as cache:
        assert cache.scan(root).files == 9  # moved aside, rebuilt, walked again
        assert failures == ["scan-bulk-insert"]
        assert any("corrupt" in w and "rebuilt" in w for w in cache.warnings)
        assert cache.count(root) == 9
    assert not writer_threads()


def test_cancelling_a_cold_scan_leaves_no_listing_and_no_thread(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(write_mod, "ROWS", 2)
    root = tmp_path / "lib"
    for d in range(4):
        (root / f"d{d}").mkdir(parents=True)
        for f in range(5):
            (root / f"d{d}" / f"f{f}.jpg").write_bytes(b"x")

    def cancel(p: ScanProgress) -> None:
        if p.files >= 10:
            raise KeyboardInterrupt

    with ScanCache() as cache:
        with pytest.raises(KeyboardInterrupt):
            cache.scan(root, progress=cancel)
        assert not writer_threads()
        with pytest.raises(ScanError, match="no cached listing"):
            cache.count(root)
        assert cache.scan(root).files == 20


CRASH_MID_WRITE = """
import os, sys, time
from imageworks.scan import ScanCache, cache, store, write

write.ROWS = 2
store.PAGE_SIZE = 1024
connect = cache.connect
def small_cache(target):  # a page cache of 2 pages: uncommitted rows spill into the WAL, as in a big cold scan
    con = connect(target)
    con.execute("PRAGMA cache_size = 2")
    return con
cache.connect = small_cache
db, root = sys.argv[1:]
def crash(p):
    if p.files >= 60:
        # the writer thread inserts behind the walk: kill once its rows have spilled into the WAL (or after 10 s,
        # and the test's assertion says so)
        deadline = time.monotonic() + 10
        while os.path.getsize(db + "-wal") <= before and time.monotonic() < deadline:
            time.sleep(0.01)  # ok-sleep: the poll interval of a condition wait
        print(os.path.getsize(db + "-wal"), flush=True)
        os._exit(1)  # like a kill: no rollback, no close
with ScanCache(db) as c:
    before = os.path.getsize(db + "-wal")
    print(before, flush=True)
    c.scan(root, progress=crash)
"""


def test_a_crash_mid_write_leaves_no_partial_listing(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    for d in range(10):
        (root / f"d{d}").mkdir(parents=True)
        for f in range(10):
            (root / f"d{d}" / f"f{f}_{'long' * 10}.jpg").write_bytes(b"x" * 5000)
    db = paths.scan_db()
    proc = subprocess.run(
        [sys.executable, "-c", CRASH_MID_WRITE, str(db), str(root)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    before, at_crash = map(int, proc.stdout.split())
    assert at_crash > before  # rows of the unfinished transaction had reached the WAL file
    with ScanCache(db) as cache:
        assert cache.warnings == []
        with pytest.raises(ScanError, match="no cached listing"):
            cache.count(root)  # the uncommitted cold scan is simply not there
        assert cache.scan(root).files == 100


def test_a_schema_1_cache_is_rebuilt_for_ext_ids(tmp_path: Path) -> None:
    db = paths.scan_db()
    with sqlite3.connect(db) as con:  # what schema 1 left: ext and kind as text
        con.execute("CREATE TABLE files (root_id, relpath, name_lc, ext TEXT, kind TEXT, size, mtime_ns, ino, dev)")
        con.execute("CREATE TABLE roots (id INTEGER PRIMARY KEY, path)")
        con.execute("PRAGMA user_version = 1")
    (tmp_path / "a.NEF").write_bytes(b"raw")
    with ScanCache(db) as cache:
        assert any("old schema 1, rebuilt" in w for w in cache.warnings)
        cache.scan(tmp_path)
        [entry] = cache.query(tmp_path)
        assert (entry.ext, entry.kind) == ("nef", "raw")


def test_ext_ids_cover_every_extension_once_with_its_kind() -> None:
    from imageworks.scan.records import EXTENSIONS, KIND_OF_ID, RAW_EXTENSIONS, image_ext_ids, image_kinds

    assert len(set(EXTENSIONS)) == len(EXTENSIONS)
    kinds = image_kinds()
    assert set(image_ext_ids()) == set(kinds) <= set(EXTENSIONS)
    assert {ext: KIND_OF_ID[i] for ext, i in image_ext_ids().items()} == kinds
    assert {EXTENSIONS[i] for i, kind in enumerate(KIND_OF_ID) if kind == "raw"} == RAW_EXTENSIONS


def test_the_python_walker_yields_directories_in_name_order(tmp_path: Path) -> None:
    """A cold scan's rows reach the b-tree almost in key order (see ``Walker._python_tree``): each directory's
    subdirectories are walked in name order, whatever order the file system lists them in."""
    from imageworks.scan.walk import Walker

    names = ["m", "b", "z", "a", "k", "c", "y", "d"]
    for name in names:
        for sub in ("2", "1"):
            (tmp_path / name / sub).mkdir(parents=True)
            (tmp_path / name / sub / "x.jpg").write_bytes(b"x")
    dirs = [batch[0][0].rpartition("/")[0] for batch, _ in Walker(str(tmp_path), engine="python").batches()]
    assert dirs == [f"{name}/{sub}" for name in sorted(names) for sub in ("1", "2")]
