"""Configure as a photographer meets it: only valid values are saved (never the valid prefix of a mistyped path), a
field in error gates every action that would use it and says why where the key is, the first field is ready for a
path typed at once, and the config file keeps every key the person did not change in the app."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from imageworks import config as iw_config
from imageworks import paths
from imageworks.errors import ConfigError
from tests.test_tui_helpers import make_app, make_library, screen_text, settle, typed_in_one_read, wait_until


async def test_a_mistyped_root_saves_nothing_and_gates_scan_run_and_similar(tmp_path, start_daemon):
    start_daemon()  # the scan key asks the daemon to walk (the scan cache's one writer)
    (tmp_path / "al").mkdir()  # the valid prefix a person passes on the way to a mistyped "alx"
    lib = make_library(tmp_path / "photos", 3)
    app = make_app(lib)
    async with app.run_test(size=(180, 30)) as pilot:  # the reason with its long temp path on one line
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.counts.matched == 3
        root = app.screen.query_one("#root")
        root.focus()
        await settle(pilot)
        await typed_in_one_read(pilot, *str(tmp_path / "alx"))  # typed over the selected old value
        assert root.value == str(tmp_path / "alx")
        assert "no such folder" in screen_text(app)
        # neither the mistyped path nor the valid prefix "…/al" typed on the way: the folder chosen before
        assert app.services.config.tui.library_root == str(lib)
        assert iw_config.load().tui.library_root == str(lib)
        # every action that would use the root is dimmed, with the reason where the key is
        configure = app.screen
        assert configure.check_action("scan", ()) is None
        await pilot.press("f3")  # Execute (its f-key: the focused field takes the digits)
        await settle(pilot)
        assert app.screen.check_action("run", ()) is None
        await wait_until(pilot, lambda: "run: Library: " in screen_text(app), what="the reason under the run key")
        assert "no such folder (fix it in Configure, 1)" in screen_text(app)
        await pilot.press("f9")  # Similar: compute and move are gated too, the title says why
        await settle(pilot)
        similar = app.screen
        assert similar.check_action("compute", ()) is None and similar.check_action("move_rejects", ()) is None
        await wait_until(pilot, lambda: "c compute: Library: " in screen_text(app), what="the reason in the title")
        await pilot.press("c")
        await settle(pilot)
        assert app.similar.state == "idle"  # nothing computed
        await pilot.press("f10")  # Mono: its check lists the library too
        await settle(pilot)
        assert app.screen.check_action("check", ()) is None
        await wait_until(pilot, lambda: "c check: Library: " in screen_text(app), what="the reason in Mono's title")
        await pilot.press("c")
        await settle(pilot)
        assert app.mono.state == "idle" and not app.mono.records  # nothing checked
        # the field holds a folder again: saved, and the gates open
        await pilot.press("f2")
        await settle(pilot)
        root.value = str(lib)
        await settle(pilot)
        assert app.services.config.tui.library_root == str(lib) and not app.settings_blocked()
        assert configure.check_action("scan", ()) is True
        await pilot.press("f10")
        await settle(pilot)
        assert app.screen.check_action("check", ()) is True and "c check: " not in screen_text(app)


async def test_a_mistyped_filter_puts_back_what_it_held_and_a_chosen_value_stays(tmp_path):
    app = make_app(make_library(tmp_path / "photos", 2))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        size = app.screen.query_one("#min-size")
        size.focus()
        await settle(pilot)
        await typed_in_one_read(pilot, *"2k")
        await pilot.press("tab")  # leaving the field chooses "2k"
        await settle(pilot)
        assert iw_config.load().tui.min_size == "2k"
        size.focus()
        await settle(pilot)
        await typed_in_one_read(pilot, *"12", "space", *"parsecs")  # "12" is valid on the way
        assert "not a size" in screen_text(app)
        assert app.services.config.tui.min_size == "2k" and iw_config.load().tui.min_size == "2k"
        assert app.settings_blocked("filters").startswith("Min size / Exts: ")


async def test_a_first_start_focuses_the_library_field_and_a_path_typed_at_once_lands_in_it(tmp_path):
    lib = make_library(tmp_path / "photos", 2)
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert app.focused is not None and app.focused.id == "root"
        await typed_in_one_read(pilot, *str(lib))
        assert app.services.config.tui.library_root == str(lib)
    # a folder chosen: nothing is focused, so the mode keys work at once, and a path typed at once still lands
    again = make_app(lib)
    async with again.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        focused = again.focused  # a name, not again.focused: mypy would keep that narrowed to None past the keys
        assert focused is None
        await typed_in_one_read(pilot, *str(tmp_path))  # "/…": no key takes "/", so it starts a path
        assert again.focused is not None and again.focused.id == "root"
        assert again.screen.query_one("#root", Input).value == str(tmp_path)
        assert again.services.config.tui.library_root == str(tmp_path)
        await pilot.press("escape", "2")
        assert again.current_mode == "execute"


async def test_the_app_writes_only_the_key_changed_and_keeps_what_was_written_by_hand(tmp_path, monkeypatch):
    lib = make_library(tmp_path / "photos", 2)
    path = paths.config_dir(create=True) / "config.toml"
    by_hand = (
        "# my settings\n"
        "[tui]\n"
        f'library_root = "{lib}"  # the NAS copy\n'
        'keymap = { "execute.run" = "ctrl+x" }\n'
        "\n"
        "[model]\n"
        "batch_size = 4\n"
    )
    path.write_text(by_hand)
    monkeypatch.setenv("IMAGEWORKS_MODEL_NAME", "echo")  # for this run only: never written back
    from imageworks.tui.app import ImageWorksApp

    app = ImageWorksApp(autostart_daemon=False, heartbeat_s=None)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        # the person removes the keymap by hand while the app runs
        path.write_text(by_hand.replace('keymap = { "execute.run" = "ctrl+x" }\n', ""))
        size = app.screen.query_one("#min-size")
        size.focus()
        await settle(pilot)
        await typed_in_one_read(pilot, *"5k")
    text = path.read_text()
    assert "keymap" not in text and "echo" not in text  # neither put back nor the environment's value
    assert text.startswith("# my settings\n[tui]\n") and "# the NAS copy" in text
    saved = iw_config.load(environ={})
    assert saved.tui.min_size == "5k" and saved.model.batch_size == 4 and saved.tui.library_root == str(lib)


def test_save_values_edits_one_line_and_rewrites_only_what_it_cannot_edit(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("# top\n[tagger]\nmax_keywords = 10 # mine\n\n[model]\nname = 'x'\n")
    iw_config.save_values("tagger", {"max_keywords": 12, "profile": "single-pass"}, path)
    assert path.read_text() == (
        "# top\n[tagger]\nmax_keywords = 12\nprofile = \"single-pass\"\n\n[model]\nname = 'x'\n"
    )
    iw_config.save_values("tui", {"keymap": {"app.help": "f1"}}, path)  # a new section at the end
    assert iw_config.load(path=path, environ={}).tui.keymap == {"app.help": "f1"}
    path.write_text('tui = { library_root = "/a" }\n')  # an inline table: rewritten from its keys
    iw_config.save_values("tui", {"min_size": "1k"}, path)
    loaded = iw_config.load(path=path, environ={})
    assert (loaded.tui.library_root, loaded.tui.min_size) == ("/a", "1k")
    path.write_text("[tui\n")  # unreadable: never overwritten
    with pytest.raises(ConfigError, match="nothing was saved"):
        iw_config.save_values("tui", {"min_size": "1k"}, path)
    assert path.read_text() == "[tui\n"


def test_tui_keymap_from_the_environment():
    env = {"IMAGEWORKS_TUI_KEYMAP": "execute.run=ctrl+x; app.mode.execute=3,f3"}
    assert iw_config.load(environ=env).tui.keymap == {"execute.run": "ctrl+x", "app.mode.execute": "3,f3"}
    with pytest.raises(ConfigError, match=r"IMAGEWORKS_TUI_KEYMAP: 'execute\.run' is not name=value"):
        iw_config.load(environ={"IMAGEWORKS_TUI_KEYMAP": "execute.run"})
