"""What the CLI says in the corners a photographer runs into: a folder `similar` could not read, a file readable
again, the model a daemon holds in `models list`, what `models unload` did, a review of a folder that is not there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from imageworks.client import Client
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[1]
NOBODY = 65534


def iw(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "imageworks", *args], capture_output=True, text=True, timeout=60)


def nobody_can_run_python() -> bool:
    """A daemon as nobody starts a fresh interpreter (and its CPU pool more): not where Python lives in root's 0700
    home."""
    if os.geteuid() != 0:
        return False
    try:
        return subprocess.run([sys.executable, "-c", "pass"], preexec_fn=as_nobody, capture_output=True).returncode == 0
    except OSError:  # the interpreter itself cannot be opened as nobody
        return False


def as_nobody() -> None:
    """preexec_fn: the child runs as nobody (the test runs as root, which reads 0o000 files regardless)."""
    os.setgid(NOBODY)
    os.setuid(NOBODY)


AS_NOBODY = nobody_can_run_python()
WITHOUT_READ_OVERRIDE = [
    "setpriv",
    "--bounding-set=-dac_override,-dac_read_search",
    "--inh-caps=-dac_override,-dac_read_search",
]
"""Root without the capabilities that let it read any file: file modes apply to it (where nobody cannot run this
Python, in root's 0700 home)."""
CONFINED: list[str] | None = (
    [] if os.geteuid() != 0 or AS_NOBODY else WITHOUT_READ_OVERRIDE if shutil.which("setpriv") else None
)
"""What the daemon and the CLI are started under so that a 0o000 file is unreadable to them; None: no way here."""


@pytest.fixture
def shared() -> Iterator[Path]:
    """A temp dir with XDG dirs another user can use (pytest's tmp_path is 0700 under root)."""
    path = Path(tempfile.mkdtemp(prefix="iw-cli-"))
    path.chmod(0o755)
    for name in ("cache", "state", "config", "runtime"):
        (path / name).mkdir(mode=0o700)
        if AS_NOBODY:
            os.chown(path / name, NOBODY, NOBODY)
    yield path
    for p in path.rglob("*"):
        if not p.is_symlink():
            p.chmod(0o755)
    shutil.rmtree(path, ignore_errors=True)


def confined_env(shared: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMAGEWORKS_", "XDG_"))}
    env.update(
        XDG_CACHE_HOME=str(shared / "cache"),
        XDG_STATE_HOME=str(shared / "state"),
        XDG_CONFIG_HOME=str(shared / "config"),
        XDG_RUNTIME_DIR=str(shared / "runtime"),
    )
    return env


def confined(cmd: list[str]) -> list[str]:
    assert CONFINED is not None
    return [*CONFINED, *cmd]


def similar_confined(shared: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = confined([sys.executable, "-m", "imageworks", "similar", *args])
    preexec = as_nobody if AS_NOBODY else None
    return subprocess.run(
        cmd, capture_output=True, text=True, env=confined_env(shared), cwd=ROOT, timeout=120, preexec_fn=preexec
    )


@pytest.mark.skipif(CONFINED is None, reason="root, and neither nobody's Python nor setpriv to give up reading all")
def test_similar_says_which_folder_it_left_out_and_picks_up_a_file_readable_again(shared: Path) -> None:
    lib = shared / "lib"
    (lib / "locked").mkdir(parents=True)
    base = Image.new("RGB", (64, 48), (200, 40, 40))
    base.save(lib / "a.jpg", quality=90)
    base.save(lib / "b.jpg", quality=60)  # a re-encoded copy
    base.save(lib / "locked" / "c.jpg")
    base.save(lib / "d.jpg", quality=75)
    for p in (lib, lib / "a.jpg", lib / "b.jpg"):
        p.chmod(0o755)
    (lib / "locked").chmod(0o000)
    (lib / "d.jpg").chmod(0o000)
    mtime = (lib / "d.jpg").stat().st_mtime_ns
    # the daemon does the work: it runs confined too, so what the CLI cannot read it cannot either
    daemon = subprocess.Popen(
        confined([sys.executable, "-m", "imageworks", "daemon", "start", "--foreground"]),
        env=confined_env(shared),
        cwd=ROOT,
        preexec_fn=as_nobody if AS_NOBODY else None,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: (shared / "runtime" / "imageworks" / "connection.json").exists(), what="the daemon")
        first = similar_confined(shared, str(lib), "--method", "hash")
        assert first.returncode == 0, first.stderr
        assert "left out " in first.stderr and "locked/: permission denied (directory skipped)" in first.stderr
        assert "d.jpg: cannot read file: permission denied" in first.stderr
        assert "among 2 images" in first.stdout
        as_json = json.loads(similar_confined(shared, str(lib), "--method", "hash", "--json").stdout)
        assert {"path": f"{lib}/locked/", "problem": "permission denied (directory skipped)"} in as_json["skipped"]

        (lib / "d.jpg").chmod(0o644)  # readable again, not touched
        assert (lib / "d.jpg").stat().st_mtime_ns == mtime
        again = similar_confined(shared, str(lib), "--method", "hash")
        assert again.returncode == 0, again.stderr
        assert "d.jpg" not in again.stderr and "among 3 images" in again.stdout
        assert "(3 images)" in again.stdout  # the three copies, one group
    finally:
        daemon.terminate()
        daemon.wait(20)


def test_models_list_names_the_loaded_model_and_unload_says_what_it_did(start_daemon) -> None:
    start_daemon(IMAGEWORKS_MODEL_NAME="echo")
    with Client("t") as c:
        c.load_model("echo", wait=True)
    listed = iw("models", "list")
    assert listed.returncode == 0, listed.stderr
    assert "no vision-language checkpoints found" not in listed.stdout
    assert "echo  [loaded in the daemon: " in listed.stdout
    assert json.loads(iw("models", "list", "--json").stdout)["loaded"] == {
        "name": "echo",
        "state": "loaded",
        "demo": False,
    }

    unloaded = iw("models", "unload")
    assert unloaded.returncode == 0 and unloaded.stdout.strip().startswith("unloaded echo from the vlm slot")
    assert "none" not in unloaded.stdout
    again = iw("models", "unload")
    assert again.stdout.strip() == "no model was loaded in the vlm slot: nothing to unload"


def test_review_list_of_a_folder_that_is_not_there_is_an_error(start_daemon, tmp_path) -> None:
    start_daemon(IMAGEWORKS_MODEL_NAME="echo")
    missing = iw("review", "list", str(tmp_path / "nonexistent"))
    assert missing.returncode == 1
    assert missing.stderr.strip() == f"error: {tmp_path / 'nonexistent'}: no such folder, and no drafts under it"
    assert missing.stdout == ""
    (tmp_path / "empty").mkdir()
    empty = iw("review", "list", str(tmp_path / "empty"))
    assert empty.returncode == 0 and empty.stdout.startswith("no drafts")
