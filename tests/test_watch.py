"""The daemon watches the libraries it scanned: adds, removes, renames and in-place rewrites reach the scan cache (the
daemon writes it) and a ``library`` event, a refresh of a watched root is answered from the cache, and a root that
cannot be watched says so in status and walks on refresh. A real daemon, real inotify, real files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from imageworks import client
from imageworks import protocol as P
from imageworks.cli import main
from imageworks.daemon.watch_checks import count_dirs, filesystem_of, why_it_failed, why_not_watched
from imageworks.jobs.records import ScanRecord
from imageworks.scan import ScanCache, ScanFilter, mtime_ns_of
from imageworks.scan.job import scan_params
from tests.waiting import wait_for

pytestmark = pytest.mark.timeout(120)


def jpeg(path: Path, shade: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 6), (shade % 256, 0, 0)).save(path)
    return path


@pytest.fixture
def lib(tmp_path: Path) -> Path:
    root = tmp_path / "lib"
    for i in range(3):
        jpeg(root / f"p{i}.jpg", i * 40)
    jpeg(root / "2025" / "a.jpg")
    return root


def scan(
    c: client.Client, root: Path, *, refresh: bool = True, probe: ScanFilter | None = None, follow: bool = False
) -> ScanRecord:
    params = scan_params(str(root), ttl=600, refresh=refresh, follow_symlinks=follow, probe=probe)
    job = c.submit("scan", [], params).job
    # to the job's end, not just its record: a scan asked for while this one is still finishing would join it
    [record] = [e.record for e in c.follow(job.job_id) if isinstance(e, P.ResultRecord)]
    assert isinstance(record, ScanRecord) and record.status == "ok", record
    return record


def watch_of(c: client.Client, root: Path) -> P.LibraryWatch | None:
    return next((w for w in c.status().watches if w.root == str(root)), None)


def wait_watching(c: client.Client, root: Path, state: str = "watching") -> P.LibraryWatch:
    def ready() -> P.LibraryWatch | None:
        w = watch_of(c, root)
        return w if w is not None and w.state == state else None

    found = wait_for(ready, timeout=30, what=f"{root} to be {state}")
    assert found is not None
    return found


def rows(root: Path) -> dict[str, tuple[int, int]]:
    with ScanCache(read_only=True) as cache:
        return {e.relpath: (e.size, e.mtime_ns) for e in cache.query(root)}


def next_event(events: Iterator[P.LibraryChanged], root: Path, what: str) -> P.LibraryChanged:
    """The next library event for ``root`` (the subscription's idle timeout bounds the wait)."""
    for event in events:
        if event.root == str(root):
            return event
    raise AssertionError(f"no library event for {what}")


@pytest.fixture
def watched(start_daemon, lib: Path) -> Iterator[tuple[client.Client, Iterator[P.LibraryChanged]]]:
    start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS="1")
    with client.Client("test") as c:
        events = c.library_events(idle_timeout=20)
        scan(c, lib)
        wait_watching(c, lib)
        yield c, events
        events.close()


def test_a_new_photo_reaches_the_cache_and_a_library_event(watched, lib: Path) -> None:
    c, events = watched
    jpeg(lib / "2025" / "new.jpg", 7)
    event = next_event(events, lib, "a new photo")
    assert (event.added, event.changed, event.removed) == (1, 0, 0)
    assert event.paths == [str(lib / "2025" / "new.jpg")]
    assert "2025/new.jpg" in rows(lib) and len(rows(lib)) == 5
    assert watch_of(c, lib).changes == 1  # type: ignore[union-attr]


def test_a_refresh_right_after_a_change_waits_for_the_watch_and_sees_it(watched, lib: Path) -> None:
    c, _events = watched
    for i in range(5):
        jpeg(lib / f"quick{i}.jpg")
        record = scan(c, lib)  # no wait for the event: the daemon lets the watch catch up before it answers
        assert record.from_cache and record.files == 5 + i, record


def test_a_photo_rewritten_in_place_has_its_probe_redone(watched, lib: Path) -> None:
    c, events = watched
    assert scan(c, lib, probe=ScanFilter()).probed == 4  # a refresh of a watched root: no walk, the probe read
    with ScanCache(read_only=True) as cache:
        assert {e.relpath: e.has_metadata for e in cache.query(lib)}["p1.jpg"] is False
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-Caption-Abstract=x", str(lib / "p1.jpg")], check=True)
    event = next_event(events, lib, "the rewrite")
    assert event.changed == 1 and str(lib / "p1.jpg") in event.paths
    with ScanCache(read_only=True) as cache:
        assert {e.relpath: e.has_metadata for e in cache.query(lib)}["p1.jpg"] is None  # the old answer dropped
    again = scan(c, lib, probe=ScanFilter())
    assert again.from_cache and again.probed == 1  # only the rewritten file is read again
    with ScanCache(read_only=True) as cache:
        assert {e.relpath: e.has_metadata for e in cache.query(lib)}["p1.jpg"] is True


def test_removes_and_renames_of_files_and_folders(watched, lib: Path) -> None:
    c, events = watched
    (lib / "p0.jpg").unlink()
    event = next_event(events, lib, "a removal")
    assert event.removed == 1 and "p0.jpg" not in rows(lib)
    (lib / "p1.jpg").rename(lib / "renamed.jpg")
    wait_for(lambda: set(rows(lib)) == {"renamed.jpg", "p2.jpg", "2025/a.jpg"}, what="the rename in the cache")
    (lib / "2025").rename(lib / "2026")
    wait_for(lambda: set(rows(lib)) == {"renamed.jpg", "p2.jpg", "2026/a.jpg"}, what="the folder rename")
    shutil.rmtree(lib / "2026")
    wait_for(lambda: set(rows(lib)) == {"renamed.jpg", "p2.jpg"}, what="the folder removal")
    moved_in = jpeg(lib.parent / "outside" / "deep" / "x.jpg")
    (lib.parent / "outside").rename(lib / "inside")  # a folder moved in brings its files: no event names them
    wait_for(lambda: "inside/deep/x.jpg" in rows(lib), what="a folder moved in")
    assert not moved_in.exists()
    walked = scan(c, lib)
    assert walked.from_cache and walked.files == 3  # watched: answered from the cache, which is right


def on_disk(root: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(root).as_posix(): (p.stat().st_size, mtime_ns_of(p.stat())) for p in root.rglob("*.jpg")}


def test_a_burst_of_files_added_then_removed_leaves_the_cache_consistent(watched, lib: Path) -> None:
    c, _events = watched
    n = 10_000
    burst = lib / "burst"
    burst.mkdir()
    for i in range(n):
        jpeg(burst / f"b{i:05}.jpg", i)
    wait_for(lambda: len(rows(lib)) == n + 4, timeout=60, what=f"{n} new rows", progress=lambda: len(rows(lib)))
    wait_for(lambda: rows(lib) == on_disk(lib), what="every row as the disk has it")  # a file caught half-written too
    for f in burst.iterdir():
        f.unlink()
    wait_for(lambda: len(rows(lib)) == 4, timeout=60, what="the rows removed", progress=lambda: len(rows(lib)))
    assert rows(lib) == on_disk(lib)
    with ScanCache(read_only=True) as cache:
        assert cache.totals(lib) == (4, sum(size for size, _ in on_disk(lib).values()))

    # the set-up's walk, then one once a burst big enough to have overflowed the kernel's queue is over (the removal
    # of 10 000 files is one; the writes may be one with it, or several)
    def walked() -> P.LibraryWatch | None:
        w = watch_of(c, lib)
        return w if w is not None and w.walks >= 2 else None

    w = wait_for(walked, what="a walk after the bursts")
    assert w is not None and w.changes >= 2 * n  # (and the updates of files caught half-written)


def test_a_root_over_the_watch_limit_falls_back_and_status_says_why(start_daemon, lib: Path) -> None:
    start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS="1", IMAGEWORKS_SCAN_MAX_WATCHES="1")
    with client.Client("test") as c:
        scan(c, lib)
        w = wait_watching(c, lib, "not watched")
        assert "more than scan.max_watches (1)" in w.reason and "refreshes rescan" in w.reason
        jpeg(lib / "late.jpg")
        again = scan(c, lib)
        assert not again.from_cache and again.added == 1  # the refresh walks
    out = CliRunner().invoke(main, ["daemon", "status"])
    assert f"library {lib}: not watched: 2+ folders, more than scan.max_watches (1)" in out.output
    data = json.loads(CliRunner().invoke(main, ["daemon", "status", "--json"]).output)
    assert data["watches"][0]["root"] == str(lib) and data["watches"][0]["state"] == "not watched"


def test_with_watch_libraries_off_nothing_is_watched_and_refreshes_walk(start_daemon, lib: Path) -> None:
    start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS="1", IMAGEWORKS_SCAN_WATCH_LIBRARIES="false")
    with client.Client("test") as c:
        scan(c, lib)
        assert watch_of(c, lib) == P.LibraryWatch(
            root=str(lib), state="not watched", reason="scan.watch_libraries is off; refreshes rescan"
        )
        jpeg(lib / "late.jpg")
        again = scan(c, lib)
        assert not again.from_cache and again.added == 1


def test_a_restarted_daemon_walks_a_known_root_once_then_trusts_its_watch(start_daemon, lib: Path) -> None:
    first = start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS="1")
    with client.Client("test") as c:
        scan(c, lib)
        wait_watching(c, lib)
    first.stop()
    jpeg(lib / "while_down.jpg")  # nobody watches
    start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS="1")
    with client.Client("test") as c:
        w = wait_watching(c, lib, "refresh needed")
        assert "while the daemon was not watching" in w.reason
        walked = scan(c, lib)
        assert not walked.from_cache and walked.added == 1
        wait_watching(c, lib)
        assert scan(c, lib).from_cache  # now watched: the refresh needs no walk
        os.utime(lib / "p2.jpg", ns=(1, 1))
        wait_for(lambda: rows(lib)["p2.jpg"][1] == 1, what="the touched file's new mtime")


def test_a_scan_that_follows_symlinks_ends_the_watch(watched, lib: Path, tmp_path: Path) -> None:
    c, _events = watched
    jpeg(tmp_path / "elsewhere" / "linked.jpg")
    (lib / "link").symlink_to(tmp_path / "elsewhere")
    followed = scan(c, lib, follow=True)
    assert not followed.from_cache and followed.files == 5  # another listing: walked
    w = wait_watching(c, lib, "not watched")
    assert "follows symlinks" in w.reason
    jpeg(tmp_path / "elsewhere" / "later.jpg")  # behind the link: no watch could see it
    again = scan(c, lib, follow=True)
    assert not again.from_cache and again.files == 6  # the refresh walks


def test_a_cleared_listing_is_no_longer_watched_and_a_deleted_root_says_so(watched, lib: Path, tmp_path: Path) -> None:
    c, _events = watched
    other = tmp_path / "other"
    jpeg(other / "o.jpg")
    scan(c, other)
    wait_watching(c, other)
    assert c.scan_clear(str(lib)).roots == 1
    assert [w.root for w in c.status().watches] == [str(other)]
    shutil.rmtree(other)
    w = wait_watching(c, other, "not watched")
    assert w.reason.startswith("the folder is gone")


MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:35 / /mnt/photos rw,relatime shared:20 - nfs4 server:/export/photos rw,vers=4.2
41 40 0:36 / /mnt/photos/local\\040disk rw,relatime - ext4 /dev/sdb1 rw
"""


def test_the_filesystem_of_a_root_is_its_deepest_mount() -> None:
    assert filesystem_of("/home/me/Pictures", MOUNTINFO) == "ext4"
    assert filesystem_of("/mnt/photos/2025", MOUNTINFO) == "nfs4"
    assert filesystem_of("/mnt/photos", MOUNTINFO) == "nfs4"
    assert filesystem_of("/mnt/photosphere", MOUNTINFO) == "ext4"  # a longer name is not under the mount
    assert filesystem_of("/mnt/photos/local disk/x", MOUNTINFO) == "ext4"  # \\040: a space in the mount point
    assert filesystem_of("/x", "garbage\n") == ""


def test_why_a_root_is_not_watched(tmp_path: Path) -> None:
    for rel in ("a/b/c", "a/d", "e"):
        (tmp_path / rel).mkdir(parents=True)
    assert count_dirs(str(tmp_path), 100) == 6  # the root, a, a/b, a/b/c, a/d, e
    assert count_dirs(str(tmp_path), 2) == 3  # stops counting past the limit
    assert why_not_watched(str(tmp_path), False, 0) == ""
    assert why_not_watched(str(tmp_path), False, 6) == ""
    assert why_not_watched(str(tmp_path), False, 5) == "6+ folders, more than scan.max_watches (5)"
    assert "follows symlinks" in why_not_watched(str(tmp_path), True, 0)


def test_the_inotify_limit_is_named_when_a_watch_fails() -> None:
    # what watchfiles raises when notify's inotify backend meets ENOSPC at set-up (an OSError), and later (its own)
    setup = OSError('OS file watch limit reached. about ["/photos"] (Error { kind: MaxFilesWatch, paths: [] })')
    later = RuntimeError('error in underlying watcher: OS file watch limit reached. about ["/photos/new"]')
    for exc in (setup, later, OSError(28, "No space left on device")):
        assert why_it_failed(exc).startswith("the system's limit of watched folders is reached"), exc
    assert why_it_failed(PermissionError(13, "Permission denied")) == "cannot watch: [Errno 13] Permission denied"


def test_the_daemon_watches_a_bounded_number_of_roots_the_latest_first(monkeypatch, tmp_path: Path) -> None:
    import asyncio
    import itertools

    from imageworks.config import ScanConfig
    from imageworks.daemon import watch as watch_module

    monkeypatch.setattr(watch_module, "MAX_ROOTS", 1)
    older, newer = jpeg(tmp_path / "older" / "a.jpg").parent, jpeg(tmp_path / "newer" / "b.jpg").parent
    ticks = itertools.count(1000, 1000)
    with ScanCache(clock=lambda: float(next(ticks))) as cache:  # two roots a daemon scanned, newer last
        cache.scan(older)
        cache.scan(newer)
    loop = asyncio.new_event_loop()
    watches = watch_module.LibraryWatches(ScanConfig(), lambda event: None, loop)  # resumes the cached roots
    try:

        def settled() -> list[P.LibraryWatch] | None:
            views = watches.views()  # by root: newer, older
            return views if len(views) == 2 and views[0].state == "refresh needed" else None

        views = wait_for(settled, what="the newer root watched")
        assert views is not None
        assert [(v.root, v.state) for v in views] == [(str(newer), "refresh needed"), (str(older), "not watched")]
        assert "watches 1 libraries already" in views[1].reason
    finally:
        watches.stop()
        loop.close()


def test_a_name_that_is_not_utf8_keeps_the_root_watched(watched, lib: Path) -> None:
    """watchfiles gives up a whole watch on the first event for such a name: the daemon watches again and walks once
    (the walker reads the name), so that file and every later change reach the cache, and the root stays watched."""
    c, events = watched
    with open(os.path.join(os.fsencode(lib), b"caf\xe9.jpg"), "wb") as fh:
        fh.write((lib / "p0.jpg").read_bytes())
    event = next_event(events, lib, "the catch-up walk after the odd name")
    assert event.added == 1
    assert "caf\udce9.jpg" in rows(lib)
    wait_watching(c, lib)
    jpeg(lib / "after.jpg", 9)  # the new watch reports the next change
    assert next_event(events, lib, "a photo after the restart").paths == [str(lib / "after.jpg")]
    record = scan(c, lib)
    assert record.from_cache and record.files == 6  # trusted again: answered without a walk


def test_a_similar_job_lists_a_watched_root_from_the_cache_without_a_walk(watched, lib: Path) -> None:
    """A similar job refreshes its folder's listing as a scan job does: a watched root's rows are current (the daemon
    lets its watch settle before it queues the job), so they are read, not walked again."""
    from imageworks import config
    from imageworks.jobs.records import SimilarOutcome
    from imageworks.similarity.jobs import similar_params
    from tests.job_support import follow_to_end

    c, _events = watched
    with ScanCache(read_only=True) as cache:
        walked = cache.fresh(lib, ttl=10**9)
    assert walked is not None
    jpeg(lib / "2025" / "late.jpg", 5)  # no wait for its event: the submit settles the watch first
    params = similar_params(str(lib), settings=config.SimilarityConfig(), refresh=True)
    final, _ = follow_to_end(c, c.submit("similar", [], params).job.job_id)
    assert final.state == "done" and isinstance(final.outcome, SimilarOutcome)
    assert final.outcome.images == 5  # the photo added just before is in it
    with ScanCache(read_only=True) as cache:
        after = cache.fresh(lib, ttl=10**9)
    assert after is not None and after.scanned_at == walked.scanned_at  # no walk since the watch's own


def inotify_instances(pid: int) -> int:
    fds = Path(f"/proc/{pid}/fd")
    return sum(1 for fd in fds.iterdir() if "inotify" in os.readlink(fd))


def test_a_folder_inside_a_watched_library_shares_its_watch_and_gets_its_own_when_that_one_ends(
    watched, lib: Path
) -> None:
    c, events = watched
    pid = c.status().pid
    instances = inotify_instances(pid)
    inner = lib / "2025"
    scan(c, inner)
    assert wait_watching(c, inner).reason == f"inside the watched library {lib}"
    assert inotify_instances(pid) == instances  # no second watch of the same folders

    jpeg(inner / "new.jpg", 9)
    assert next_event(events, inner, "a new photo inside").paths == [str(inner / "new.jpg")]
    assert "new.jpg" in rows(inner) and "2025/new.jpg" in rows(lib)  # both listings hold it
    record = scan(c, inner)
    assert record.from_cache and record.files == 2, record  # answered from the cache: its watch is trusted

    assert c.scan_clear(str(lib)).roots == 1  # the library's watch ends: the folder gets one of its own
    wait_for(lambda: (w := watch_of(c, inner)) is not None and w.state == "watching" and not w.reason, timeout=30)
    assert inotify_instances(pid) == instances
    (inner / "new.jpg").unlink()
    assert next_event(events, inner, "a photo removed").removed == 1
    assert "new.jpg" not in rows(inner)


def test_a_restarted_daemon_watches_a_library_and_a_folder_inside_it_once(start_daemon, lib: Path) -> None:
    inner = lib / "2025"
    first = start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS="1")
    with client.Client("test") as c:
        scan(c, inner)  # the folder first, then the library that holds it: the folder joins the library's watch
        wait_watching(c, inner)
        scan(c, lib)
        wait_for(lambda: (w := watch_of(c, inner)) is not None and w.reason.startswith("inside"), timeout=30)
    first.stop()
    jpeg(inner / "while_down.jpg")
    daemon = start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS="1")
    with client.Client("test") as c:
        wait_watching(c, lib, "refresh needed")
        wait_watching(c, inner, "refresh needed")
        assert inotify_instances(daemon.pid) == 1  # the library's watch sees the folder's changes too
        walked = scan(c, inner)
        assert not walked.from_cache and walked.added == 1
        wait_watching(c, inner)
        jpeg(inner / "after.jpg")
        wait_for(lambda: "after.jpg" in rows(inner), what="the new photo in the folder's rows")
        assert scan(c, inner).from_cache
