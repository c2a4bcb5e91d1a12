"""Smoke test: the real `imageworks tui` in tmux (80x24, TERM=xterm-256color, no COLORTERM, keys only) against a
real daemon with the tiny Qwen2.5-VL checkpoint (random weights: the run key loads it in the daemon's worker through
the real transformers path and tags with garbage output, noted per image).

tmux runs on its own socket (-L), so it never touches anyone's sessions."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from imageworks.client import Client
from imageworks.metadata import read as imageworks_metadata_read
from imageworks.paths import log_dir
from tests.test_tui_helpers import make_library
from tests.waiting import wait_for

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")


def tui_command() -> str:
    """The installed ``imageworks tui`` (``python -m imageworks`` where no script is); it starts no daemon (the
    test's runs)."""
    exe = Path(sys.executable).with_name("imageworks")
    return f"{exe} tui --no-start" if exe.exists() else f"{sys.executable} -m imageworks tui --no-start"


def terminal_env() -> dict[str, str]:
    """This environment as a plain 256-colour terminal gives it (no COLORTERM, not inside the caller's tmux)."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLORTERM", "TMUX")}
    env["TERM"] = "xterm-256color"
    return env


class Tmux:
    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.socket = f"iw-test-{os.getpid()}-{time.monotonic_ns()}"
        self.cwd = cwd
        self.env = env

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            check=check,
            env=self.env,
            cwd=self.cwd,
        )

    def start(self, command: str) -> None:
        self.run("new-session", "-d", "-s", "iw", "-x", "80", "-y", "24", command)
        self.run("set-option", "-t", "iw", "remain-on-exit", "on")

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "iw").stdout

    def keys(self, *keys: str, literal: bool = False) -> None:
        self.run("send-keys", "-t", "iw", *(["-l"] if literal else []), *keys)

    def until(self, predicate, what: str, timeout: float = 30.0):
        """wait_for on what tmux shows; on a timeout the error holds the screen and our logs."""
        try:
            return wait_for(predicate, timeout=timeout, what=what, interval=0.1)
        except AssertionError as exc:
            logs = "".join(
                f"\n--- {p.name}:\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(log_dir().glob("*.log"))
            )
            raise AssertionError(f"{exc}; the screen was:\n{self.screen()}{logs}") from None

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        return self.until(lambda: screen if text in (screen := self.screen()) else "", repr(text), timeout)

    def pane_dead(self) -> bool:
        out = self.run("display-message", "-p", "-t", "iw", "#{pane_dead}", check=False).stdout.strip()
        return out == "1"

    def kill(self) -> None:
        self.run("kill-server", check=False)


def test_imageworks_tui_in_tmux(start_daemon, tiny_model_dir, tmp_path):
    start_daemon(IMAGEWORKS_MODEL_NAME=str(tiny_model_dir))
    make_library(tmp_path / "photos", 5)
    tmux = Tmux(tmp_path, terminal_env())
    try:
        tmux.start(tui_command())
        tmux.wait_for("daemon up")
        tmux.wait_for("Library")  # a first start: the Library field has the focus
        tmux.keys("photos", literal=True)
        tmux.keys("Enter")  # enter in the root field scans (explicitly)
        tmux.wait_for("5 of 5 images match")
        tmux.keys("F3")  # the Execute mode's other key: works while a field has focus (ESC + 2 would read as alt+2)
        tmux.wait_for("press r to run")
        tmux.keys("r")
        screen = tmux.wait_for("done  5/5", timeout=180)  # the model loads on this first job
        assert "img004.jpg" in screen
        # Review (3): every tagged image is a draft, and the list has the keys at once
        tmux.keys("3")
        screen = tmux.wait_for("5 drafts")
        assert "img000.jpg" in screen
        tmux.keys("a")  # approve img000, on to img001
        tmux.wait_for("✓ approved  img000.jpg")
        tmux.keys("x")  # reject img001, on to img002
        tmux.wait_for("✗ rejected  img001.jpg")
        tmux.keys("u")  # undo the reject, then redo it
        tmux.wait_for("· pending   img001.jpg")
        tmux.keys("C-y")
        tmux.wait_for("✗ rejected  img001.jpg")
        tmux.keys("BSpace", "BSpace", "Space", "Space", "n", "x")  # back, forward, the next pending (img003): reject
        tmux.wait_for("✗ rejected  img003.jpg")
        tmux.keys("BSpace", "BSpace", "BSpace", "BSpace")  # img000, the approved one
        tmux.keys("Enter")  # its caption
        tmux.wait_for("Caption of img000.jpg")
        tmux.keys(" Harbour at dusk", literal=True)  # after the model's words
        tmux.wait_for("Harbour at dusk")  # in the dialog's input
        tmux.keys("Enter")
        tmux.until(  # kept: the dialog is gone and the detail shows it
            lambda: "Caption of" not in (screen := tmux.screen()) and "Harbour at dusk" in screen,
            "the caption on the list",
        )
        tmux.keys("k")  # a keyword
        tmux.wait_for("Add a keyword")
        tmux.keys("lighthouse", literal=True)
        tmux.wait_for("lighthouse")
        tmux.keys("Enter")
        tmux.wait_for("✓ lighthouse")
        tmux.keys("a", "w")  # approve the edited draft again, then write the approved one
        tmux.wait_for("Write 1 approved draft")
        tmux.keys("y")
        tmux.wait_for("◆ committed", timeout=60)
        tmux.keys("4")
        tmux.wait_for("3 jobs in the journal")  # the walk (a scan job: the daemon walks), the tag job and the write
        tmux.keys("C-q")
        tmux.until(tmux.pane_dead, "the TUI to quit", timeout=15)
        assert "Traceback" not in tmux.screen()
    finally:
        tmux.kill()
    with Client("check") as c:
        jobs = c.jobs()
        status = c.status()
    tag = [j for j in jobs if j.kind == "tag"]
    assert len(tag) == 1 and tag[0].state == "done" and tag[0].done == 5
    assert [j.kind for j in jobs if j.kind != "tag"] == ["commit", "scan"]  # newest first: the write, the walk
    written = imageworks_metadata_read(tmp_path / "photos" / "img000.jpg")
    assert written.caption is not None
    assert written.caption.endswith("Harbour at dusk") and "lighthouse" in written.keywords
    assert status.model.loaded and status.counters.model_loads == 1 and status.counters.inferences >= 5


def test_keys_sent_in_one_chunk_behind_a_focus_key_go_where_it_moved_the_focus(tmp_path):
    """One send-keys writes its keys to the terminal together, as a fast typist over SSH does: the text behind a mode
    key and the filter key lands in the filter, the key behind a mode key is that mode's (tui/typeahead.py)."""
    tmux = Tmux(tmp_path, terminal_env())

    def line(start: str) -> str:
        return next((row for row in tmux.screen().splitlines() if row.lstrip().startswith(start)), "")

    try:
        tmux.start(tui_command())
        tmux.wait_for("Library")
        tmux.keys("F4", "/red")  # from the Library field (a first start), to the review, its filter, its text
        tmux.until(lambda: line("review:").rstrip().endswith(" red"), "red in the review's filter", timeout=15)
        tmux.keys("F2", "x")  # back to Configure: its Library field has the focus again
        tmux.until(lambda: line("Library").split() == ["Library", "x"], "x in the Library field", timeout=15)
        tmux.keys("F3", "r")  # r is the Execute mode's run key (nothing to run yet), not a letter for the field
        tmux.wait_for("run: Library: x: no such folder", timeout=15)
        tmux.keys("F2")
        tmux.wait_for("Min size", timeout=15)  # Configure again
        assert line("Library").split() == ["Library", "x"]
        tmux.keys("C-q")
        tmux.until(tmux.pane_dead, "the TUI to quit", timeout=15)
    finally:
        tmux.kill()


def test_approve_write_then_undo_in_tmux_is_no_conflict(start_daemon, tmp_path):
    """`a w y u`, as a person types it at 80x24: the write is a step of the history, so undo moves past it (the draft
    approved-not-written again) with a note saying so, never a conflict; the footer keeps the review's keys."""
    from tests.test_review_daemon import make_photos, seed_drafts

    paths = make_photos(tmp_path / "lib", 2)
    seed_drafts(paths)
    start_daemon()
    tmux = Tmux(tmp_path, terminal_env() | {"IMAGEWORKS_TUI_LIBRARY_ROOT": str(tmp_path / "lib")})
    try:
        tmux.start(tui_command())
        tmux.wait_for("daemon up")
        tmux.keys("3")
        screen = tmux.wait_for("2 drafts")
        footer = screen.rstrip().splitlines()[-1]
        for key in ("a Approve", "x Reject", "u Undo", "w Write", "/ Filter", "? Help"):
            assert key in footer, footer
        tmux.keys("a")
        tmux.wait_for("✓ approved  0000.jpg")
        tmux.keys("w")
        tmux.wait_for("1 to write")  # the dialog, with the write planned against the file
        tmux.keys("y")
        tmux.wait_for("◆ committed", timeout=60)
        tmux.keys("u")
        screen = tmux.wait_for("undid write on 0000.jpg")
        assert "conflict" not in screen and "since you loaded it" not in screen
        tmux.wait_for("✓ approved  0000.jpg")  # approved-not-written again
        tmux.keys("C-q")
        tmux.until(tmux.pane_dead, "the TUI to quit", timeout=15)
        assert "Traceback" not in tmux.screen()
    finally:
        tmux.kill()


def test_mode_switches_after_the_first_visit_paint_the_whole_new_screen(tmp_path):
    """A mode built before shows without Textual's 50 ms hold of frames (tui/app.py ``switch_mode``): what the
    terminal shows after each switch is the new mode's whole screen, with nothing of the one before left in it."""
    body = {  # a line only that mode's screen shows (no daemon, a first start)
        "F2": "Min size",
        "F3": "Estimate",
        "F4": "review: waiting",
        "F5": "no jobs yet",
        "F6": "Connected clients",
        "F9": "no groups yet",
        "F10": "nothing checked yet",
    }
    tmux = Tmux(tmp_path, terminal_env())

    def shows_only(key: str) -> str:
        screen = tmux.screen()
        others = [text for k, text in body.items() if k != key and text in screen]
        return screen if body[key] in screen and not others else ""

    try:
        tmux.start(tui_command())
        tmux.wait_for("Library")
        for key in body:  # first visits build each screen (behind Textual's hold)
            tmux.keys(key)
            tmux.until(lambda key=key: shows_only(key), f"the first visit of {key}", timeout=15)
        for key in ("F4", "F5", "F4", "F2", "F10", "F3", "F9", "F6", "F5", "F2"):
            tmux.keys(key)
            tmux.until(lambda key=key: shows_only(key), f"{key}'s whole screen", timeout=15)
        tmux.keys("C-q")
        tmux.until(tmux.pane_dead, "the TUI to quit", timeout=15)
        assert "Traceback" not in tmux.screen()
    finally:
        tmux.kill()
