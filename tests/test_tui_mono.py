"""The Mono mode (Pilot, a real daemon with the echo backend and its CPU pool, real JPEGs): the gated check key runs
a mono job in the daemon; the list shows verdicts, reasons and tone and filters by verdict; the photo and its
overlay side by side; narration for the failing ones; writing the verdicts behind the confirmation modal (exiftool
reads them back). Plus the same flow driven by keys in tmux."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from imageworks.tui.screens.confirm import ConfirmScreen
from imageworks.tui.widgets.preview import ImagePreview
from tests import mono_images as M
from tests.test_tui_helpers import counters, make_app, screen_text, settle, wait_until

POOL = "2"


def make_entries(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    grey = M.scene(900, 600)
    made = {
        "a-neutral": M.neutral(grey),
        "b-sepia": M.toned(grey),
        "c-red-spot": M.spot(M.neutral(grey), 0.004, M.RED, centre=(0.8, 0.2)),
        "d-split": M.split_toned(grey),
    }
    return {name: M.save(rgb, folder / f"{name}.jpg") for name, rgb in made.items()}


async def open_mono(pilot) -> None:
    await settle(pilot)
    await pilot.press("7")
    await settle(pilot)
    assert pilot.app.current_mode == "mono"


async def finished(pilot, state: str) -> None:
    app = pilot.app
    await wait_until(pilot, lambda: app.mono.state in ("done", "error"), timeout=120, what=f"{state} to finish")
    await settle(pilot)
    assert app.mono.state == "done", app.mono.message


async def test_check_filter_overlay_narrate_and_write(start_daemon, tmp_path: Path, xdg) -> None:
    start_daemon(IMAGEWORKS_MODEL_NAME="echo", IMAGEWORKS_DAEMON_CPU_WORKERS=POOL)
    entries = make_entries(tmp_path / "photos")
    app = make_app(tmp_path / "photos")
    async with app.run_test(size=(120, 40)) as pilot:
        await open_mono(pilot)
        screen = app.screen
        assert app.daemon.up and screen.check_action("check", ()) is True
        assert screen.check_action("narrate", ()) is None and screen.check_action("write", ()) is None
        assert "nothing checked yet" in screen_text(app)

        await pilot.press("c")
        await finished(pilot, "the check")
        assert counters(app)["mono checks"] == 1
        verdicts = {Path(r.path).stem: r.verdict for r in app.mono.records}
        assert verdicts == {
            "a-neutral": "neutral_mono",
            "b-sepia": "toned_mono",
            "c-red-spot": "not_mono",
            "d-split": "not_mono",
        }
        text = screen_text(app)
        assert "4 photos" in text and "not mono" in text and "sepia 68°" in text and "split_tone" in text
        assert screen.table.row_count == 4

        await pilot.press("f")  # failing: not_mono and query
        await settle(pilot)
        assert app.mono.filter == "failing" and screen.table.row_count == 2
        record = screen.current
        assert record is not None and Path(record.path).stem == "c-red-spot"
        photo = screen.query_one("#mono-photo", ImagePreview)
        overlay = screen.query_one("#mono-overlay", ImagePreview)
        assert photo.path == record.path and overlay.path == record.overlays.residual
        await pilot.press("v")
        await settle(pilot)
        assert overlay.path == record.overlays.chroma and "chroma heatmap" in screen_text(app)
        assert "a strong red patch top right" in screen_text(app)

        assert screen.check_action("narrate", ()) is True
        await pilot.press("n")
        await finished(pilot, "the narration")
        assert set(app.mono.narrations) == {str(entries["c-red-spot"]), str(entries["d-split"])}
        assert "a strong red on the " in screen_text(app)

        await pilot.press("d")  # the narration goes into the description too
        await pilot.press("w")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await finished(pilot, "the write")
        assert len(app.mono.writes) == 4 and "written 4" in app.mono.message

    def exif(path: Path, tag: str) -> str:
        out = subprocess.run(["exiftool", "-s3", f"-{tag}", str(path)], capture_output=True, text=True)
        return out.stdout.strip()

    assert exif(entries["a-neutral"], "XMP-dc:Subject") == "mono:neutral"
    assert exif(entries["c-red-spot"], "XMP-dc:Subject") == "mono:not-mono"
    assert exif(entries["c-red-spot"], "XMP-dc:Description").startswith("Colour: a strong red on the ")


async def test_the_check_key_is_gated_without_a_daemon(tmp_path: Path, xdg) -> None:
    make_entries(tmp_path / "photos")
    app = make_app(tmp_path / "photos")
    async with app.run_test(size=(100, 30)) as pilot:
        await open_mono(pilot)
        assert app.daemon.state == "down"
        assert app.screen.check_action("check", ()) is None
        assert "daemon is not running" in app.services.mono.blocked()
        await pilot.press("c")
        await settle(pilot)
        assert app.mono.state == "idle" and counters(app)["mono checks"] == 0


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_mono_snapshot(size, tmp_path: Path, monkeypatch, xdg, snap_compare) -> None:
    """The mode with four checked entries (checked by the core here, as the daemon's pool would), the red spot
    selected: its photo beside its residual map, its summary."""
    import os

    from imageworks import config as iw_config
    from imageworks.mono.cache import check_and_draw
    from imageworks.mono.job import record_of
    from imageworks.tui.app import ImageWorksApp
    from imageworks.tui.services.mono import MonoView
    from imageworks.tui.widgets import preview

    entries = make_entries(tmp_path / "photos")
    records = []
    for path in sorted(str(p) for p in entries.values()):
        st = os.stat(path)
        records.append(
            record_of(path, st.st_size, st.st_mtime_ns, check_and_draw(path, st.st_size, st.st_mtime_ns, "fiap"), False)
        )
    monkeypatch.chdir(tmp_path)
    preview.prepare("halfcell")
    preview.THUMBNAILS.clear()
    cfg = iw_config.replace(iw_config.Config(), "tui", library_root="photos")
    app = ImageWorksApp(cfg, autostart_daemon=False, heartbeat_s=None, connect=False)

    async def run_before(pilot) -> None:
        await open_mono(pilot)
        pilot.app.mono = MonoView(
            state="done", message="checked 4", root=str(tmp_path / "photos"), records=tuple(records)
        )
        await settle(pilot)
        for _ in range(2):  # one at a time: each shows a photo, and a newer preview cancels a loading one
            await pilot.press("down")
            await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_the_mono_desk_by_keys_in_tmux(start_daemon, tmp_path: Path) -> None:
    """The real `imageworks tui` in tmux at 80x24, keys only: set the library, the Mono mode (F10), check, filter the
    failing ones, narrate, write behind the modal; the verdict keywords are in the files afterwards."""
    import shutil

    from tests.test_tui_tmux import Tmux, terminal_env, tui_command

    if shutil.which("tmux") is None:
        pytest.skip("tmux not installed")
    start_daemon(IMAGEWORKS_MODEL_NAME="echo", IMAGEWORKS_DAEMON_CPU_WORKERS=POOL)
    entries = make_entries(tmp_path / "photos")
    tmux = Tmux(tmp_path, terminal_env())
    try:
        tmux.start(tui_command())
        tmux.wait_for("daemon up")
        tmux.wait_for("Library")  # a first start: the Library field has the focus
        tmux.keys("photos", literal=True)
        tmux.keys("Enter")
        tmux.wait_for("4 of 4 images match")
        tmux.keys("F10")  # the Mono mode's other key: works while a field has focus
        tmux.wait_for("nothing checked yet")
        tmux.keys("c")
        tmux.wait_for("4 photos  1 neutral  1 toned  0 query  2 not mono", timeout=120)
        tmux.keys("f")  # failing only
        screen = tmux.wait_for("filter failing")
        assert "a-neutral.jpg" not in screen and "c-red-spot.jpg" in screen
        tmux.wait_for("a strong red patch top right")
        tmux.keys("n")
        tmux.until(
            lambda: "a strong red on the" in (screen := tmux.screen()) and "narrating" not in screen,
            "the narration to finish",
            timeout=120,
        )
        tmux.keys("w")
        tmux.wait_for("Write the verdicts of 4 photos?")
        tmux.keys("y")
        tmux.wait_for("written 4", timeout=120)
        tmux.keys("C-q")
        tmux.until(tmux.pane_dead, "the TUI to quit", timeout=15)
        assert "Traceback" not in tmux.screen()
    finally:
        tmux.kill()
    out = subprocess.run(
        ["exiftool", "-s3", "-XMP-dc:Subject", str(entries["c-red-spot"])], capture_output=True, text=True
    )
    assert out.stdout.strip() == "mono:not-mono"
