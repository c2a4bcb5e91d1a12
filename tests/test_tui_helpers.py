"""Shared helpers of the TUI tests (this module holds no tests): a tiny photo library, an app wired for tests,
waiting on real state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imageworks import config as iw_config


def make_library(root: Path, n: int, *, size: tuple[int, int] = (48, 32)) -> Path:
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", size, (i * 17 % 256, 90, 200 - i * 7 % 200)).save(root / f"img{i:03d}.jpg", quality=60)
    return root


def make_app(root: Path | str | None = None, *, heartbeat_s: float | None = None, **tui: Any):
    """An app that never starts a daemon itself and sends no heartbeat unless asked: what it shows comes from the
    daemon's events (or a refresh the test asks for)."""
    from imageworks.tui.app import ImageWorksApp

    cfg = iw_config.Config()
    values = dict(tui)
    if root is not None:
        values["library_root"] = str(root)
    if values:
        cfg = iw_config.replace(cfg, "tui", **values)
    return ImageWorksApp(cfg, autostart_daemon=False, heartbeat_s=heartbeat_s)


STREAMS = ("review-events",)
"""Worker groups that follow pushed events for the app's life: settling never waits for them to end."""


async def settle(pilot, rounds: int = 3) -> None:
    """Let workers finish and their messages land (workers may start workers: a few rounds). The event listener
    runs for the app's life: not waited for."""
    from imageworks.tui.services.daemon import LISTENER_GROUP

    for _ in range(rounds):
        finite = [w for w in pilot.app.workers if w.group != LISTENER_GROUP and w.group not in STREAMS]
        if finite:  # (an empty list would mean every worker to wait_for_complete)
            await pilot.app.workers.wait_for_complete(finite)
        await pilot.pause()


CHARACTERS = {"tab": "\t", "slash": "/", "question_mark": "?", "space": " "}
"""What the terminal's read gives with the keys our tests name (a letter is its own character; f-keys have none)."""


async def typed_in_one_read(pilot, *keys: str) -> None:
    """Keys as a terminal hands them over in one read (a busy app, an SSH hop): all on the App's queue at once, as
    the driver posts them (``Pilot.press`` lets the app go idle between keys, which hides the race); then settle."""
    from textual import events

    for key in keys:
        pilot.app.post_message(events.Key(key, CHARACTERS.get(key, key if len(key) == 1 else None)))
    await settle(pilot)


async def wait_until(pilot, predicate, *, timeout: float = 30.0, what: str = "condition"):
    """Poll real app state between event-loop turns (no fixed sleeps)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await pilot.pause(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def counters(app) -> dict[str, int]:
    from imageworks.tui.widgets.debug import counter_values

    return counter_values(app)


def screen_text(app) -> str:
    """The current screen as plain text (what a person would read). Reads Textual's private
    ``Screen._compositor.render_strips()`` (tests/test_dependency_assumptions.py names the assumption): the public
    ``App.export_screenshot()`` renders an SVG, about six times slower, and tests that time the App poll this."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(seg.text for seg in strip) for strip in strips)
