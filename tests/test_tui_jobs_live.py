"""Jobs and Execute as a photographer meets them: every client sees a running job's count move (the daemon publishes
progress, not only state changes), newest first, in columns that fit their values; `daemon status` says how far the
running job is; Execute follows the job it started and only it, and its speed leaves the model load out."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

from imageworks.client import Client
from imageworks.tui.state import short_id
from tests.test_tui import scan_and_run
from tests.test_tui_helpers import make_app, make_library, screen_text, settle, wait_until

BIG = 1200


def iw(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "imageworks", *args], capture_output=True, text=True, timeout=60)


async def test_an_idle_tui_sees_every_job_newest_first_with_its_count_moving(start_daemon):
    start_daemon(IMAGEWORKS_MODEL_NAME="echo:delay=0.004")
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        await pilot.press("escape", "4")
        await settle(pilot)
        table = app.screen.query_one("#jobs-table")
        with Client("other-terminal") as c:
            small = c.submit("echo", [{"text": f"s{i}"} for i in range(3)]).job.job_id
            list(c.follow(small))
            big = c.submit("echo", [{"text": f"b{i}"} for i in range(BIG)], batch_size=8).job.job_id
        counts: set[str] = set()

        def moving() -> bool:
            if big in table.rows and table.get_cell(big, "state") == "running":
                counts.add(table.get_cell(big, "done"))
            return len(counts - {"0"}) >= 2

        await wait_until(pilot, moving, what="the running job's count moving in a TUI that did not start it")
        assert [key.value for key in table.rows] == [big, small]  # newest first
        # `daemon status` says how far the running job is, plain and --json
        plain, as_json = await asyncio.gather(
            asyncio.to_thread(iw, "daemon", "status"), asyncio.to_thread(iw, "daemon", "status", "--json")
        )
        running = json.loads(as_json.stdout)["running_job_info"]
        assert running["job_id"] == big and 0 < running["done"] < BIG and running["total"] == BIG
        line = next(x for x in plain.stdout.splitlines() if x.startswith("queue depth"))
        assert f"running job: {big} (echo, batch " in line and f"/{BIG:,} done, " in line and " images/s" in line
        await wait_until(pilot, lambda: table.get_cell(big, "state") == "done", what="the job to finish")
        await settle(pilot)
        row = next(x for x in screen_text(app).splitlines() if big in x)
        assert row.split()[1:] == ["echo", "done", f"{BIG:,}", "0", f"{BIG:,}", row.split()[-2], "s"]
        assert table.get_cell(big, "done") == f"{BIG:,}"


async def test_execute_follows_only_the_job_it_started_and_its_speed_leaves_the_load_out(start_daemon, tmp_path):
    start_daemon(IMAGEWORKS_MODEL_NAME="echo:load_delay=2,delay=0.01")
    app = make_app(make_library(tmp_path / "photos", 20))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        first = await scan_and_run(pilot, 20)
        view = app.job
        job = view.job
        with_load = (job.done + job.failed) / (job.finished - job.started)  # what the old figure said
        assert view.rate > 2 * with_load and view.timed >= 16, (view.rate, with_load, view.timed)
        await wait_until(pilot, lambda: app.daemon.model is not None and app.daemon.model.load_seconds, what="load")
        model = app.daemon.model
        assert 1.5 < model.load_seconds < job.finished - job.started
        speed = app.daemon.status.speeds[job.kind]
        assert speed.items == 20 and speed.seconds < job.finished - job.started - 1.5  # the load is not in it
        text = await wait_until(pilot, lambda: "timed on 20 images" in (t := screen_text(app)) and t, what="estimate")
        assert f"model load {model.load_seconds:.1f} s" in text
        assert "rough: " in text  # 20 images: a batch or two
        # a second job in the same session: the stream starts afresh and follows it to its last row
        await pilot.press("r")
        await wait_until(pilot, lambda: app.job.job.job_id != first and not app.job.active, what="the second job")
        await settle(pilot)
        stream = app.screen.query_one("#stream")
        assert len(stream.lines) == 20
        assert [int(line.split()[0]) for line in stream.lines] == list(range(20))
        assert app.daemon.status.speeds[job.kind].runs == 2


async def test_execute_stays_on_its_job_while_another_client_runs_one(start_daemon, tmp_path):
    """A job another terminal submits while Execute follows ours is listed in Jobs, never shown in Execute."""
    start_daemon(IMAGEWORKS_MODEL_NAME="echo:delay=0.05")
    app = make_app(make_library(tmp_path / "photos", 12))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("r")
        await wait_until(pilot, lambda: app.job is not None and app.job.active, what="our job to start")
        ours = app.job.job.job_id

        def submit_elsewhere() -> str:
            with Client("other-terminal") as c:
                return c.submit("echo", [{"text": f"x{i}"} for i in range(30)], batch_size=1).job.job_id

        theirs = await asyncio.to_thread(submit_elsewhere)
        await wait_until(pilot, lambda: not app.job.active, what="our job to finish")
        await wait_until(
            pilot,
            lambda: any(j.job_id == theirs and j.state == "done" for j in app.jobs),
            what="the other terminal's job to finish",
        )
        await settle(pilot)
        assert app.job.job.job_id == ours and app.job.job.state == "done"
        stream = app.screen.query_one("#stream")
        assert [line.split()[2] for line in stream.lines] == [f"img{i:03d}.jpg" for i in range(12)]  # ours alone
        text = screen_text(app)
        assert f"job {short_id(ours)} done 12/12" in text and short_id(theirs) not in text
