"""Our import names cannot collide: the daemon and the TUI are ``imageworks.daemon`` and ``imageworks.tui``, so a
foreign top-level ``daemon`` (python-daemon installs one) or ``tui`` (PyPI has one) beside ImageWorks changes nothing.

The foreign packages are planted ahead of everything on the path (PYTHONPATH), and any import of them fails loudly;
the daemon and the TUI are then run from a directory outside the checkout, as a user runs them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from imageworks.client import Client
from tests.test_tui_tmux import Tmux, tui_command
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[1]


def plant_foreign_packages(where: Path) -> Path:
    for name in ("daemon", "tui"):
        pkg = where / name
        pkg.mkdir(parents=True)
        (pkg / "__init__.py").write_text(f"raise ImportError('the foreign {name!r} package was imported')\n")
    return where


def outside_env(tmp_path: Path) -> dict[str, str]:
    foreign = plant_foreign_packages(tmp_path / "site")
    env = {k: v for k, v in os.environ.items() if k not in ("COLORTERM", "TMUX", "PYTHONPATH")}
    env["PYTHONPATH"] = str(foreign)
    env["TERM"] = "xterm-256color"
    return env


def test_the_foreign_packages_shadow_top_level_names(tmp_path):
    """The planted packages do take the top-level names (else the tests below would prove nothing)."""
    env = outside_env(tmp_path)
    for name in ("daemon", "tui"):
        proc = subprocess.run(
            [sys.executable, "-c", f"import {name}"], env=env, cwd=tmp_path, capture_output=True, text=True
        )
        assert proc.returncode != 0 and f"the foreign '{name}' package was imported" in proc.stderr


def test_daemon_and_tui_run_from_outside_the_checkout_beside_foreign_daemon_and_tui(tmp_path):
    assert not str(tmp_path).startswith(str(ROOT))
    env = outside_env(tmp_path)
    daemon = subprocess.Popen(
        [sys.executable, "-m", "imageworks", "daemon", "start", "--foreground"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:

        def answering() -> bool:
            if daemon.poll() is not None:
                raise AssertionError(f"the daemon exited at start: {daemon.stdout.read() if daemon.stdout else ''}")
            from imageworks import client

            return client.daemon_alive(timeout=0.5) is not None

        wait_for(answering, timeout=30, what="the daemon to answer", interval=0.05)
        if shutil.which("tmux") is None:
            pytest.skip("tmux not installed: the TUI half of this test needs it")
        tmux = Tmux(tmp_path, env)
        try:
            tmux.start(tui_command())
            tmux.wait_for("daemon up")
            tmux.keys("F5")  # the Jobs mode's other key: a first start focuses the Library field, which takes "4"
            tmux.wait_for("no jobs yet")
            tmux.keys("C-q")
            tmux.until(tmux.pane_dead, "the TUI to quit", timeout=15)
            assert "Traceback" not in tmux.screen() and "foreign" not in tmux.screen()
        finally:
            tmux.kill()
        with Client("check") as c:
            assert c.status().boot_id
    finally:
        daemon.terminate()
        daemon.wait(15)
