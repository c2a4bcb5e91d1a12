"""Pilot tests of the TUI against a real daemon (echo backend): nothing slow reruns unasked, and every gated action.

- typing, changing filters, switching modes and resizing never scan, never submit, never rebuild a screen;
- the scan key scans once, the run key submits exactly one job; results survive mode switches;
- clearing the cache empties it; quitting mid-job leaves the job running and a new app re-attaches to it.
"""

from __future__ import annotations

import pytest

from imageworks import protocol as P
from imageworks.client import Client
from imageworks.scan import ScanCache, ScanError
from tests.test_tui_helpers import counters, make_app, make_library, screen_text, settle, wait_until

ECHO = "echo"
ECHO_SLOW = "echo:delay=0.05"


async def type_text(pilot, text: str) -> None:
    await pilot.press(*[{" ": "space", "/": "slash", ".": "full_stop", "-": "minus", "_": "underscore"}.get(c, c)
                        for c in text])  # fmt: skip


async def scan_and_run(pilot, n: int) -> str:
    """From Configure with a root set: scan, go to Execute, press run, wait for the job's end; its id."""
    app = pilot.app
    await pilot.press("ctrl+s")
    await settle(pilot)
    assert app.counts is not None and app.counts.matched == n, app.counts
    await pilot.press("2")
    await settle(pilot)
    await pilot.press("r")
    await wait_until(pilot, lambda: app.job is not None and not app.job.active, what="the job to finish")
    await settle(pilot)
    return app.job.job.job_id


async def test_checklist_nothing_reruns_and_the_run_key_runs_once(start_daemon, tmp_path, monkeypatch):
    start_daemon(IMAGEWORKS_MODEL_NAME=ECHO)
    lib = make_library(tmp_path / "photos", 6)
    monkeypatch.chdir(tmp_path)
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert app.daemon.up
        # a first start has the Library field focused; typing the root never scans (nor does it count anything but
        # the cached listing)
        assert app.focused.id == "root"
        await type_text(pilot, lib.name)
        await settle(pilot)
        assert app.services.config.tui.library_root == "photos"
        assert counters(app)["scans run"] == 0 and counters(app)["scan cache hits"] == 0
        assert "no cached listing" in screen_text(app)
        # the scan key scans once
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert counters(app)["scans run"] == 1
        assert app.counts.matched == 6
        before = counters(app)
        # change filters: counts move, scans/inferences/runs do not
        await pilot.press("tab")
        assert app.focused.id == "min-size"
        await type_text(pilot, "1k")
        await settle(pilot)
        await pilot.press("tab")
        await type_text(pilot, "jpg")
        await settle(pilot)
        assert app.services.config.tui.min_size == "1k" and app.services.config.tui.extensions == "jpg"
        assert app.counts.matched == 0  # 48x32 JPEGs are far under 1 kB
        await pilot.press("shift+tab", "backspace", "backspace")
        await settle(pilot)
        assert app.counts.matched == 6
        await pilot.press("escape")
        # switch modes back and forth, and resize
        for key in "2345123451":
            await pilot.press(key)
            await pilot.pause()
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.resize_terminal(120, 40)
        await settle(pilot)
        after = counters(app)
        for name in ("scans run", "scan cache hits", "runs submitted", "daemon inferences", "model loads"):
            assert after[name] == before[name], name
        assert after["screens composed"] == 5  # each mode built once, never rebuilt
        assert after["filter counts"] > before["filter counts"]
        # the run key: exactly one job, N items through the model
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("r")
        await wait_until(pilot, lambda: app.job is not None and not app.job.active, what="the job to finish")
        await settle(pilot)
        assert app.job.job.state == "done" and app.job.job.done == 6
        assert counters(app)["runs submitted"] == 1
        with Client("check") as c:
            status = c.status()
            assert sorted(j.kind for j in c.jobs()) == ["scan", app.services.job_kind()]  # one walk, one run
            assert status.counters.jobs == 2
            steps = 3 if app.services.job_kind() == "tag" else 1
            assert status.counters.inferences == 6 * steps
            assert status.slots["vlm"].feed.decodes == 6  # each photo decoded once, whatever the steps
            assert status.counters.model_loads == 1
        app.services.refresh_status()
        await wait_until(pilot, lambda: counters(app).get("vlm decodes") == 6, what="the debug panel's feed rows")
        assert 0 <= counters(app)["vlm input wait %"] <= 100
        assert counters(app)["scans run"] == 1
        # a job's results (enter in Jobs; mode 3 is the review) persist across mode switches
        app.open_results(app.job.job.job_id)
        await settle(pilot)
        table = app.screen.query_one("#table")
        assert len(table.order) == 6
        for key in "12534":
            await pilot.press(key)
            await pilot.pause()
        assert app.current_mode == "jobs"
        assert len(app.screen.query_one("#table").order) == 6
        # five modes and the job's results, each built once
        assert counters(app)["runs submitted"] == 1 and counters(app)["screens composed"] == 6


async def test_run_key_is_gated_until_the_plan_holds(start_daemon, tmp_path):
    lib = make_library(tmp_path / "photos", 3)
    app = make_app(lib)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.daemon.state == "down"  # no daemon, and this app does not start one
        await pilot.press("2")
        await settle(pilot)
        screen = app.screen
        assert screen.check_action("run", ()) is None  # shown dimmed, not hidden
        assert "scan the library first" in screen.blocked()
        await pilot.press("r")
        await settle(pilot)
        assert counters(app)["runs submitted"] == 0
        await pilot.press("1", "ctrl+s")  # the daemon walks the library: with none running the scan says so
        await settle(pilot)
        assert app.scan_view.state == "error" and "daemon" in app.scan_view.message
        # slow enough that the job is still in flight at the second press (a key waits for the app to idle, up to 1 s)
        start_daemon(IMAGEWORKS_MODEL_NAME="echo:delay=0.5")
        await pilot.press("ctrl+s")  # (the app has not looked for the daemon again: the run stays gated)
        await settle(pilot)
        await pilot.press("2")
        assert "daemon is not running" in screen.blocked()
        app.services.refresh_status()
        await settle(pilot)
        assert screen.blocked() == "" and screen.check_action("run", ()) is True
        await pilot.press("r")
        await pilot.press("r")  # a second press while the job is in flight is refused by the gate
        await wait_until(pilot, lambda: app.job is not None and not app.job.active, what="the job to finish")
        await settle(pilot)
        assert counters(app)["runs submitted"] == 1
        # a model the daemon does not hold: gated with the reason, never an implicit reload
        app.services.update_config("model", name="some-other-model")
        app.config_changed()
        await settle(pilot)
        assert "switch models" in screen.blocked()
        # a batch size above the daemon's model's (8) would be refused at submit: gated, saying so
        app.services.update_config("model", name="", batch_size=32)
        app.config_changed()
        await settle(pilot)
        assert "batch size 32 is more than the daemon's model takes (8)" in screen.blocked()


async def test_a_run_that_did_not_start_says_why_until_the_next_press(start_daemon, tmp_path):
    # the toast fades; someone who looked away still reads on Execute why nothing ran
    daemon = start_daemon(IMAGEWORKS_MODEL_NAME=ECHO)
    app = make_app(make_library(tmp_path / "photos", 2))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        assert app.screen.blocked() == ""
        daemon.stop()  # gone after the gate said ready (this app does not poll)
        await pilot.press("r")
        await settle(pilot)
        job = app.job  # a name, not app.job: mypy would keep that narrowed to None past the press below
        assert job is None
        assert "the last run did not start" in screen_text(app) and app.run_error
        assert app.daemon.state == "down" and "daemon is not running" in app.screen.blocked()
        start_daemon(IMAGEWORKS_MODEL_NAME=ECHO)
        app.services.refresh_status()
        await settle(pilot)
        await pilot.press("r")
        await wait_until(pilot, lambda: app.job is not None and not app.job.active, what="the job to finish")
        await settle(pilot)
        assert app.job.job.state == "done" and not app.run_error
        assert "did not start" not in screen_text(app)


async def test_keymap_from_config_remaps_the_run_key(start_daemon, tmp_path):
    start_daemon(IMAGEWORKS_MODEL_NAME=ECHO)
    lib = make_library(tmp_path / "photos", 2)
    app = make_app(lib, keymap={"execute.run": "ctrl+x", "app.mode.execute": "f3"})
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        await pilot.press("f3")
        await settle(pilot)
        assert app.current_mode == "execute"
        assert "press ^x to run" in screen_text(app)
        await pilot.press("r")
        await settle(pilot)
        assert counters(app)["runs submitted"] == 0
        await pilot.press("ctrl+x")
        await wait_until(pilot, lambda: app.job is not None and not app.job.active, what="the job to finish")
        assert counters(app)["runs submitted"] == 1


async def test_clear_caches_behind_confirmation(start_daemon, tmp_path):
    start_daemon()  # the scan cache's one writer: it walks and clears
    lib = make_library(tmp_path / "photos", 4)
    app = make_app(lib)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.counts.matched == 4
        assert app.check_action("clear_scan_cache", ()) is False  # hidden until the debug panel is shown
        await pilot.press("ctrl+g")
        assert app.show_debug and app.check_action("clear_scan_cache", ())
        await pilot.press("f7")
        await pilot.pause()
        assert type(app.screen).__name__ == "ConfirmScreen"
        await pilot.press("n")  # declined: nothing cleared
        await settle(pilot)
        with ScanCache() as cache:
            assert cache.count(lib) == 4
        await pilot.press("f7")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        with ScanCache() as cache, pytest.raises(ScanError):
            cache.count(lib)
        assert app.counts.scanned is False
        assert "no cached listing" in screen_text(app)
        # clear all: the scan cache again, plus result rows of jobs not on screen
        app.services.store.get("old-job").rows.append(object())
        await pilot.press("f8")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert "old-job" not in app.services.store.jobs


async def test_quit_mid_job_leaves_it_running_and_a_new_app_reattaches(start_daemon, tmp_path):
    start_daemon(IMAGEWORKS_MODEL_NAME=ECHO_SLOW)
    lib = make_library(tmp_path / "photos", 20)
    first = make_app(lib)
    async with first.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        await pilot.press("2", "r")
        await wait_until(pilot, lambda: first.job is not None and first.job.job.state == "running", what="running")
        job_id = first.job.job.job_id
        await pilot.press("d")  # detach and quit
    assert first.return_value is not None and job_id in first.return_value
    with Client("check") as c:
        assert c.attach(job_id).job.state in ("running", "queued")  # the job outlived the app
    second = make_app(lib)
    async with second.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: second.job is not None, what="re-attach")
        assert second.job.job.job_id == job_id
        await wait_until(pilot, lambda: not second.job.active, what="the job to finish")
        await settle(pilot)
        rows = second.services.store.get(job_id).rows
        assert sorted(r.index for r in rows) == list(range(20))  # every result, once
        assert second.results_job == job_id
        second.open_results(job_id)
        await settle(pilot)
        assert len(second.screen.query_one("#table").order) == 20


async def test_jobs_mode_attach_resume_and_open_results(start_daemon, tmp_path):
    start_daemon(IMAGEWORKS_MODEL_NAME=ECHO_SLOW)
    items = [{"text": f"item {i}"} for i in range(30)]
    with Client("other-terminal") as c:
        job_id = c.submit("echo", items, batch_size=1).job.job_id
        c.cancel(job_id)
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("escape")  # out of the Library field a first start focuses: the mode keys work
        await pilot.press("4")
        await settle(pilot)
        screen = app.screen
        table = screen.query_one("#jobs-table")
        assert table.row_count == 1
        assert screen.selected().state == "cancelled"
        assert screen.check_action("attach", ()) is None  # not running: nothing to attach to
        assert screen.check_action("resume", ()) is True
        await pilot.press("m")
        await wait_until(pilot, lambda: app.job is not None and app.job.job.state == "done", what="resume done")
        await settle(pilot)
        assert app.current_mode == "execute"
        assert sorted(r.index for r in app.services.store.get(job_id).rows) == list(range(30))
        # open a finished job's results from the journal
        app.services.store.clear()
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert app.current_mode == "jobs"
        assert len(app.screen.query_one("#table").order) == 30
        await pilot.press("escape")  # back to the list of jobs
        # attach to a job started from another terminal (queued behind a job that holds the daemon until we attached:
        # a short job could end before the key, and there would be nothing to attach to)
        with Client("other-terminal") as c:
            blocker = c.submit("echo", items * 4, batch_size=1).job.job_id  # 6 s: still running at the key
            other = c.submit("echo", items[:10], batch_size=1).job.job_id
        await pilot.press("4")
        app.services.list_jobs()
        await settle(pilot)
        jobs_screen = app.screen
        jobs_table = jobs_screen.query_one("#jobs-table")
        jobs_table.move_cursor(row=jobs_table.get_row_index(other))
        await pilot.pause()
        assert jobs_screen.selected().state == "queued"
        await pilot.press("a")
        assert app.current_mode == "execute"
        await wait_until(pilot, lambda: app.job is not None and app.job.job.job_id == other, what="attach")
        with Client("other-terminal") as c:
            c.cancel(blocker)
        await wait_until(pilot, lambda: app.job.job.state == "done", what="attached job done")


async def test_daemon_mode_model_actions_are_confirmed(start_daemon):
    start_daemon(IMAGEWORKS_MODEL_NAME=ECHO)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("escape")  # out of the Library field a first start focuses: the mode keys work
        await pilot.press("5")
        await settle(pilot)
        screen = app.screen
        assert app.daemon.model.state == "none"
        assert screen.check_action("unload", ()) is None and screen.check_action("start", ()) is False
        await pilot.press("l")
        await pilot.pause()
        await pilot.press("y")
        await wait_until(pilot, lambda: app.daemon.model.state == "loaded", what="load (its events)")
        await settle(pilot)
        assert "model echo" in screen_text(app)
        await pilot.press("u")
        await pilot.pause()
        await pilot.press("escape")  # declined
        await settle(pilot)
        assert app.daemon.model.state == "loaded"
        await pilot.press("u")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert app.daemon.model.state == "none"
        assert app.daemon.status.counters.model_loads == 1


async def test_daemon_lost_and_errors_are_messages_not_tracebacks(start_daemon, tmp_path):
    daemon = start_daemon(IMAGEWORKS_MODEL_NAME=ECHO)
    app = make_app(tmp_path / "missing")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "no such folder" in screen_text(app)
        assert app.services.config.tui.library_root.endswith("missing")  # from the config; nothing overwritten
        await pilot.press("ctrl+s")  # gated: an invalid root cannot be scanned
        await settle(pilot)
        assert counters(app)["scans run"] == 0
        # a bad filter is inline and not saved, nor the valid prefix typed on the way ("12" of "12 parsecs")
        assert app.focused.id == "root"  # a root in error has the focus at start
        await pilot.press("tab")
        await type_text(pilot, "12 parsecs")
        await settle(pilot)
        assert "not a size" in screen_text(app)
        assert app.services.config.tui.min_size == ""  # what the field held before: "12" was only on the way
        daemon.stop()
        app.services.refresh_status()
        await settle(pilot)
        assert app.daemon.state == "down"
        assert "not running" in screen_text(app)
        # a failing worker reports one line and the app goes on
        app.services.load_results("nope")
        await settle(pilot)
        assert app.is_running
        await pilot.press("escape", "2", "3", "4", "5")  # escape leaves the form; then the mode keys work
        assert app.current_mode == "daemon"
        assert app.screen.check_action("start", ()) is True


async def test_help_screen_and_palette_list_every_binding_with_its_id():
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("escape")  # out of the Library field a first start focuses: the mode keys work
        await pilot.press("2")
        await pilot.press("question_mark")
        await pilot.pause()
        assert type(app.screen).__name__ == "HelpScreen"
        text = screen_text(app)
        for binding_id in ("execute.run", "execute.cancel", "execute.detach", "app.help", "app.debug"):
            assert binding_id in text
        await pilot.press("escape")
        names = {cmd.title for cmd in app.get_system_commands(app.screen)}
        assert {"Detach & quit", "Help", "Debug"} <= names
        await pilot.press("1")
        names = {cmd.title for cmd in app.get_system_commands(app.screen)}
        assert {"Scan", "Rescan"} <= names or not app.screen.check_action("scan", ())


async def test_results_export_jsonl_and_csv(start_daemon, tmp_path, monkeypatch):
    import csv
    import json

    start_daemon(IMAGEWORKS_MODEL_NAME=ECHO)
    lib = make_library(tmp_path / "photos", 5)
    monkeypatch.chdir(tmp_path)
    app = make_app(lib)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        job_id = await scan_and_run(pilot, 5)
        app.open_results(job_id)
        await settle(pilot)
        await pilot.press("slash")
        await type_text(pilot, "img001")
        await pilot.press("enter")
        assert len(app.screen.query_one("#table").order) == 1
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("E")
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
    jsonl = list(tmp_path.glob("imageworks-*.jsonl"))
    rows = [json.loads(line) for line in jsonl[0].read_text().splitlines()]
    assert len(rows) == len(list(csv.reader(next(tmp_path.glob("imageworks-*.csv")).open()))) - 1


def test_cli_registers_tui_and_imports_it_lazily():
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import imageworks.cli, sys; print('imageworks.tui' in sys.modules, 'textual' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == ["False", "False"]
    import click

    from imageworks.cli import main

    ctx = click.Context(main)
    assert "tui" in main.list_commands(ctx)
    tui = main.get_command(ctx, "tui")
    assert tui is not None and tui.name == "tui"


def test_result_rows_from_records():
    from imageworks.jobs.records import KeywordScore, TagRecord
    from imageworks.tui.store import ResultRow

    rec = P.ResultRecord(
        job_id="j",
        index=3,
        seq=4,
        status="ok",
        record=TagRecord(caption="A red  door", keywords=[KeywordScore(keyword="door", score=0.9)], path="/x/a.jpg"),
        item={"path": "/x/a.jpg"},
    )
    row = ResultRow.from_result(rec)
    assert (row.name, row.caption, row.keywords) == ("a.jpg", "A red door", ("door",))
    assert "door" in row.haystack and row.image_path() == "/x/a.jpg"


async def test_cancel_key_asks_first_then_cancels_the_running_job(start_daemon, tmp_path):
    start_daemon(IMAGEWORKS_MODEL_NAME=ECHO_SLOW)
    lib = make_library(tmp_path / "photos", 20)
    app = make_app(lib)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        await pilot.press("2", "r")
        await wait_until(pilot, lambda: app.job is not None and app.job.active, what="a running job")
        assert app.screen.check_action("run", ()) is None  # gated while ours runs
        await pilot.press("c")
        await pilot.pause()
        assert type(app.screen).__name__ == "ConfirmScreen"
        await pilot.press("y")
        await wait_until(pilot, lambda: not app.job.active, what="the job to stop")
        assert app.job.job.state == "cancelled"
        assert app.screen.check_action("cancel_job", ()) is None


async def test_skip_tagged_counts_come_from_the_probe_on_the_scan_key(start_daemon, tmp_path):
    start_daemon()  # the daemon walks and reads the flags (it writes the scan cache)
    lib = make_library(tmp_path / "photos", 4)
    app = make_app(lib)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.counts.matched == 4 and counters(app)["files probed"] == 0
        app.screen.query_one("#skip-tagged").toggle()  # as the space key does
        await settle(pilot)
        assert app.services.config.tui.skip_tagged is True
        assert app.counts.unprobed == 4 and app.counts.matched == 0  # not checked yet: nothing is read on a toggle
        assert "not yet checked for tags" in screen_text(app)
        assert counters(app)["files probed"] == 0
        await pilot.press("ctrl+s")  # the explicit key checks them (a cache hit for the listing itself)
        await settle(pilot)
        assert counters(app)["files probed"] == 4 and counters(app)["scan cache hits"] == 1
        assert app.counts.matched == 4 and app.counts.unprobed == 0  # none of them carries tags


async def test_metadata_write_mode_goes_into_the_job_and_the_summary(tmp_path):
    lib = make_library(tmp_path / "photos", 1)
    app = make_app(lib, write_metadata="merge")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        plan = app.services.plan()
        if plan.kind == "tag" and "write" in plan.params:
            assert plan.params["write"] == "merge"
            await pilot.press("2")
            await settle(pilot)
            assert "written into the photos during the run (merge)" in screen_text(app)
        await pilot.press("1", *["tab"] * 9)  # root, min size, exts, skip, model, profile, batch, keywords, metadata
        assert app.focused.id == "write-metadata"
        await pilot.press("right")
        await settle(pilot)
        assert app.services.config.tui.write_metadata == "overwrite"
        from imageworks import config as iw_config

        assert iw_config.load().tui.write_metadata == "overwrite"  # saved on change


def test_image_preview_modes_and_half_blocks(tmp_path):
    from rich.console import Console

    from imageworks.tui.widgets import preview

    assert preview.prepare("off") == "off" and preview.MODE == "off"
    assert preview.prepare("auto") == "halfcell"  # not a terminal here: nothing is asked
    assert preview.may_draw_graphics({"TERM": "xterm-kitty"}) and not preview.may_draw_graphics({"TERM": "screen"})
    img = make_library(tmp_path / "p", 1, size=(40, 30)) / "img000.jpg"
    thumb = preview.load_thumbnail(str(img), 10, 4)
    assert thumb.width <= 10 and thumb.height <= 8
    console = Console(width=20, color_system="256", record=True)
    console.print(preview.HalfBlocks(thumb))
    assert "▀" in console.export_text()


async def test_the_daemon_modes_switch_prompt_is_whole_at_80_columns(start_daemon):
    start_daemon(IMAGEWORKS_MODEL_NAME=ECHO)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("escape", "5")
        await settle(pilot)
        await pilot.press("w")
        await settle(pilot)
        region = app.screen.query_one("#model-prompt").region  # the prompt wraps inside the dialog
        lines = screen_text(app).splitlines()[region.y : region.bottom]
        shown = " ".join(line[region.x : region.right].strip() for line in lines)
        assert shown == "Switch the daemon to which model? (a name from `imageworks models list`, or a path)"
        await pilot.press("escape")
