"""The keymap as a person meets it: a typo in a binding id and a key given to two actions are named at start (one line
each), the hints on screen follow the keys as remapped, and keys read together are each applied."""

from __future__ import annotations

from imageworks.tui.keymap import keymap_problems
from tests.test_tui_helpers import make_app, make_library, screen_text, settle, typed_in_one_read, wait_until


def test_keymap_problems_name_unknown_ids_and_keys_given_to_two_actions():
    from imageworks.tui.app import ImageWorksApp
    from imageworks.tui.screens.execute import ExecuteScreen
    from imageworks.tui.screens.jobs import JobsScreen

    classes = [ExecuteScreen, JobsScreen]
    assert keymap_problems({"execute.run": "ctrl+x"}, ImageWorksApp, classes) == []
    assert keymap_problems({}, ImageWorksApp, classes) == []  # the defaults do not clash
    (typo,) = keymap_problems({"exceute.run": "x"}, ImageWorksApp, classes)
    assert typo.startswith("tui.keymap: 'exceute.run' is not a binding id")
    (clash,) = keymap_problems({"execute.run": "c"}, ImageWorksApp, classes)
    assert "'c' is given to execute.run (Run) and execute.cancel (Cancel job) in Execute" in clash
    (over_app,) = keymap_problems({"execute.run": "1"}, ImageWorksApp, classes)  # a mode key of the App
    assert "execute.run (Run)" in over_app and "app.mode.configure (Configure)" in over_app
    (both,) = keymap_problems({"app.help": "f5"}, ImageWorksApp, classes)  # f5 is the Jobs mode's other key
    assert "app.mode.jobs" in both and "everywhere" in both


async def test_problems_are_named_at_start_and_hints_follow_the_keymap(tmp_path):
    lib = make_library(tmp_path / "photos", 2)
    keymap = {"similar.compute": "ctrl+k", "exceute.run": "x", "execute.cancel": "r", "mono.check": "ctrl+o"}
    app = make_app(lib, keymap=keymap | {"mono.overlay": "O", "mono.narrate": "N"})
    async with app.run_test(size=(160, 40), notifications=True) as pilot:
        await settle(pilot)
        await wait_until(pilot, lambda: len(app.keymap_problems) == 2, what="the keymap checked")
        typo, clash = app.keymap_problems
        assert "'exceute.run' is not a binding id" in typo and "'r' is given to execute.run" in clash
        text = await wait_until(pilot, lambda: "exceute.run" in (t := screen_text(app)) and t, what="the toasts")
        assert "'r' is given to" in text
        await pilot.press("question_mark")  # and on the help screen, for as long as the app runs
        await settle(pilot)
        assert "'exceute.run' is not a binding id" in screen_text(app)
        await pilot.press("escape", "6")
        await settle(pilot)
        title = await wait_until(pilot, lambda: "compares the library" in (t := screen_text(app)) and t, what="title")
        assert "^k compares the library's images" in title and "c compares" not in title
        assert "←/→ choose an image, k keep, x reject, o keep only this" in title
        await pilot.press("m")  # another method: the message names the compute key as remapped
        await settle(pilot)
        assert "^k computes with embedding" in screen_text(app)
        await pilot.press("7")  # Mono's hints too
        await settle(pilot)
        title = await wait_until(pilot, lambda: "checks the library" in (t := screen_text(app)) and t, what="Mono")
        assert "^o checks the library's photos" in title and "O switches the overlay; N narrates" in title


async def test_a_dialog_says_its_keys_as_remapped(tmp_path):
    app = make_app(make_library(tmp_path / "photos", 1), keymap={"confirm.yes": "j"})
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+g", "f7")  # clear the scan cache: behind the confirmation
        await settle(pilot)
        text = await wait_until(pilot, lambda: "Clear the scan cache?" in (t := screen_text(app)) and t, what="asked")
        assert "j: yes    n / esc: no" in text
        await pilot.press("escape")


async def test_the_review_entry_dialogs_say_their_keys_as_remapped(tmp_path):
    from imageworks.tui.screens.review_dialogs import KeywordEntryScreen, TextEntryScreen

    async def nothing(_: str) -> list:
        return []

    keymap = {"review.entry.cancel": "ctrl+w", "review.entry.first": "ctrl+t"}
    app = make_app(make_library(tmp_path / "photos", 1), keymap=keymap)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.push_screen(TextEntryScreen("Caption", "a beach"))
        text = await wait_until(pilot, lambda: "Caption" in (t := screen_text(app)) and t, what="the caption dialog")
        assert "enter: keep    ^w: cancel" in text and "escape" not in text
        await pilot.press("ctrl+w")
        await settle(pilot)
        app.push_screen(KeywordEntryScreen("Keyword", nothing))
        text = await wait_until(pilot, lambda: "Keyword" in (t := screen_text(app)) and t, what="the keyword dialog")
        assert "enter: add    ^t: first suggestion    ^w: cancel" in text and "ctrl+enter" not in text


async def test_threshold_keys_read_together_are_each_applied(tmp_path):
    app = make_app(make_library(tmp_path / "photos", 2))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("6")
        await settle(pilot)
        app.services.similar.set_threshold(0.5)
        await settle(pilot)
        step = app.similar.step
        assert step == 1 / 64  # one bit of a 64-bit hash: 32 presses from 0.5 reach the top exactly, none to spare
        await typed_in_one_read(pilot, *["right_square_bracket"] * 32)  # over SSH, or a held key
        assert app.similar.threshold == 0.5 + 32 * step == 1.0
        assert "threshold 1.000" in screen_text(app)
        await typed_in_one_read(pilot, *["left_square_bracket"] * 12)
        assert app.similar.threshold == 0.5 + 20 * step == 0.8125
        assert "threshold 0.812" in screen_text(app)


async def test_choice_keys_read_together_are_each_applied(tmp_path):
    """A Configure choice moved 32 times in one read lands 32 options on (the four metadata modes, 8 times round,
    then 3 more), and what it saved is where it landed."""
    from imageworks.tui.widgets.configure_form import WRITE_MODES

    app = make_app(make_library(tmp_path / "photos", 2))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        choice = app.screen.query_one("#write-metadata")
        choice.focus()
        await settle(pilot)
        start = [v for _, v in WRITE_MODES].index(choice.value)
        await typed_in_one_read(pilot, *["right"] * 35)
        landed = WRITE_MODES[(start + 35) % len(WRITE_MODES)][1]
        assert choice.value == landed and app.services.config.tui.write_metadata == landed
