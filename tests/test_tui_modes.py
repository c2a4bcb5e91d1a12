"""The one table of modes (tui/modes.py) is what the App's modes, the mode keys, the header's tabs and the help
screen read."""

from __future__ import annotations

from test_tui_helpers import make_app, screen_text, settle

from tui.modes import MODES


def test_app_modes_and_bindings_come_from_the_table():
    from tui.app import ImageWorksApp

    assert list(ImageWorksApp.MODES) == [m.name for m in MODES]
    assert ImageWorksApp.DEFAULT_MODE == MODES[0].name
    bindings = {b.id: b for b in ImageWorksApp.BINDINGS if getattr(b, "id", None)}
    for mode in MODES:
        binding = bindings[mode.binding_id]
        assert (binding.key, binding.action, binding.description) == (mode.keys, f"mode('{mode.name}')", mode.label)


async def test_each_mode_key_shows_its_screen_its_header_tab_and_help_title():
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
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
