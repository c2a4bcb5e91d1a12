"""The one table of modes (tui/modes.py) is what the App's modes, the mode keys, the header's tabs and the help
screen read."""

from __future__ import annotations

from textual.binding import Binding

from imageworks.tui.modes import MODES
from tests.test_tui_helpers import make_app, screen_text, settle


def test_app_modes_and_bindings_come_from_the_table():
    from imageworks.tui.app import ImageWorksApp

    assert list(ImageWorksApp.MODES) == [m.name for m in MODES]
    assert ImageWorksApp.DEFAULT_MODE == MODES[0].name
    bindings = {b.id: b for b in ImageWorksApp.BINDINGS if isinstance(b, Binding) and b.id}
    for mode in MODES:
        binding = bindings[mode.binding_id]
        assert (binding.key, binding.action, binding.description) == (mode.keys, f"mode('{mode.name}')", mode.label)


async def test_each_mode_key_shows_its_screen_its_header_tab_and_help_title():
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        await pilot.press("escape")  # out of the Library field a first start focuses: the mode keys work
        for mode in reversed(MODES):
            await pilot.press(mode.key)
            await settle(pilot, rounds=1)
            assert app.current_mode == mode.name
            assert type(app.screen).__name__ == mode.screen.split(":")[1]
            header = screen_text(app).splitlines()[0]
            assert [m.label for m in MODES] == sorted((m.label for m in MODES), key=header.index)
            assert f" {mode.key} {mode.label} " in header
            await pilot.press("question_mark")
            await settle(pilot, rounds=1)
            assert f"Keys in {mode.label}" in screen_text(app)
            await pilot.press("escape")


async def test_a_mode_shown_again_keeps_its_footer_and_takes_the_styles_that_changed_meanwhile(tmp_path):
    """A mode shown again skips Textual's restyle of every node and its footer's rebuild (most of a switch's time,
    bench/tui.py) unless something they depend on changed while it was hidden."""
    from tests.test_tui_helpers import make_library

    app = make_app(make_library(tmp_path / "photos", 1))  # a folder chosen: nothing focused, digits switch modes
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        for key in "434":  # first visits
            await pilot.press(key)
            await settle(pilot, rounds=1)
        jobs = app.screen
        keys = list(jobs.query("FooterKey"))
        assert keys
        await pilot.press("3", "4")
        await settle(pilot, rounds=1)
        assert list(jobs.query("FooterKey")) == keys  # the same widgets: not rebuilt, the keys did not change
        # the App's classes change while Jobs is hidden (the debug panel, on every mode): shown again, it has them
        await pilot.press("3", "ctrl+g")
        await settle(pilot, rounds=1)
        assert not jobs.query_one("DebugPanel").display
        await pilot.press("4")
        await settle(pilot, rounds=1)
        assert jobs.query_one("DebugPanel").display
        assert list(jobs.query("FooterKey")) != keys  # the debug keys (clear caches) joined the footer


async def test_a_mode_shown_again_paints_without_textuals_hold_of_frames(tmp_path):
    """Textual holds frames for 50 ms at each mode switch (``delay_update``) to mask a screen being built; only a
    first visit builds one, so only first visits hold (tui/app.py ``switch_mode``; bench/tui.py --live)."""
    from tests.test_tui_helpers import make_library

    app = make_app(make_library(tmp_path / "photos", 1))  # a folder chosen: nothing focused, digits switch modes
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        counters = app.services.counters
        for key in "3457":  # first visits
            await pilot.press(key)
            await settle(pilot, rounds=1)
        assert counters.held_switches == 4
        for key in "34315":
            await pilot.press(key)
            await settle(pilot, rounds=1)
            assert f" {key} " in screen_text(app).splitlines()[0]
        await pilot.press("7", "4")
        await settle(pilot, rounds=1)
        assert app.current_mode == "jobs" and counters.held_switches == 4


async def test_execute_says_the_daemon_default_is_the_demo_model_when_none_is_configured(tmp_path) -> None:
    from imageworks import config as iw_config

    app = make_app(tmp_path)  # no model in the config: the daemon serves the bundled demo model
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("escape", "2")
        await settle(pilot)
        assert "daemon default: the demo model (no model configured)" in screen_text(app)
    from imageworks.tui.app import ImageWorksApp

    cfg = iw_config.replace(iw_config.Config(), "tui", library_root=str(tmp_path))
    configured = ImageWorksApp(iw_config.replace(cfg, "model", name="/models/qwen-7b"), autostart_daemon=False)
    async with configured.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("escape", "2")
        await settle(pilot)
        text = screen_text(configured)
        assert "Model     /models/qwen-7b" in text and "demo model" not in text
