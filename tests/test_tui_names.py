"""Non-UTF-8 names in the TUI's views (Pilot, a real daemon with the echo model): a Latin-1 name and an
invalid-UTF-8 one are scanned, tagged, shown in Execute's stream, Review's list and detail and Similar's groups:
escaped (``caf\\xe9.jpg``) where the text may grow, one replacement mark per bad byte in Review's fixed-width list
(a raw surrogate reached the terminal as six cells and pushed the row out of line); never a crash."""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

from tests.test_tui import scan_and_run
from tests.test_tui_helpers import make_app, screen_text, settle, wait_until

LATIN1 = b"caf\xe9.jpg"
INVALID = b"bad-\xc3\x28-\xff.jpg"


def library(root: Path) -> Path:
    root.mkdir(parents=True)
    img = Image.radial_gradient("L").convert("RGB").resize((96, 64))
    for name in (LATIN1, INVALID):
        img.save(os.fsdecode(os.fsencode(root) + b"/" + name), "JPEG", quality=90)
    Image.new("RGB", (96, 64), (20, 200, 90)).save(root / "plain.jpg")  # unlike them
    return root


async def test_odd_names_in_execute_review_and_similar(start_daemon, tmp_path: Path) -> None:
    start_daemon(IMAGEWORKS_MODEL_NAME="echo")
    app = make_app(library(tmp_path / "photos"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await scan_and_run(pilot, 3)
        assert app.job.job.state == "done" and app.job.job.done == 3
        stream = "\n".join(app.screen.query_one("#stream").lines)
        assert "caf\\xe9.jpg" in stream and "bad-\\xc3(-\\xff.jpg" in stream
        await pilot.press("3")
        await settle(pilot)
        # the list marks the bytes that are no text (one cell each: columns stay aligned), the detail escapes them
        await wait_until(pilot, lambda: "caf\ufffd.jpg " in screen_text(app), what="the review list")
        assert "bad-\ufffd(-\ufffd.jpg " in screen_text(app) and "bad-\\xc3(-\\xff.jpg  in photos/" in screen_text(app)
        await pilot.press("f9")
        await settle(pilot)
        await pilot.press("c")
        await wait_until(pilot, lambda: app.similar.state in ("done", "error"), what="the compute")
        await settle(pilot)
        assert app.similar.state == "done", app.similar.message
        (group,) = app.similar.groups  # the two copies, their paths the bytes on disk
        assert sorted(os.fsencode(p).rsplit(b"/", 1)[1] for p in group.paths) == sorted([LATIN1, INVALID])
        text = screen_text(app)
        assert "bad-\\xc3(-\\xff.jpg, caf\\xe9.jpg" in text or "caf\\xe9.jpg, bad-\\xc3(-\\xff.jpg" in text
