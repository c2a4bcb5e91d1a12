"""The review screen's figures: with N drafts (20 000 by default) in a real daemon, the Review mode (key
3) opens — first page painted, then the whole list — and the next-draft key repaints, with real images so the
preview decodes (in a worker; thumbnails cached and the next one decoded ahead).

Usage: python bench/review_tui.py [--drafts 20000] [--keys 200]

Drafts are seeded into the store under temporary XDG dirs before a real daemon starts (as a finished tag run would
leave them); the app runs in-process under Pilot at 120x40 and talks to that daemon over ZeroMQ.
- open: from pressing 3 until the first page is painted (the person can work), and until all N are on the list.
- next draft: pressing space until the list, the detail pane and the preview (from the thumbnail cache or the
  decode worker) show the next draft; median and p99 over --keys presses, Pilot's harness included (its own
  press-and-pause is ~80 ms on an idle machine: bench/RESULTS.md); and the app's own work per key (move the
  cursor, fill the detail, paint every visible line of the list and the detail), timed in-process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

from bench_env import foreground_daemon, isolated_xdg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def seed(root: Path, n: int, images: int) -> Path:
    """``images`` real JPEGs (the drafts cycle over them) and ``n`` drafts in the state dir's store."""
    from PIL import Image

    from imageworks.review.drafts import DraftKeyword, FileFingerprint, Generated, Origin, Values
    from imageworks.review.fingerprint import file_fingerprint
    from imageworks.review.store import DraftStore

    lib = root / "lib"
    lib.mkdir()
    for i in range(images):
        Image.new("RGB", (1600, 1200), (i * 37 % 256, 90, 200 - i * 13 % 200)).save(lib / f"src{i:03d}.jpg")
    words = ["beach", "sea", "dog", "harbour", "red door", "market", "bicycle", "mountain lake"]
    fingerprint = FileFingerprint(size=1, mtime_ns=1)

    def generated(i: int) -> Generated:
        path = lib / f"img{i:06d}.jpg"
        if i < images:
            os.replace(lib / f"src{i:03d}.jpg", path)
        elif not path.exists():
            os.link(lib / f"img{i % images:06d}.jpg", path)
        keywords = tuple(DraftKeyword(keyword=words[(i + k) % len(words)], score=0.5) for k in range(4))
        values = Values(caption=f"caption {i} of a quiet street", description="A quiet scene.", keywords=keywords)
        fp = file_fingerprint(str(path)) if i < images else fingerprint
        return Generated(path=str(path), origin=Origin(job_id="bench", item=i), values=values, fingerprint=fp)

    with DraftStore() as store:
        store.upsert_many(generated(i) for i in range(n))
    return lib


async def bench(lib: Path, n: int, keys: int) -> dict[str, float]:
    from imageworks import config as iw_config
    from imageworks.tui.app import ImageWorksApp
    from imageworks.tui.screens.review import ReviewScreen
    from imageworks.tui.services.review import FIRST_PAGE
    from imageworks.tui.widgets import preview

    preview.prepare("halfcell")
    cfg = iw_config.replace(iw_config.Config(), "tui", library_root=str(lib))
    app = ImageWorksApp(cfg, autostart_daemon=False, heartbeat_s=None)
    out: dict[str, float] = {"drafts": n}
    async with app.run_test(size=(120, 40)) as pilot:
        while not app.daemon.up:
            await pilot.pause(0.01)
        book = app.services.review.book
        t0 = time.perf_counter()
        await pilot.press("3")
        while len(book.order) < min(n, FIRST_PAGE):
            await pilot.pause(0)
        await pilot.pause()
        out["open: press 3 -> first page painted (s)"] = time.perf_counter() - t0
        while len(book.order) < n:
            await pilot.pause(0.005)
        await pilot.pause()
        out["open: press 3 -> all drafts listed (s)"] = time.perf_counter() - t0
        screen = app.screen
        assert isinstance(screen, ReviewScreen)
        image = screen.query_one(preview.ImagePreview)
        samples = []
        for _ in range(keys):
            want = book.draft_at(screen.table.cursor + 1)
            assert want is not None  # the list holds more drafts than keys pressed
            t0 = time.perf_counter()
            await pilot.press("space")
            while screen.detail.draft is not want or image.path != want.path:
                await pilot.pause(0)
            samples.append(time.perf_counter() - t0)
        samples.sort()
        out["next draft: space -> repaint, median (ms)"] = statistics.median(samples) * 1000
        out["next draft: space -> repaint, p99 (ms)"] = samples[int(len(samples) * 0.99) - 1] * 1000
        out["thumbnails cached"] = len(preview.THUMBNAILS)
        # the app's own work per key, without Pilot's harness: move, fill the detail, paint the visible lines; its
        # CPU time too (the process's: on a machine loaded by other work, wall time mostly measures the wait)
        work, cpu = [], []
        for _ in range(keys):
            t0, c0 = time.perf_counter(), time.process_time()
            screen.action_step(1)
            screen._show(screen.table.current)
            for widget in [screen.table, *screen.detail.query("*")]:
                for y in range(widget.size.height):
                    widget.render_line(y)
            work.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        work.sort()
        out["next draft: app work (move+detail+paint), median (ms)"] = statistics.median(work) * 1000
        out["next draft: app work, p99 (ms)"] = work[int(len(work) * 0.99) - 1] * 1000
        out["next draft: app work, CPU median (ms)"] = statistics.median(cpu) * 1000
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--drafts", type=int, default=20_000)
    ap.add_argument("--keys", type=int, default=200)
    ap.add_argument("--images", type=int, default=64, help="distinct JPEGs the drafts cycle over")
    args = ap.parse_args()
    root = isolated_xdg("iwb-", IMAGEWORKS_MODEL_NAME="echo")
    t0 = time.perf_counter()
    lib = seed(root, args.drafts, args.images)
    print(f"seeded {args.drafts:,} drafts in {time.perf_counter() - t0:.1f} s")
    from imageworks import client

    with foreground_daemon():
        figures = asyncio.run(bench(lib, args.drafts, args.keys))
        with client.Client("bench") as c:
            c.shutdown()
    for name, value in figures.items():
        print(f"  {name:44} {value:10.3f}")


if __name__ == "__main__":
    main()
