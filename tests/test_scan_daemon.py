"""The daemon is the scan cache's one writer: `imageworks scan` starts it to walk (saying so), reads a fresh listing
without it, two clients scanning one root at once share one walk, and clients read the cache read-only."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from imageworks import client, paths
from imageworks import protocol as P
from imageworks.cli import main
from imageworks.jobs.records import ScanRecord
from imageworks.scan import ScanCache, ScanError
from imageworks.scan.job import scan_params
from tests.waiting import wait_for


@pytest.fixture
def lib(tmp_path: Path) -> Path:
    root = tmp_path / "lib"
    root.mkdir()
    for i in range(5):
        Image.new("RGB", (8, 6), (i * 40, 0, 0)).save(root / f"p{i}.jpg")
    return root


def stop_started_daemon() -> None:
    """End a daemon the CLI started in the background (the test's fixtures did not start it)."""
    info = client.read_connection()
    if info is None:
        return
    with client.Client("test") as c:
        c.shutdown()
    wait_for(lambda: client.daemon_alive(timeout=0.3) is None, timeout=30, what="the daemon to stop")


def test_scan_starts_the_daemon_to_walk_and_reads_a_fresh_listing_without_it(lib: Path) -> None:
    try:
        first = CliRunner().invoke(main, ["scan", str(lib), "--json"], catch_exceptions=False)
        assert first.exit_code == 0, first.output
        assert first.stderr.startswith("started the daemon (pid ") and json.loads(first.stdout)["files"] == 5
        with client.Client("test") as c:
            jobs = c.jobs()
        assert [(j.kind, j.state, j.params["root"]) for j in jobs] == [("scan", "done", str(lib))]
    finally:
        stop_started_daemon()
    again = CliRunner().invoke(main, ["scan", str(lib), "--json"], catch_exceptions=False)
    assert again.exit_code == 0 and json.loads(again.stdout)["from_cache"] is True
    assert "started the daemon" not in again.stderr and client.daemon_alive(timeout=0.3) is None


def test_two_clients_scanning_one_root_at_once_share_one_walk(start_daemon, lib: Path) -> None:
    start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS="1")
    params = scan_params(str(lib), ttl=600, refresh=True, follow_symlinks=False)
    with client.Client("a") as a, client.Client("b") as b:
        first = a.submit("scan", [], params)
        second = b.submit("scan", [], params)
        assert first.created and not second.created and second.job.job_id == first.job.job_id
        record = next(e for e in a.follow(first.job.job_id) if isinstance(e, P.ResultRecord)).record
    assert isinstance(record, ScanRecord) and record.status == "ok" and record.files == 5


def test_a_bad_root_is_the_scan_jobs_one_line_error(start_daemon, tmp_path: Path) -> None:
    start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS="1")
    with client.Client("a") as c:
        job = c.submit("scan", [], scan_params(str(tmp_path / "gone"), ttl=0, refresh=True, follow_symlinks=False))
        results = [e for e in c.follow(job.job.job_id) if isinstance(e, P.ResultRecord)]
    assert results[0].status == "error" and results[0].record.error == f"{tmp_path / 'gone'}: no such directory"


def test_clients_read_the_cache_read_only(start_daemon, lib: Path) -> None:
    start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS="1")
    assert CliRunner().invoke(main, ["scan", str(lib)]).exit_code == 0
    with ScanCache(read_only=True) as cache:
        assert cache.count(lib) == 5 and cache.fresh(lib) is not None
        with pytest.raises(ScanError, match="read-only"):
            cache.scan(lib)
        with pytest.raises(ScanError):  # SQLite itself refuses the write: the connection is mode=ro
            cache.clear(lib)
    with ScanCache(read_only=True) as cache:
        assert cache.count(lib) == 5
    db = sqlite3.connect(f"file:{paths.scan_db()}?mode=ro", uri=True)
    assert db.execute("SELECT count(*) FROM files").fetchone()[0] == 5


def test_a_read_only_view_opened_before_the_cache_existed_reads_it_once_made(start_daemon, lib: Path) -> None:
    assert not paths.scan_db().exists()
    with ScanCache(read_only=True) as cache:
        with pytest.raises(ScanError, match="no cached listing"):
            cache.count(lib)
        start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS="1")
        assert CliRunner().invoke(main, ["scan", str(lib)]).exit_code == 0
        assert cache.count(lib) == 5
    assert os.path.exists(paths.scan_db())
