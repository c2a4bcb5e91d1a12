"""The TUI shows a library the daemon watches as it changes on disk: a new photo is counted without a key (the
daemon's ``library`` event makes it re-read the cached listing, no scan). A real daemon and a Pilot."""

from __future__ import annotations

import asyncio

from PIL import Image

from imageworks.client import Client
from tests.test_tui_helpers import counters, make_app, make_library, settle, wait_until


async def test_a_new_photo_in_a_watched_library_is_counted_without_a_key(start_daemon, tmp_path):
    start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS="1")
    lib = make_library(tmp_path / "photos", 4)
    app = make_app(lib)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.counts.total == 4 and counters(app)["scans run"] == 1

        def watching() -> bool:
            with Client("test") as c:
                return any(w.root == str(lib) and w.state == "watching" for w in c.status().watches)

        await wait_until(pilot, lambda: watching(), what="the daemon to watch the library")
        await asyncio.to_thread(lambda: Image.new("RGB", (48, 32)).save(lib / "new.jpg"))
        await wait_until(pilot, lambda: app.counts.total == 5, what="the new photo counted")
        (lib / "img000.jpg").unlink()
        await wait_until(pilot, lambda: app.counts.total == 4, what="the removed photo no longer counted")
        assert counters(app)["scans run"] == 1  # no scan: the cached listing was read again
        assert app.services.scanning.library_events >= 2
