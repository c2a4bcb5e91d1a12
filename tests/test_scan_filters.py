"""Filters run as SQL over the cache and must agree with a plain Python filter over the same entries."""

from __future__ import annotations

import fnmatch
import os
import random
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imageworks.scan import (
    FileEntry,
    ScanCache,
    ScanError,
    ScanFilter,
    format_duration,
    format_size,
    parse_extensions,
    parse_size,
)
from imageworks.scan.records import mtime_ns_of

EXTS = ["jpg", "JPG", "jpeg", "png", "tif", "tiff", "webp", "nef", "CR2", "dng"]
PREFIXES = ["IMG_", "beach", "Sea-", "a_b", "[x]", "Ünï", "x*y", "q?"]
BASE_TIME = 1_600_000_000
N_FILES = 240


@pytest.fixture(scope="module")
def tree() -> Iterator[tuple[Path, Path, list[FileEntry]]]:
    """One tree for all examples (real files, real mtimes), scanned once; 2 of 3 files probed."""
    top = Path(tempfile.mkdtemp(prefix="iw-filters-"))
    root = top / "lib"
    rng = random.Random(7)
    for i in range(N_FILES):
        path = root / f"d{i % 7}" / f"{rng.choice(PREFIXES)}{i}.{rng.choice(EXTS)}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * rng.randrange(0, 3000))
        stamp = (BASE_TIME + rng.randrange(0, 10**8)) * 10**9 + rng.randrange(0, 10**9)
        os.utime(path, ns=(stamp, stamp))
    db = top / "scan.sqlite3"
    with ScanCache(db, metadata_probe=lambda path: len(path) % 2 == 0) as cache:
        cache.scan(root)
        everything = cache.query(root)
        cache.ensure_metadata_flags(root, everything[: 2 * len(everything) // 3])
        entries = cache.query(root)
    yield root, db, entries
    shutil.rmtree(top, ignore_errors=True)


# the reference: written from the documented meaning of each field, sharing no code with the SQL side
KIND_OF = {"jpg": "jpeg", "jpeg": "jpeg", "jpe": "jpeg", "png": "png", "tif": "tiff", "tiff": "tiff", "webp": "webp"}
KIND_NAMES = {"jpeg", "png", "tiff", "webp", "heic", "raw"}


def brute_force(entries: list[FileEntry], f: ScanFilter) -> list[str]:
    kinds, raw_exts = set(), set()
    for token in f.extensions:
        t = token.lstrip(".").lower()
        if t in KIND_NAMES:
            kinds.add(t)
        elif t in KIND_OF:
            kinds.add(KIND_OF[t])
        else:
            raw_exts.add(t)
    out = []
    for e in entries:
        if f.min_size is not None and e.size < f.min_size:
            continue
        if f.max_size is not None and e.size > f.max_size:
            continue
        if f.extensions and not (e.kind in kinds or e.ext in raw_exts):
            continue
        if f.name_glob and not fnmatch.fnmatchcase(os.path.basename(e.path).lower(), f.name_glob.lower()):
            continue
        if f.has_metadata is not None and e.has_metadata is not f.has_metadata:
            continue
        if f.modified_after is not None and e.mtime_ns < round(f.modified_after * 1e9):
            continue
        if f.modified_before is not None and e.mtime_ns >= round(f.modified_before * 1e9):
            continue
        out.append(e.relpath)
    return out


glob_piece = st.one_of(
    st.sampled_from(["*", "?", "*", "img_", "beach", "sea-", "1", "0", ".", "jpg", "ünï", "_", "-", "[x]"]),
    st.builds(lambda neg, chars: f"[{'!' if neg else ''}{chars}]", st.booleans(), st.sampled_from(["ab", "0-4", "x"])),
)
globs = st.lists(glob_piece, min_size=1, max_size=4).map("".join)
times = st.floats(min_value=BASE_TIME - 10, max_value=BASE_TIME + 10**8 + 10, allow_nan=False)
filters = st.builds(
    ScanFilter,
    min_size=st.none() | st.integers(0, 3100),
    max_size=st.none() | st.integers(0, 3100),
    extensions=st.lists(st.sampled_from([*EXTS, ".PNG", "raw", "jpeg", "tiff", "arw"]), max_size=3).map(tuple),
    name_glob=st.none() | globs,
    has_metadata=st.sampled_from([None, True, False]),
    modified_after=st.none() | times,
    modified_before=st.none() | times,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(f=filters)
def test_sql_filters_agree_with_a_python_filter(tree: tuple[Path, Path, list[FileEntry]], f: ScanFilter) -> None:
    root, db, entries = tree
    expected = brute_force(entries, f)
    with ScanCache(db) as cache:
        got = [e.relpath for e in cache.query(root, f)]
        assert got == expected  # same files, same order (by relative path)
        assert cache.totals(root, f) == (len(expected), sum(e.size for e in entries if e.relpath in set(expected)))
        page = cache.query(root, f, limit=5, offset=3)
        assert [e.relpath for e in page] == expected[3:8]


def test_fixture_tree_has_every_kind_of_flag(tree: tuple[Path, Path, list[FileEntry]]) -> None:
    _, _, entries = tree
    assert len(entries) == N_FILES
    assert {e.has_metadata for e in entries} == {None, True, False}


def test_filters_use_the_primary_key_not_a_scan_of_every_root(tree: tuple[Path, Path, list[FileEntry]]) -> None:
    _, db, _ = tree
    where, params = ScanFilter(min_size=10, name_glob="*a*").to_sql()
    with ScanCache(db) as cache:
        plan = cache._con.execute(
            f"EXPLAIN QUERY PLAN SELECT count(*) FROM files WHERE root_id = ?{where}", [1, *params]
        )
        assert "USING PRIMARY KEY (root_id=?)" in " ".join(str(row[-1]) for row in plan)


# ---- refresh as a property: after any mix of changes the listing equals the filesystem -------------------------

names = st.lists(
    st.sampled_from([f"{d}/{n}.{x}" for d in ("", "s", "s/t") for n in "abc" for x in ("jpg", "png", "txt")]),
    unique=True,
    max_size=8,
)


def on_disk(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            if name.rpartition(".")[2] in ("jpg", "png"):
                path = Path(dirpath) / name
                st_ = path.stat()
                out[str(path.relative_to(root))] = (st_.st_size, mtime_ns_of(st_))
    return out


@settings(max_examples=40, deadline=None)
@given(before=names, after=names, grow=st.sets(st.integers(0, 7)))
def test_refresh_listing_always_matches_the_filesystem(before: list[str], after: list[str], grow: set[int]) -> None:
    top = Path(tempfile.mkdtemp(prefix="iw-refresh-"))
    try:
        root = top / "lib"
        root.mkdir()
        for rel in before:
            (root / rel.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            (root / rel.lstrip("/")).write_bytes(b"1")
        with ScanCache(top / "db.sqlite3") as cache:
            cache.scan(root)
            old = on_disk(root)
            for rel in set(before) - set(after):
                (root / rel.lstrip("/")).unlink()
            for i, rel in enumerate(after):
                path = root / rel.lstrip("/")
                path.parent.mkdir(parents=True, exist_ok=True)
                if not path.exists() or i in grow:
                    path.write_bytes(b"1" * (1 + (i in grow) * (i + 1)))
            result = cache.scan(root, refresh=True)
            now = on_disk(root)
            assert {e.relpath: (e.size, e.mtime_ns) for e in cache.query(root)} == now
            assert result.added == len(now.keys() - old.keys())
            assert result.removed == len(old.keys() - now.keys())
            assert result.changed == sum(1 for k in now.keys() & old.keys() if now[k] != old[k])
    finally:
        shutil.rmtree(top, ignore_errors=True)


# ---- parsers ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "size"),
    [("123", 123), ("1MB", 1_000_000), ("1mb", 1_000_000), ("500k", 500_000), ("2.5MiB", 2_621_440), ("1G", 10**9)],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "MB", "1XB", "-1", "1Mi B", "iB1"])
def test_parse_size_rejects_nonsense(text: str) -> None:
    with pytest.raises(ScanError, match="not a size"):
        parse_size(text)


def test_parse_extensions_and_format_size() -> None:
    assert parse_extensions("jpg, .PNG,,raw,jpg") == ("jpg", "png", "raw")
    with pytest.raises(ScanError, match="unknown image extension 'txt'"):
        parse_extensions("jpg,txt")
    assert format_size(999) == "999 B" and format_size(1_500_000) == "1.5 MB"


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0 s"), (89.4, "89 s"), (90, "2 min"), (5399, "90 min"), (5400, "1.5 h"), (9000, "2.5 h")]
)
def test_format_duration_rounds_for_a_person(seconds: float, text: str) -> None:
    # the scan CLI's cache age and the TUI's estimate and ETA share it
    assert format_duration(seconds) == text
