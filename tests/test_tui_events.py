"""The TUI on the daemon's pushed events: one long-lived client per App, no polling, the header, Execute
and Jobs following what other clients do, a slow heartbeat that notices a dead or restarted daemon.

Apps here send no heartbeat unless a test asks for one, so whatever changes on screen came from an event."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

from imageworks import protocol as P
from imageworks.client import AsyncClient, Client
from tests.test_tui_helpers import make_app, screen_text, settle, wait_until

ECHO_SLOW = "echo:delay=0.02"
IDLE_S = 7.0
IDLE_HEARTBEAT_S = 3.0
"""The idle test's heartbeat (the App's is 10 s against a 30 s expiry): slower than the old TUI's 2 s polling, so
that polling would show in the request count, and the test lasts seconds, not tens."""


async def daemon_status_json() -> dict:
    """`imageworks daemon status --json`, run as another process would (the App's loop keeps running)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "imageworks", "daemon", "status", "--json", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    return json.loads(out)


async def test_an_idle_tui_is_one_client_and_sends_only_heartbeats(start_daemon):
    # expiry 5 s: a TUI that went silent would be gone from the list by the end; one that polled on fresh
    # sessions would be listed many times over
    start_daemon(IMAGEWORKS_MODEL_NAME="echo", IMAGEWORKS_DAEMON_CLIENT_EXPIRY_S="5")
    app = make_app(heartbeat_s=IDLE_HEARTBEAT_S)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.daemon.up
        t0 = time.monotonic()
        await pilot.pause(IDLE_S)  # idle is what is tested: no key, no refresh
        assert time.monotonic() - t0 >= IDLE_S
        status = await daemon_status_json()
        ours = [c for c in status["clients"] if c["pid"] == os.getpid()]
        assert len(ours) == 1, status["clients"]
        assert ours[0]["name"] == "tui"
        # hello, status, job list, a ping every 3 s, 2 spare (the old TUI sent a status and a job list every 2 s: 10+)
        assert ours[0]["requests"] <= 7, ours[0]
        assert time.time() - ours[0]["last_seen"] < IDLE_HEARTBEAT_S + 3
    status = await daemon_status_json()
    assert not [c for c in status["clients"] if c["pid"] == os.getpid()]  # closing the App said bye


async def test_a_model_loaded_elsewhere_shows_in_the_header_and_execute_with_its_progress(start_daemon):
    start_daemon(IMAGEWORKS_MODEL_NAME="echo")
    name = "echo:load_delay=1.2,load_steps=4"
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("escape")  # out of the Library field a first start focuses: the mode keys work
        await pilot.press("2")
        await settle(pilot)
        assert app.daemon.model.state == "none"
        # the test hears the daemon's model events itself, to time the App against them
        listener = AsyncClient("observer", register=False)
        events = listener.events()
        loaded_at: list[float] = []

        async def hear() -> None:
            async for event in events:
                if isinstance(event, P.ModelEvent) and event.model.state == "loaded":
                    loaded_at.append(time.monotonic())
                    return

        heard = asyncio.create_task(hear())
        seen_progress: list[str] = []
        try:

            def load_from_another_client() -> None:
                with Client("cli") as c:
                    c.load_model(name, wait=True)

            load = asyncio.create_task(asyncio.to_thread(load_from_another_client))

            def header_says_loaded() -> bool:
                text = screen_text(app)
                if "loading the echo backend… " in text:
                    seen_progress.append(text)
                return f"model {name}" in text and f"model {name} (" not in text

            await wait_until(pilot, header_says_loaded, what="the header to show the loaded model")
            shown_at = time.monotonic()
            await load
            await asyncio.wait_for(heard, 10)
        finally:
            await events.aclose()
            listener.close()
        assert shown_at - loaded_at[0] < 0.5, shown_at - loaded_at[0]
        # while it loaded, the header and Execute's summary said what the load was doing, with its progress
        assert any(text.count("loading the echo backend… ") >= 2 and "%" in text for text in seen_progress), (
            seen_progress
        )
        assert "(loaded)" in screen_text(app)


async def test_a_job_submitted_elsewhere_shows_in_an_idle_tuis_jobs_mode(start_daemon):
    start_daemon(IMAGEWORKS_MODEL_NAME=ECHO_SLOW)
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("escape")  # out of the Library field a first start focuses: the mode keys work
        await pilot.press("4")
        await settle(pilot)
        table = app.screen.query_one("#jobs-table")
        assert table.row_count == 0

        def submit() -> str:
            with Client("other-terminal") as c:
                return c.submit("echo", [{"text": f"item {i}"} for i in range(10)], batch_size=1).job.job_id

        job_id = await asyncio.to_thread(submit)
        # no key from here on: the row comes, then its end, from the daemon's job events
        await wait_until(pilot, lambda: job_id in table.rows, what="the job's row", timeout=10)
        state = table.get_column_index("state")
        await wait_until(pilot, lambda: table.get_row(job_id)[state] == "done", what="the row to say done", timeout=20)
        assert table.get_row(job_id)[table.get_column_index("done")] == "10"
        await settle(pilot)
        assert app.jobs[0].job_id == job_id and app.daemon.status.queue_depth == 0


async def test_the_heartbeat_notices_a_dead_daemon_and_picks_up_a_restarted_one(start_daemon):
    first = start_daemon(IMAGEWORKS_MODEL_NAME="echo")
    app = make_app(heartbeat_s=0.2)  # fast, for the test; the App's default is HEARTBEAT_S
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.daemon.up and app.services.daemon.boot_id == first.boot_id
        first.stop()
        await wait_until(pilot, lambda: app.daemon.state == "down", what="the header to say so", timeout=15)
        assert "daemon not running" in screen_text(app)
        second = start_daemon(IMAGEWORKS_MODEL_NAME="echo")
        await wait_until(pilot, lambda: app.services.daemon.boot_id == second.boot_id, what="the new daemon")
        assert app.daemon.up and "daemon up" in screen_text(app)
        # subscribed to the new daemon: its events reach the App
        with Client("other-terminal") as c:
            job_id = c.submit("echo", [{"text": "x"}]).job.job_id
        await wait_until(pilot, lambda: any(j.job_id == job_id for j in app.jobs), what="the new daemon's event")
