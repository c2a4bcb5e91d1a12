"""The CLI's edges: a reader closing the pipe, `jobs export --json`, an auto-started daemon announced, a permission
error named as one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from PIL import Image

from imageworks import client
from imageworks.client import Client
from tests.waiting import wait_for


def iw(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "imageworks", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


def test_a_closed_pipe_exits_quietly(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    for i in range(1500):  # ~100 kB of paths: more than a pipe buffers, so the writer meets the closed pipe
        Image.new("RGB", (2, 2)).save(lib / f"a_photo_with_a_rather_long_name_{i:05d}.png")
    listing = iw("scan", str(lib), "--list")
    assert listing.returncode == 0 and len(listing.stdout.splitlines()) == 1500
    head = subprocess.run(
        ["bash", "-o", "pipefail", "-c", f"{sys.executable} -m imageworks scan {lib} --list | head -n 3"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert head.stdout.splitlines() == listing.stdout.splitlines()[:3]  # what was read is the start, in order
    assert head.returncode == 141  # 128 + SIGPIPE, like any Unix tool cut short by `head`
    assert "Error" not in head.stderr and "Traceback" not in head.stderr and "error:" not in head.stderr


def test_jobs_export_takes_json(start_daemon, tmp_path: Path) -> None:
    start_daemon(IMAGEWORKS_MODEL_NAME="echo")
    with Client("t") as c:
        job = c.submit("echo", [{"text": f"n{i}"} for i in range(7)]).job
        list(c.follow(job.job_id))
    out = tmp_path / "out.jsonl"
    done = iw("jobs", "export", job.job_id, "--jsonl", str(out), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"job_id": job.job_id, "path": str(out), "results": 7}
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["index"] for r in rows] == list(range(7))  # each item once, none lost


def test_an_auto_started_daemon_is_announced(xdg: dict[str, Path]) -> None:
    assert client.daemon_alive() is None
    first = iw("jobs", "--json", IMAGEWORKS_MODEL_NAME="echo")
    try:
        assert first.returncode == 0, first.stderr
        assert json.loads(first.stdout) == []  # stdout stays pure JSON; the announcement is on stderr
        connection = client.read_connection()
        assert connection is not None
        pid = int(connection["pid"])
        assert first.stderr.strip() == f"started the daemon (pid {pid})"
        second = iw("jobs", "--json")
        assert second.returncode == 0 and second.stderr == ""  # a running daemon is not announced again
    finally:
        iw("daemon", "stop")
    wait_for(lambda: client.daemon_alive(timeout=0.2) is None, what="the daemon to stop")


def _open_as_nobody(path: Path) -> str:
    """open_image in a child that dropped root (root reads any file), returning the error message."""
    from imageworks.daemon.backends.images import ImageReadError, open_image

    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.setgid(65534)
            os.setuid(65534)
            open_image(str(path), 64 * 64)
            message = "opened"
        except ImageReadError as exc:
            message = str(exc)
        except BaseException as exc:  # report anything to the parent
            message = f"unexpected {exc!r}"
        os.write(write_fd, message.encode())
        os._exit(0)
    os.close(write_fd)
    os.waitpid(pid, 0)
    with os.fdopen(read_fd, "rb") as fh:
        return fh.read().decode()


def test_a_permission_error_is_named_as_one() -> None:
    from imageworks.daemon.backends.images import ImageReadError, open_image

    folder = Path(tempfile.mkdtemp(prefix="iw-perm-"))
    try:
        folder.chmod(0o755)  # others may look in, but not read the photo
        photo = folder / "private.jpg"
        Image.new("RGB", (32, 32), "red").save(photo)
        photo.chmod(0o000)
        if os.getuid() == 0:
            message = _open_as_nobody(photo)
        else:
            with pytest.raises(ImageReadError) as err:
                open_image(str(photo), 64 * 64)
            message = str(err.value)
        assert "permission denied" in message and "damaged" not in message, message
        photo.chmod(0o644)
        assert open_image(str(photo), 64 * 64).size == (32, 32)  # the file itself was fine all along
        with pytest.raises(ImageReadError, match="Is a directory") as err:
            open_image(str(folder), 64 * 64)
        assert "damaged" not in str(err.value)
    finally:
        for p in folder.iterdir():
            p.unlink()
        folder.rmdir()
