"""Refreshes diff only the directories whose digest changed (imageworks/scan/digests.py): an unchanged library reads
none of its cached rows, a change reads only its directory's, and the listing still equals the filesystem after
any run of changes and refreshes, with either walker; a schema-2 cache keeps its rows and probe results."""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imageworks import paths
from imageworks.scan import ScanCache, mtime_ns_of
from imageworks.scan import digests as digests_mod
from imageworks.scan.walk import Walker

ENGINES = ["rust", "python", "python-loop"]  # python: the C lister (_listdir.c); python-loop: os.scandir


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "lib"
    for d in ("2023/a", "2023/b", "2024", ""):
        for i in range(3):
            path = root / d / f"img{i}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"x" * (10 + i))
    (root / "2023/a/notes.txt").write_text("not an image")
    return root


@pytest.fixture
def rows_read(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The directories whose cached rows a refresh reads (the real function, counted)."""
    read: list[str] = []
    real = digests_mod.rows_of_dir

    def counted(con: sqlite3.Connection, root_id: int, directory: str) -> list:
        read.append(directory)
        return real(con, root_id, directory)

    monkeypatch.setattr("imageworks.scan.write.rows_of_dir", counted)
    return read


@pytest.mark.parametrize("engine", ENGINES)
def test_an_unchanged_library_reads_no_cached_rows(library: Path, rows_read: list[str], engine: str) -> None:
    with ScanCache(walker=engine) as cache:
        cache.scan(library)
        result = cache.scan(library, refresh=True)
        assert (result.added, result.removed, result.changed) == (0, 0, 0)
        assert rows_read == []


@pytest.mark.parametrize("engine", ENGINES)
def test_a_change_reads_only_its_directorys_rows_and_keeps_the_others_probes(
    library: Path, rows_read: list[str], engine: str
) -> None:
    with ScanCache(walker=engine, metadata_probe=lambda path: False) as cache:
        cache.scan(library)
        cache.ensure_metadata_flags(library, cache.query(library))
        (library / "2023/b/img1.jpg").write_bytes(b"rewritten in place")
        (library / "2024/new.png").write_bytes(b"new")
        result = cache.scan(library, refresh=True)
        assert (result.added, result.removed, result.changed) == (1, 0, 1)
        assert sorted(rows_read) == ["2023/b", "2024"]
        probed = {e.relpath: e.has_metadata for e in cache.query(library)}
        assert probed["2023/b/img1.jpg"] is None and probed["2024/new.png"] is None  # to be probed again
        assert probed["2023/a/img0.jpg"] is False and probed["img2.jpg"] is False  # kept, never re-read
        rows_read.clear()
        assert cache.scan(library, refresh=True).changed == 0 and rows_read == []  # the new digests were stored


def test_a_directory_that_lost_its_images_has_its_rows_removed(library: Path, rows_read: list[str]) -> None:
    with ScanCache() as cache:
        cache.scan(library)
        shutil.rmtree(library / "2023/a")
        for path in (library / "2024").iterdir():
            path.unlink()
        result = cache.scan(library, refresh=True)
        assert result.removed == 6 and sorted(rows_read) == ["2023/a", "2024"]
        left = {e.relpath.rpartition("/")[0] for e in cache.query(library)}
        assert left == {"2023/b", ""}


def test_walker_batches_each_hold_one_directory(library: Path) -> None:
    for engine in ENGINES:
        for batch, _clean in Walker(str(library), engine=engine).batches():
            assert batch and len({r[0].rpartition("/")[0] for r in batch}) == 1


def test_a_schema_2_cache_keeps_its_rows_and_probes_and_gets_digests_on_its_first_refresh(
    library: Path, rows_read: list[str]
) -> None:
    with ScanCache(metadata_probe=lambda path: True) as cache:
        cache.scan(library)
        cache.ensure_metadata_flags(library, cache.query(library))
    db = paths.scan_db()
    with sqlite3.connect(db) as con:  # what schema 2 had: no dirs table
        con.execute("DROP TABLE dirs")
        con.execute("PRAGMA user_version = 2")
    with ScanCache() as cache:
        assert not cache.warnings  # migrated in place, not rebuilt
        assert all(e.has_metadata is True for e in cache.query(library))
        first = cache.scan(library, refresh=True)
        assert (first.added, first.removed, first.changed) == (0, 0, 0) and rows_read == []  # one whole-root diff
        assert all(e.has_metadata is True for e in cache.query(library))
        (library / "2024/img0.jpg").unlink()
        assert cache.scan(library, refresh=True).removed == 1 and rows_read == ["2024"]


# ---- as a property: after any run of changes and refreshes, with either walker, the listing is the filesystem ----

RELS = [f"{d}{n}.{x}" for d in ("", "s/", "s/t/", "u/") for n in "ab" for x in ("jpg", "txt")]
change = st.tuples(st.sampled_from(RELS), st.sampled_from(["write", "grow", "remove"]))


def on_disk(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            if name.endswith(".jpg"):
                st_ = (Path(dirpath) / name).stat()
                out[str((Path(dirpath) / name).relative_to(root))] = (st_.st_size, mtime_ns_of(st_))
    return out


@settings(max_examples=30, deadline=None)
@given(rounds=st.lists(st.tuples(st.sampled_from(ENGINES), st.lists(change, max_size=5)), min_size=1, max_size=4))
def test_any_run_of_changes_and_refreshes_keeps_the_listing_equal_to_the_filesystem(rounds: list) -> None:
    top = Path(tempfile.mkdtemp(prefix="iw-digests-"))
    try:
        root = top / "lib"
        root.mkdir()
        with ScanCache(top / "db.sqlite3") as first:
            first.scan(root)
        for engine, changes in rounds:
            for rel, what in changes:
                path = root / rel
                if what == "remove":
                    path.unlink(missing_ok=True)
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"1" * (1 + (what == "grow") * (1 + path.stat().st_size if path.exists() else 1)))
            with ScanCache(top / "db.sqlite3", walker=engine) as cache:
                cache.scan(root, refresh=True)
                assert {e.relpath: (e.size, e.mtime_ns) for e in cache.query(root)} == on_disk(root)
    finally:
        shutil.rmtree(top, ignore_errors=True)


# ---- per-path updates (a watcher's entry point) -----------------------------------------------------------------


def test_refresh_paths_updates_just_those_files_and_the_next_refresh_rediffs_their_directories(
    library: Path, rows_read: list[str]
) -> None:
    with ScanCache(metadata_probe=lambda path: False) as cache:
        cache.scan(library)
        cache.ensure_metadata_flags(library, cache.query(library))
        (library / "2023/a/img0.jpg").write_bytes(b"rewritten in place")
        (library / "2023/a/new.jpg").write_bytes(b"new")
        (library / "2024/img2.jpg").unlink()
        (library / "2023/b/img0.jpg").write_bytes(b"changed, but not reported")
        added, changed, removed = cache.refresh_paths(
            library, ["2023/a/img0.jpg", "2023/a/new.jpg", "2024/img2.jpg", "2023/a/notes.txt"]
        )
        assert (added, changed, removed) == (1, 1, 1)
        listed = {e.relpath: e for e in cache.query(library)}
        assert "2023/a/new.jpg" in listed and "2024/img2.jpg" not in listed
        rewritten = listed["2023/a/img0.jpg"]
        assert rewritten.size == len(b"rewritten in place") and rewritten.has_metadata is None
        assert listed["2023/a/img1.jpg"].has_metadata is False  # untouched
        assert listed["2023/b/img0.jpg"].size == 10  # not reported: left for the next refresh
        assert cache.scan(library).files == len(listed)  # the root's totals follow
        result = cache.scan(library, refresh=True)
        assert (result.added, result.changed, result.removed) == (0, 1, 0)  # 2023/b's unreported change
        assert sorted(rows_read) == ["2023/a", "2023/b", "2024"]  # the forgotten digests, and the changed directory
        rows_read.clear()
        assert cache.scan(library, refresh=True).changed == 0 and rows_read == []


def test_refresh_paths_of_a_directory_that_is_gone_before_the_next_refresh_leaves_no_rows(library: Path) -> None:
    with ScanCache() as cache:
        cache.scan(library)
        (library / "2025").mkdir()
        (library / "2025/first.jpg").write_bytes(b"new")
        assert cache.refresh_paths(library, ["2025/first.jpg"]) == (1, 0, 0)
        shutil.rmtree(library / "2025")
        assert cache.scan(library, refresh=True).removed == 1
        assert not [e for e in cache.query(library) if e.relpath.startswith("2025/")]
