"""A shared /tmp: the fallback runtime dir (XDG_RUNTIME_DIR unset) or the connection file set up by another user
is refused with one line naming it and its owner; nothing of theirs is touched and nothing of ours is added."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from imageworks import client, paths
from imageworks.paths import UnsafePathError

NOBODY = 65534
as_root = pytest.mark.skipif(os.getuid() != 0, reason="chown to another user needs root")


@pytest.fixture
def shared_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """XDG_RUNTIME_DIR unset and TMPDIR pointing at a fresh world-writable, sticky dir (like /tmp)."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    tmp.chmod(0o1777)
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))  # gettempdir() caches its first answer
    return tmp


def fallback(tmp: Path) -> Path:
    return tmp / f"imageworks-{os.getuid()}"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "imageworks", *args], capture_output=True, text=True, timeout=60, env=dict(os.environ)
    )


def listing(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def test_fresh_fallback_dir_is_created_private(shared_tmp: Path) -> None:
    path = paths.runtime_dir()
    assert path == fallback(shared_tmp)
    st = os.lstat(path)
    assert stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) == 0o700
    assert paths.runtime_dir() == path  # a second call accepts our own dir


@as_root
def test_another_users_fallback_dir_is_refused(shared_tmp: Path) -> None:
    theirs = fallback(shared_tmp)
    theirs.mkdir(mode=0o777)
    theirs.chmod(0o777)
    planted = {"requests": "ipc:///tmp/evil.sock", "events": "ipc:///tmp/evil-ev.sock", "key": "k", "pid": 1}
    (theirs / "connection.json").write_text(json.dumps(planted))
    os.chown(theirs / "connection.json", NOBODY, NOBODY)
    os.chown(theirs, NOBODY, NOBODY)
    before = listing(theirs)

    with pytest.raises(UnsafePathError, match="owned by nobody"):
        paths.runtime_dir()
    for args in (("daemon", "status"), ("daemon", "start"), ("jobs",)):
        result = run_cli(*args)
        assert result.returncode == 1, result
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert str(theirs) in lines[0] and "owned by nobody" in lines[0], lines[0]
        assert "no daemon is running" not in result.stdout + result.stderr
    assert listing(theirs) == before  # nothing of theirs lost, nothing of ours (socket, lock, key) added
    assert os.lstat(theirs).st_uid == NOBODY


def test_symlinked_fallback_dir_is_refused(shared_tmp: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    fallback(shared_tmp).symlink_to(elsewhere)
    with pytest.raises(UnsafePathError, match="symlink"):
        paths.runtime_dir()
    result = run_cli("daemon", "status")
    assert result.returncode == 1 and "symlink" in result.stderr
    assert list(elsewhere.iterdir()) == []


def test_our_fallback_dir_open_to_others_is_refused(shared_tmp: Path) -> None:
    ours = fallback(shared_tmp)
    ours.mkdir()
    ours.chmod(0o777)
    with pytest.raises(UnsafePathError, match="0777"):
        paths.runtime_dir()


def test_xdg_runtime_subdir_gets_the_same_check(xdg: dict[str, Path]) -> None:
    (xdg["runtime"] / "imageworks").mkdir(mode=0o755)
    (xdg["runtime"] / "imageworks").chmod(0o755)
    with pytest.raises(UnsafePathError, match="0755"):
        paths.connection_file()


def test_connection_file_readable_by_others_is_not_trusted(xdg: dict[str, Path]) -> None:
    conn = paths.connection_file()
    conn.write_text(json.dumps({"requests": "ipc:///x", "events": "ipc:///y", "key": "k", "pid": 1}))
    conn.chmod(0o644)
    with pytest.raises(UnsafePathError, match="0644"):
        client.read_connection()
    conn.chmod(0o600)
    assert client.read_connection() is not None


def test_symlinked_connection_file_is_not_trusted(xdg: dict[str, Path], tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("{}")
    real.chmod(0o600)
    paths.connection_file().symlink_to(real)
    with pytest.raises(UnsafePathError, match="symlink"):
        client.read_connection()


@as_root
def test_connection_file_of_another_user_is_not_trusted(xdg: dict[str, Path]) -> None:
    conn = paths.connection_file()
    conn.write_text("{}")
    conn.chmod(0o600)
    os.chown(conn, NOBODY, NOBODY)
    with pytest.raises(UnsafePathError, match="owned by nobody"):
        client.read_connection()
    assert conn.read_text() == "{}"
