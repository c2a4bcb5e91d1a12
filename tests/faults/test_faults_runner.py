"""The runner never dies: a state disk that fills up mid-job pauses that job with the reason, `jobs cancel` still
answers, `daemon status` says the daemon is degraded, and once there is room again new jobs run and the paused one
resumes, without a restart. Nothing lost, nothing duplicated."""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from imageworks import protocol as P
from imageworks.client import Client
from tests.waiting import wait_for

N = 40


@pytest.fixture
def small_state_disk(xdg, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """XDG_STATE_HOME on its own 8 MB tmpfs (needs the right to mount: root, outside a locked-down container)."""
    mount = Path(tempfile.mkdtemp(prefix="iw-tmpfs-"))
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; this fault test does not run here")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here ({done.stderr.decode().strip()}); fault test skipped")
    monkeypatch.setenv("XDG_STATE_HOME", str(mount))
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
        mount.rmdir()


def fill(disk: Path) -> Path:
    """Fill the file system up to its last byte."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for chunk in (65536, 1):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def journal_state(disk: Path, job_id: str) -> str:
    with sqlite3.connect(disk / "imageworks" / "journal.sqlite3") as db:
        return db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()[0]


def test_a_full_state_disk_pauses_the_job_and_the_daemon_recovers_without_a_restart(
    small_state_disk: Path, start_daemon
) -> None:
    start_daemon(IMAGEWORKS_MODEL_NAME="echo:delay=0.05")
    with Client("t", timeout=5) as c:
        first = c.submit("echo", [{"text": f"a{i}"} for i in range(N)], batch_size=2).job.job_id
        queued = c.submit("echo", [{"text": "b"}]).job.job_id
        wait_for(lambda: c.attach(first).job.done >= 4, what="the first results")
        filler = fill(small_state_disk)

        paused = wait_for(
            lambda: (j := c.attach(first).job).state in P.FINAL_STATES and j, what="the job to pause", timeout=30
        )
        assert paused.state == "interrupted"
        assert "state disk is full" in paused.error and f"imageworks jobs resume {first}" in paused.error
        assert "state disk full" in c.status().degraded
        assert c.attach(queued).job.state == "queued"  # waits: the runner does not burn through the queue
        assert c.cancel(queued).state == "cancelled"  # cancel answers although it cannot be written yet
        assert c.attach(queued).job.state == "cancelled"

        filler.unlink()
        wait_for(lambda: c.status().degraded == "", what="the daemon to notice the room", timeout=15)
        assert journal_state(small_state_disk, queued) == "cancelled"  # the kept state was written
        assert journal_state(small_state_disk, first) == "interrupted"

        fresh = c.submit("echo", [{"text": f"c{i}"} for i in range(5)]).job.job_id
        assert [e.state for e in c.follow(fresh) if isinstance(e, P.JobInfo)][-1] == "done"
        c.resume(first)
        assert [e.state for e in c.follow(first) if isinstance(e, P.JobInfo)][-1] == "done"
        results = c.all_results(first)
        assert sorted(r.index for r in results) == list(range(N))  # every item once: none lost, none twice
        assert all(r.status == "ok" and r.record.output == f"echo: a{r.index}" for r in results)
        assert c.attach(first).job.done == N


def test_a_flood_of_the_same_warning_is_logged_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from imageworks.daemon.logs import RateLimitedLog

    limited = RateLimitedLog(logging.getLogger("imageworks.test"), every_s=3600)
    with caplog.at_level(logging.WARNING, logger="imageworks.test"):
        for _ in range(20_000):
            limited.warning("dropped %d-frame message", 1)
    assert [r.getMessage() for r in caplog.records] == ["dropped 1-frame message"]
    limited._last -= 3600  # the interval has passed
    with caplog.at_level(logging.WARNING, logger="imageworks.test"):
        limited.warning("dropped %d-frame message", 2)
    assert caplog.records[-1].getMessage().startswith("dropped 2-frame message (and 19999 more like it")
