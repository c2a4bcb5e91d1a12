"""A job's results at 50 000 rows: opens fast, paints only what is on screen, sorts and filters in memory."""

from __future__ import annotations

import statistics
import time
from typing import Any

import msgspec

from imageworks import protocol as P
from imageworks.jobs.records import TagRecord
from imageworks.tui.screens.job_results import JobResultsScreen
from tests.test_tui_helpers import make_app, settle

N = 50_000


def records(n: int, job_id: str) -> list[P.ResultRecord]:
    out = []
    for i in range(n):
        ok = i % 10 != 9
        record: dict[str, Any] = {
            "status": "ok" if ok else "error",
            "error": None if ok else "cannot read image",
            "path": f"/photos/{i // 1000:03d}/IMG_{i:06d}.jpg",
            "caption": f"caption {i % 97:02d} of a street",
            "keywords": [{"keyword": f"kw{i % 13}", "score": 0.5}],
        }
        typed = msgspec.convert(record, TagRecord)
        out.append(P.ResultRecord(job_id=job_id, index=i, seq=i + 1, status=record["status"], record=typed,
                                  item={"path": record["path"]}))  # fmt: skip
    return out


def widget_key_latency(table, presses: int = 60) -> float:
    """The table's own work for one key press: move the cursor, repaint every visible line."""
    samples = []
    for _ in range(presses):
        start = time.perf_counter()
        table.action_cursor_down()
        table._lines.clear()
        for y in range(table.size.height):
            table.render_line(y)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


async def test_results_open_fast_and_stay_responsive_at_50k_rows():
    job_id = "20250101-000000-aaaaaaaa"
    app = make_app()
    app.services.store.get(job_id).add(records(N, job_id))
    small_id = "20250101-000000-bbbbbbbb"
    app.services.store.get(small_id).add(records(100, small_id))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("escape")  # out of the Library field a first start focuses: the mode keys work
        app.results_job = job_id
        await pilot.press("4")
        await app.push_screen(JobResultsScreen())  # what enter on a job in Jobs opens (bench/tui.py times it)
        await pilot.pause()
        table = app.screen.query_one("#table")
        assert len(table.order) == N
        big = widget_key_latency(table)
        # keys move the cursor; the detail pane follows
        await pilot.press("end")
        assert table.cursor == N - 1 and table.current.index == N - 1
        await pilot.press("home", "down", "down")
        assert table.current.index == 2
        assert "IMG_000002.jpg" in str(app.screen.query_one("#detail-text").render())
        # sort and filter in memory, no daemon anywhere
        await pilot.press("s")  # index -> status
        assert table.sort_key == "status" and table.current.status == "error"
        await pilot.press("S")
        assert table.sort_reverse and table.current.status == "ok"
        await pilot.press("slash")
        await pilot.press(*"IMG_00049")
        assert len(table.order) == 10
        await pilot.press("enter")
        assert app.focused is table
        # the small job for comparison: same widget, 100 rows
        app.results_job = small_id
        await pilot.pause()
        assert len(table.order) == 0 or table.rows is app.services.store.get(small_id).rows
        table.set_filter("")
        small = widget_key_latency(table)
        assert big < max(3 * small, 0.005), (big, small)
