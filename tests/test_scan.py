"""The scan cache on real trees: discovery, TTL, refresh, bad input, lazy probes, a damaged cache file."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import pyexiv2
import pytest
from PIL import Image

from imageworks import paths
from imageworks.scan import (
    ScanCache,
    ScanError,
    ScanFilter,
    ScanProgress,
    image_kinds,
    mtime_ns_of,
)
from imageworks.scan.records import heic_supported

ENGINES = ["rust", "python", "python-loop"]  # python: the C lister (_listdir.c); python-loop: os.scandir
ROOT = Path(__file__).resolve().parents[1]

XMP_SIDECAR = """<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
<dc:subject><rdf:Bag><rdf:li>beach</rdf:li></rdf:Bag></dc:subject></rdf:Description>
</rdf:RDF></x:xmpmeta><?xpacket end="w"?>"""


def image(path: Path | str | bytes, size: tuple[int, int] = (8, 6), fmt: str | None = None) -> Path:
    path = Path(os.fsdecode(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (200, 100, 50)).save(path, format=fmt)
    return path


def tag(path: Path, **xmp: Any) -> None:
    with pyexiv2.Image(str(path)) as img:
        img.modify_xmp(xmp)


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    image(root / "a.jpg")
    image(root / "B.JPG")
    image(root / "2023" / "beach.png")
    image(root / "2023" / "deep" / "scan.tif")
    image(root / "2023" / "deep" / "web.webp")
    (root / "2023" / "IMG_1.nef").write_bytes(b"not really raw")
    (root / "notes.txt").write_text("hello")
    (root / "2023" / "IMG_1.xmp").write_text("<x/>")
    (root / "no_extension").write_bytes(b"\xff\xd8\xff")
    return root


def listing(cache: ScanCache, root: Path, filters: ScanFilter | None = None) -> set[str]:
    return {e.relpath for e in cache.query(root, filters)}


EXPECTED = {"a.jpg", "B.JPG", "2023/beach.png", "2023/deep/scan.tif", "2023/deep/web.webp", "2023/IMG_1.nef"}


# ---- discovery --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_cold_scan_records_path_size_mtime_inode_kind(library: Path, engine: str) -> None:
    with ScanCache(walker=engine) as cache:
        result = cache.scan(library)
        entries = {e.relpath: e for e in cache.query(library)}
    assert set(entries) == EXPECTED
    assert result.files == len(EXPECTED) and not result.from_cache
    assert result.bytes == sum((library / rel).stat().st_size for rel in EXPECTED)
    assert (result.added, result.removed, result.changed, result.error_count) == (0, 0, 0, 0)
    for rel, entry in entries.items():
        st = (library / rel).stat()
        assert entry.path == str(library / rel)
        assert (entry.size, entry.mtime_ns, entry.inode, entry.device) == (
            st.st_size,
            mtime_ns_of(st),
            st.st_ino,
            st.st_dev,
        )
        assert entry.has_metadata is None and entry.width is None  # lazy: nothing read yet
    assert entries["B.JPG"].ext == "jpg" and entries["B.JPG"].kind == "jpeg"
    assert entries["2023/IMG_1.nef"].kind == "raw" and entries["2023/IMG_1.nef"].is_raw
    assert cache.counters()["scans_run"] == 1


def test_heic_listed_only_when_pillow_heif_is_installed(tmp_path: Path) -> None:
    (tmp_path / "x.heic").write_bytes(b"\x00\x00\x00\x18ftypheic")
    with ScanCache() as cache:
        cache.scan(tmp_path)
        assert listing(cache, tmp_path) == ({"x.heic"} if heic_supported() else set())
    assert ("heic" in image_kinds()) == heic_supported()


def test_walkers_agree_on_a_mixed_tree(library: Path, tmp_path: Path) -> None:
    (library / "2023" / "link.jpg").symlink_to(library / "a.jpg")
    os.mkdir(os.fsencode(library) + b"/d\xff")
    image(os.fsencode(library) + b"/d\xff/in.jpg")
    image(os.fsencode(library) + b"/2023/caf\xe9.png")
    (library / "empty_dir").mkdir()
    results = []
    for engine in ENGINES:
        with ScanCache(tmp_path / f"{engine}.sqlite3", walker=engine) as cache:
            r = cache.scan(library)
            results.append(([(e.relpath, e.size, e.mtime_ns, e.inode) for e in cache.query(library)], r.files))
    assert results[0] == results[1]
    assert results[0][1] == len(EXPECTED) + 2


# ---- TTL, persistence, refresh ----------------------------------------------------------------------------------


def test_ttl_controls_cache_hits_with_a_controllable_clock(library: Path) -> None:
    clock = Clock()
    with ScanCache(clock=clock) as cache:
        assert not cache.scan(library, ttl=60).from_cache
        image(library / "new.jpg")
        clock.now += 59
        hit = cache.scan(library, ttl=60)
        assert hit.from_cache and hit.age_seconds == 59 and hit.files == len(EXPECTED)
        assert "new.jpg" not in listing(cache, library)  # the listing is the cached one
        clock.now += 2
        fresh = cache.scan(library, ttl=60)
        assert not fresh.from_cache and fresh.added == 1 and fresh.files == len(EXPECTED) + 1
        assert cache.scan(library, ttl=0).from_cache is False  # ttl 0: always walk
        clock.now -= 3600  # a clock that went backwards never makes a listing look fresh
        assert cache.scan(library, ttl=60).from_cache is False
        assert (cache.scans_run, cache.cache_hits) == (4, 1)


def test_ttl_default_comes_from_config(library: Path) -> None:
    from imageworks.config import ScanConfig

    clock = Clock()
    with ScanCache(config=ScanConfig(ttl_seconds=10), clock=clock) as cache:
        cache.scan(library)
        clock.now += 9
        assert cache.scan(library).from_cache
        clock.now += 2
        assert not cache.scan(library).from_cache


def test_cache_persists_across_instances(library: Path) -> None:
    with ScanCache() as cache:
        cache.scan(library)
    with ScanCache() as cache:
        again = cache.scan(library)
        assert again.from_cache and again.files == len(EXPECTED)
        assert listing(cache, library) == EXPECTED
        assert cache.db_path.parent == Path(os.environ["XDG_CACHE_HOME"]) / "imageworks"


def test_refresh_picks_up_added_removed_modified_and_nothing_else(library: Path) -> None:
    probed: list[str] = []

    def probe(path: str) -> bool:
        probed.append(os.path.relpath(path, library))
        return path.endswith(".png")

    with ScanCache(metadata_probe=probe) as cache:
        cache.scan(library)
        first = cache.ensure_metadata_flags(library)
        assert first.probed == len(EXPECTED) and sorted(probed) == sorted(EXPECTED)
        before = {e.relpath: e for e in cache.query(library)}

        image(library / "a.jpg", size=(40, 30))  # rewritten: new size
        st = (library / "B.JPG").stat()
        os.utime(library / "B.JPG", ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # touched only
        (library / "2023" / "deep" / "scan.tif").unlink()
        image(library / "2023" / "added.jpg")
        (library / "ignored.txt").write_text("not an image")

        result = cache.scan(library, refresh=True)
        assert (result.added, result.removed, result.changed) == (1, 1, 2)
        after = {e.relpath: e for e in cache.query(library)}
        assert set(after) == EXPECTED - {"2023/deep/scan.tif"} | {"2023/added.jpg"}
        for rel in ("2023/beach.png", "2023/deep/web.webp", "2023/IMG_1.nef"):
            assert after[rel] == before[rel]  # untouched rows keep their probe results
        assert after["a.jpg"].has_metadata is None and after["B.JPG"].has_metadata is None

        probed.clear()
        second = cache.ensure_metadata_flags(library)
        assert sorted(probed) == ["2023/added.jpg", "B.JPG", "a.jpg"]  # only what changed is read again
        assert second.cached == len(after) - 3
        assert cache.scan(library, refresh=True).added == 0


def test_refresh_with_nothing_changed_writes_nothing(library: Path) -> None:
    with ScanCache() as cache:
        cache.scan(library)
        cache.ensure_dimensions(library)
        result = cache.scan(library, refresh=True)
        assert (result.added, result.removed, result.changed) == (0, 0, 0)
        assert all(e.width == 8 for e in cache.query(library) if not e.is_raw)


def test_follow_symlinks_setting_change_triggers_a_walk(library: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    image(outside / "o.jpg")
    (library / "ext").symlink_to(outside)
    with ScanCache() as cache:
        assert cache.scan(library).symlinks_skipped == 1
        followed = cache.scan(library, follow_symlinks=True)
        assert not followed.from_cache and followed.follow_symlinks
        assert "ext/o.jpg" in listing(cache, library)
        assert cache.scan(library, follow_symlinks=True).from_cache


def test_progress_reports_and_can_cancel_without_touching_the_cache(library: Path) -> None:
    seen: list[ScanProgress] = []
    with ScanCache() as cache:
        cache.scan(library, progress=seen.append)
        assert seen and seen[-1].files == len(EXPECTED) and seen[-1].bytes > 0
        image(library / "late.jpg")

        def cancel(p: ScanProgress) -> None:
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            cache.scan(library, refresh=True, progress=cancel)
        assert listing(cache, library) == EXPECTED  # rolled back: the previous listing stands
        assert cache.scan(library, refresh=True).added == 1


def test_queries_during_a_walk_see_the_last_committed_listing_without_waiting(library: Path) -> None:
    with ScanCache() as cache:
        cache.scan(library)
        image(library / "new.jpg")
        seen: list[set[str]] = []

        def query_from_another_thread(p: ScanProgress) -> None:
            worker = threading.Thread(target=lambda: seen.append(listing(cache, library)))
            worker.start()
            worker.join(timeout=30)  # a walk holding the shared connection would block this thread forever
            assert not worker.is_alive()

        result = cache.scan(library, refresh=True, progress=query_from_another_thread)
        assert result.added == 1
        assert seen and all(s == EXPECTED for s in seen)  # mid-walk: the previous listing, not half of the new one
        assert listing(cache, library) == EXPECTED | {"new.jpg"}


# ---- bad input --------------------------------------------------------------------------------------------------


def test_missing_root_and_file_root_are_clear_errors(tmp_path: Path) -> None:
    with ScanCache() as cache:
        with pytest.raises(ScanError, match="no such directory"):
            cache.scan(tmp_path / "nope")
        image(tmp_path / "f.jpg")
        with pytest.raises(ScanError, match="is a file, not a directory"):
            cache.scan(tmp_path / "f.jpg")
        with pytest.raises(ScanError, match="no cached listing: scan it first"):
            cache.query(tmp_path / "never")


SCAN_AS_NOBODY = """
import json, os, sys
from imageworks.scan import ScanCache  # imported (not used) before dropping privileges: root owns the interpreter
if os.geteuid() == 0:
    os.setgid(65534)
    os.setuid(65534)
db, root, engine = sys.argv[1:]
with ScanCache(db, walker=engine) as cache:
    result = cache.scan(root).to_dict()
    result["listing"] = sorted(e.relpath for e in cache.query(root))
print(json.dumps(result))
"""


def scan_without_privileges(db: Path, root: Path, engine: str) -> dict[str, Any]:
    """Scan in a fresh interpreter that, under root, drops to nobody first (root reads 0o000 dirs regardless)."""
    proc = subprocess.run(
        [sys.executable, "-c", SCAN_AS_NOBODY, str(db), str(root), engine],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture
def shared_tmp() -> Any:
    """A temp dir another user can enter (pytest's tmp_path is 0700 under root)."""
    path = Path(tempfile.mkdtemp(prefix="iw-scan-"))
    path.chmod(0o755)
    yield path
    for p in path.rglob("*"):
        if p.is_dir() and not p.is_symlink():
            p.chmod(0o755)
    subprocess.run(["rm", "-rf", str(path)], check=False)


@pytest.mark.parametrize("engine", ENGINES)
def test_unreadable_subdirs_are_skipped_counted_and_reported(shared_tmp: Path, engine: str) -> None:
    root = shared_tmp / "lib"
    image(root / "ok.jpg")
    image(root / "locked" / "secret.jpg")
    image(root / "locked" / "inner" / "deeper.jpg")
    image(root / "noexec" / "x.jpg")
    (root / "locked").chmod(0o000)
    (root / "noexec").chmod(0o644)  # listable, but its entries can't be stat'ed
    for p in (root, root / "ok.jpg"):
        p.chmod(0o755)
    db_dir = shared_tmp / "db"
    db_dir.mkdir()
    if os.geteuid() == 0:
        os.chown(db_dir, 65534, 65534)

    result = scan_without_privileges(db_dir / "scan.sqlite3", root, engine)
    assert result["listing"] == ["ok.jpg"]
    assert result["skipped_dirs"] == 2
    messages = "\n".join(result["errors"])
    assert "locked/: permission denied (directory skipped)" in messages
    assert "noexec/: permission denied for 1 entries (skipped)" in messages


@pytest.mark.parametrize("engine", ENGINES)
def test_symlink_loops_never_loop_and_links_are_followed_only_when_asked(library: Path, engine: str) -> None:
    (library / "2023" / "deep" / "up").symlink_to("../..")  # a loop back to the root
    (library / "self").symlink_to("self")  # ELOOP
    (library / "dangling.jpg").symlink_to("missing.jpg")
    (library / "alias.jpg").symlink_to("a.jpg")
    with ScanCache(walker=engine) as cache:
        plain = cache.scan(library)
        assert listing(cache, library) == EXPECTED
        assert plain.symlinks_skipped == 4 and plain.error_count == 0
        followed = cache.scan(library, follow_symlinks=True)
        # the loop is walked zero times, the file alias is the same file, so nothing is listed twice
        assert listing(cache, library) == EXPECTED
        assert followed.symlinks_skipped == 1  # the loop
        messages = "\n".join(followed.errors)
        assert "dangling.jpg: broken symlink (skipped)" in messages
        assert "self: symlink not followed" in messages


@pytest.mark.parametrize("engine", ENGINES)
def test_non_utf8_names_round_trip_exactly(tmp_path: Path, engine: str) -> None:
    root = os.fsencode(tmp_path / "lib")
    names = [b"caf\xe9.jpg", b"d\xff/inner.png", b"ok/n\xffn.jpg", b"ok/plain.jpg"]
    for name in names:
        image(root + b"/" + name)
    tagged = image(tmp_path / "tagged.jpg")
    tag(tagged, **{"Xmp.dc.subject": ["x"]})  # pyexiv2 can't open undecodable names itself: tag, then rename
    os.replace(tagged, root + b"/caf\xe9.jpg")
    with ScanCache(walker=engine) as cache:
        result = cache.scan(os.fsdecode(root))
        assert result.files == 4 and result.error_count == 0
        entries = cache.query(os.fsdecode(root))
        assert sorted(os.fsencode(e.relpath) for e in entries) == sorted(names)
        for e in entries:
            assert os.path.getsize(e.path) == e.size  # the path opens the very file
        assert cache.scan(os.fsdecode(root), refresh=True).changed == 0  # DB keys round-trip too
        [cafe] = cache.query(os.fsdecode(root), ScanFilter(name_glob="CAF*"))
        assert os.fsencode(cafe.relpath) == b"caf\xe9.jpg"
        probe = cache.ensure_metadata_flags(os.fsdecode(root))
        assert probe.errors == ()
        assert {os.fsencode(e.relpath): e.has_metadata for e in probe.entries}[b"caf\xe9.jpg"] is True


@pytest.mark.parametrize("engine", ENGINES)
def test_a_root_that_is_not_utf8_or_is_a_symlink(tmp_path: Path, engine: str) -> None:
    weird_root = os.fsencode(tmp_path) + b"/Fotos \xe9t\xe9"
    image(weird_root + b"/sub/x.jpg")
    (tmp_path / "via-link").symlink_to(os.fsdecode(weird_root))
    with ScanCache(walker=engine) as cache:
        direct = cache.scan(os.fsdecode(weird_root))
        [entry] = cache.query(os.fsdecode(weird_root))
        assert direct.files == 1 and os.fsencode(entry.path) == weird_root + b"/sub/x.jpg"
        assert cache.scan(os.fsdecode(weird_root)).from_cache  # the BLOB-stored root key is found again
        linked = cache.scan(tmp_path / "via-link")  # a root given through a symlink is walked (and keyed) as given
        assert linked.files == 1 and linked.root == str(tmp_path / "via-link")


def test_files_vanishing_during_a_scan_leave_a_consistent_listing(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    doomed = []
    for d in range(8):
        for f in range(5):
            path = image(root / f"d{d}" / f"f{f}.jpg") if f == 0 else root / f"d{d}" / f"f{f}.jpg"
            if f:
                path.write_bytes(b"\xff\xd8\xff" + bytes(f))
                doomed.append(path)
    kept = {f"d{d}/f0.jpg" for d in range(8)}

    def delete_some(p: ScanProgress) -> None:
        for path in doomed:
            path.unlink(missing_ok=True)

    with ScanCache(walker="python") as cache:
        result = cache.scan(root, progress=delete_some)
        got = listing(cache, root)
        assert kept <= got <= kept | {str(p.relative_to(root)) for p in doomed}
        assert result.files == len(got) == cache.count(root)
        assert cache.scan(root, refresh=True).files == len(kept)


def test_empty_and_text_jpgs_are_counted_and_explained(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("this is not a photo\n")
    image(tmp_path / "good.jpg")
    with ScanCache() as cache:
        result = cache.scan(tmp_path)
        assert result.files == 3 and result.empty_files == 1
        probe = cache.ensure_metadata_flags(tmp_path)
        assert probe.probed == 3 and len(probe.errors) == 2
        by_name = {e.relpath: e for e in probe.entries}
        assert by_name["empty.jpg"].problem == "empty file (0 bytes)"
        assert (by_name["text.jpg"].problem or "").startswith("not an image: text")
        assert by_name["text.jpg"].has_metadata is None and by_name["good.jpg"].has_metadata is False
        again = cache.ensure_metadata_flags(tmp_path)
        # failures are cached too, until the file changes
        assert (again.probed, again.cached, again.errors) == (0, 3, ())
        dims = cache.ensure_dimensions(tmp_path)
        assert {e.relpath: (e.width, e.height) for e in dims.entries} == {
            "empty.jpg": (None, None),
            "good.jpg": (8, 6),
            "text.jpg": (None, None),
        }
        assert len(dims.errors) == 2


# ---- lazy probes ------------------------------------------------------------------------------------------------


def test_metadata_probe_reads_xmp_iptc_and_raw_sidecars(tmp_path: Path) -> None:
    tag(image(tmp_path / "subject.jpg"), **{"Xmp.dc.subject": ["beach", "sea"]})
    tag(image(tmp_path / "title.png"), **{"Xmp.dc.title": {'lang="x-default"': "At the beach"}})
    tag(image(tmp_path / "desc.webp"), **{"Xmp.dc.description": {'lang="x-default"': "Waves"}})
    with pyexiv2.Image(str(image(tmp_path / "iptc.tif"))) as img:
        img.modify_iptc({"Iptc.Application2.Keywords": ["kw"]})
    with pyexiv2.Image(str(image(tmp_path / "caption.jpg"))) as img:
        img.modify_iptc({"Iptc.Application2.Caption": "A caption"})
    tag(image(tmp_path / "other_xmp.jpg"), **{"Xmp.xmp.Rating": "3"})  # XMP, but no text we count
    image(tmp_path / "bare.jpg")
    tag(image(tmp_path / "embedded.dng", fmt="TIFF"), **{"Xmp.dc.subject": ["raw"]})  # DNG is TIFF-based
    (tmp_path / "IMG_2.NEF").write_bytes(b"garbage raw")
    (tmp_path / "IMG_2.xmp").write_text(XMP_SIDECAR)
    (tmp_path / "IMG_3.cr2").write_bytes(b"garbage raw")
    (tmp_path / "IMG_3.cr2.xmp").write_text(XMP_SIDECAR)  # darktable's naming
    (tmp_path / "IMG_4.arw").write_bytes(b"garbage raw")  # no sidecar: the RAW itself is unreadable
    with ScanCache() as cache:
        cache.scan(tmp_path)
        probe = cache.ensure_metadata_flags(tmp_path)
        flags = {e.relpath: e.has_metadata for e in probe.entries}
        assert flags == {
            "subject.jpg": True,
            "title.png": True,
            "desc.webp": True,
            "iptc.tif": True,
            "caption.jpg": True,
            "other_xmp.jpg": False,
            "bare.jpg": False,
            "embedded.dng": True,
            "IMG_2.NEF": True,
            "IMG_3.cr2": True,
            "IMG_4.arw": None,
        }
        assert [e.split(":")[0] for e in probe.errors] == ["IMG_4.arw"]
        assert "exiv2 cannot read its metadata" in probe.errors[0]
        assert cache.count(tmp_path, ScanFilter(has_metadata=True)) == 8
        assert cache.count(tmp_path, ScanFilter(has_metadata=False)) == 2

        # a sidecar appearing later is noticed although the RAW file itself did not change
        (tmp_path / "IMG_4.xmp").write_text(XMP_SIDECAR)
        later = cache.ensure_metadata_flags(tmp_path, ["IMG_4.arw", "bare.jpg"])
        assert later.probed == 1 and later.cached == 1
        assert [e.has_metadata for e in later.entries] == [True, False]


def test_probe_of_a_subset_unknown_and_vanished_entries(library: Path) -> None:
    with ScanCache() as cache:
        cache.scan(library)
        [entry] = cache.query(library, ScanFilter(name_glob="a.jpg"))
        (library / "B.JPG").unlink()
        result = cache.ensure_metadata_flags(library, [entry, "B.JPG", "nope.jpg"])
        assert [e.relpath for e in result.entries] == ["a.jpg", "B.JPG"]
        assert result.entries[0].has_metadata is False and result.entries[1].has_metadata is None
        assert set(result.errors) == {
            "B.JPG: vanished since the scan (scan again to drop it)",
            f"nope.jpg: not in the cached listing of {library} (scan again)",
        }


def test_an_injected_probe_that_raises_gives_one_line_not_a_traceback(library: Path) -> None:
    def broken(path: str) -> bool:
        raise KeyError("no keywords attribute")

    with ScanCache(metadata_probe=broken) as cache:
        cache.scan(library)
        result = cache.ensure_metadata_flags(library, ["a.jpg"])
        assert result.errors == ("a.jpg: KeyError: 'no keywords attribute'",)


# ---- the cache file ---------------------------------------------------------------------------------------------


def test_garbage_cache_file_is_moved_aside_and_rebuilt(library: Path) -> None:
    db = paths.scan_db()
    db.write_bytes(b"this is not sqlite" * 100)
    with ScanCache() as cache:
        assert any("corrupt" in w and "moved to" in w for w in cache.warnings)
        assert cache.scan(library).files == len(EXPECTED)
    assert [p.name for p in db.parent.glob("scan.sqlite3.broken-*")]


def test_newer_schema_is_moved_aside_not_used(library: Path) -> None:
    from imageworks.scan import store

    db = paths.scan_db()
    with sqlite3.connect(db) as con:
        con.execute("PRAGMA user_version = 99")
    with ScanCache() as cache:
        assert any(f"newer ImageWorks (schema 99 > {store.SCHEMA_VERSION})" in w for w in cache.warnings)
        cache.scan(library)
    assert list(db.parent.glob("scan.sqlite3.broken-*"))


def test_a_second_opener_of_a_new_cache_never_wipes_the_first_ones_scan(library: Path) -> None:
    # two openers of a new cache file (two worker threads of the TUI, or the CLI and the TUI) both read schema 0;
    # the first creates the tables and scans, holding the write lock; the second, waiting on that lock, must find
    # the schema made and keep the listing (it used to drop and recreate every table)
    from imageworks.scan import store
    from imageworks.schema import migrate

    db = paths.scan_db()
    with ScanCache() as first:
        first.scan(library)
        late = store.connect(str(db))
        try:  # what the second opener runs (the stale read itself: tests/test_schema.py)
            assert migrate(late, store.MIGRATIONS, str(db)) == store.SCHEMA_VERSION
        finally:
            late.close()
        assert listing(first, library) == EXPECTED
    with ScanCache() as again:
        assert again.scan(library).from_cache


def test_corruption_found_mid_use_is_recovered(library: Path, tmp_path: Path) -> None:
    for i in range(300):  # enough rows for several b-tree pages
        (library / "many").mkdir(exist_ok=True)
        (library / "many" / f"f{i:03d}_{'x' * 60}.jpg").write_bytes(b"\xff\xd8\xff")
    with ScanCache() as cache:
        cache.scan(library)
        db = cache.db_path
        cache._con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = cache._con.execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(db.read_bytes())
    assert len(data) > 6 * page
    data[2 * page : len(data) - page] = b"\xa5" * (len(data) - 3 * page)  # smash interior pages, keep the header
    db.write_bytes(bytes(data))
    with ScanCache() as cache:
        result = cache.scan(library, refresh=True)
        assert result.files == len(EXPECTED) + 300
        assert any("corrupt" in w for w in cache.warnings)


def test_an_unwritable_cache_location_falls_back_to_memory(library: Path, tmp_path: Path) -> None:
    (tmp_path / "not-a-dir").write_text("a file where the cache dir should be")
    with ScanCache(tmp_path / "not-a-dir" / "scan.sqlite3") as cache:
        assert any("using an in-memory cache" in w for w in cache.warnings)
        assert cache.scan(library).files == len(EXPECTED)
        assert cache.scan(library).from_cache


def test_clear_one_root_or_all(library: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    image(other / "x.jpg")
    with ScanCache() as cache:
        cache.scan(library)
        cache.scan(other)
        assert cache.clear(library) == 1
        assert cache.clear(library) == 0
        with pytest.raises(ScanError):
            cache.query(library)
        assert cache.count(other) == 1
        assert not cache.scan(library).from_cache
        assert cache.clear() == 2
        with pytest.raises(ScanError):
            cache.count(other)


def test_importing_the_scan_module_stays_light() -> None:
    code = "import imageworks.scan, sys, json; print(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    loaded = set(json.loads(out))
    assert not loaded & {"textual", "torch", "PIL", "pyexiv2", "rich"}
