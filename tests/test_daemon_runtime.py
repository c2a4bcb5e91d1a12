"""A daemon whose runtime dir is removed under it (systemd-logind at an SSH logout, a /tmp cleaner) makes its files
again and keeps its job; a client that comes first wakes it instead of starting a second daemon; a daemon whose
files another daemon took meanwhile stops and leaves that daemon's files alone. Real daemons, the CLI as a user
runs it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

from imageworks import paths
from imageworks.client import Client
from tests.waiting import wait_for

ECHO_SLOW = "echo:delay=0.02"


def iw(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "imageworks", *args], capture_output=True, text=True, timeout=120)


def daemon_log() -> str:
    return (paths.log_dir() / "daemon.log").read_text(errors="replace")


def test_removed_runtime_files_are_made_again_by_the_same_daemon_which_keeps_its_job(start_daemon, xdg) -> None:
    daemon = start_daemon(ECHO_SLOW, IMAGEWORKS_DAEMON_RUNTIME_CHECK_S="0.2")
    with Client("t") as c:
        job = c.submit("echo", [{"text": f"x{i}"} for i in range(150)], batch_size=2).job
    base = xdg["runtime"]
    ours = base / "imageworks"

    # logged out: the whole runtime dir goes, and (as /run/user/UID until the next login) cannot be made again
    shutil.rmtree(base)
    base.write_text("not a dir")
    wait_for(lambda: "cannot be made again yet" in daemon_log(), what="the daemon to say it waits for its dir")
    assert daemon.proc.poll() is None
    base.unlink()  # logged in again
    wait_for(lambda: (ours / "connection.json").exists(), what="the connection file made again")
    assert stat.S_IMODE(os.stat(ours).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(ours / "connection.json").st_mode) == 0o600
    with Client("t") as c:
        assert c.ping().boot_id == daemon.boot_id  # the same daemon, found through the same paths
        done = wait_for(lambda: (j := c.attach(job.job_id).job).state == "done" and j, timeout=120)
        assert done.done == 150 and done.failed == 0  # its job ran on meanwhile
    again = iw("daemon", "start")
    assert again.returncode != 0 and "already running" in again.stderr, again.stderr


def test_a_client_that_finds_the_files_gone_wakes_the_daemon_instead_of_starting_another(start_daemon, xdg) -> None:
    daemon = start_daemon("echo", IMAGEWORKS_DAEMON_RUNTIME_CHECK_S="3600")  # it would not look for an hour
    shutil.rmtree(xdg["runtime"] / "imageworks")
    status = iw("daemon", "status", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    assert (json.loads(status.stdout)["pid"], json.loads(status.stdout)["boot_id"]) == (daemon.pid, daemon.boot_id)
    assert "made again" in daemon_log()


def test_a_daemon_whose_files_another_daemon_took_stops_and_leaves_them(start_daemon, xdg) -> None:
    old = start_daemon("echo", IMAGEWORKS_DAEMON_RUNTIME_CHECK_S="3600")
    shutil.rmtree(xdg["runtime"] / "imageworks")
    Path(xdg["state"] / "imageworks" / "daemon.json").unlink()  # (else the new daemon's start would wake the old)
    new = start_daemon("echo")  # started while the old one's files were gone: it holds the new lock
    os.kill(old.pid, signal.SIGUSR1)  # what a client sends; the old one would look in an hour anyway
    assert old.proc.wait(timeout=30) == 0
    assert "another daemon (pid " in daemon_log()
    info = json.loads((xdg["runtime"] / "imageworks" / "connection.json").read_text())
    assert info["boot_id"] == new.boot_id  # the old one removed none of the new one's files
    with Client("t") as c:
        assert c.ping().boot_id == new.boot_id
