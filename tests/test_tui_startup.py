"""Start-up: the first frame is the header and footer alone, the Configure form comes right after it, and nothing
the first paint does not need is imported before it (bench/tui.py times it against a minimal Textual app)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from textual.widgets import Input

from imageworks import config as iw_config
from tests.test_tui_helpers import counters, make_app, make_library, settle, typed_in_one_read

ROOT = Path(__file__).resolve().parents[1]


async def test_first_frame_is_header_and_footer_then_the_form(tmp_path):
    """Names the Textual assumptions behind tui/screens/base.py (textual is pinned below the next major): the App's
    start-up runs in a batch that paints nothing, the App reads its own queue (``call_later``) only after that
    batch, and a screen paints before running its ``call_after_refresh`` callbacks. If a release changes one of
    them, the first frame holds the form (slower first paint) or nothing, and this fails. The recorder reads
    Textual's private ``_display``/``_batch_count`` on purpose: it is the one place that sees what reaches the
    terminal (tests/test_dependency_assumptions.py names that assumption on its own)."""
    from imageworks.tui.app import ImageWorksApp

    frames: list[tuple[bool, bool, int]] = []

    class Recording(ImageWorksApp):
        def _display(self, screen, renderable) -> None:
            # what Textual would write to the terminal (headless: nothing is written); in a batch it writes nothing
            if renderable is not None and not self._batch_count:
                keys = len(screen.query("FooterKey"))  # by its CSS type name: the class is not exported
                frames.append((bool(screen.query("AppHeader")), bool(screen.query("#form")), keys))
            super()._display(screen, renderable)

    cfg = iw_config.replace(iw_config.Config(), "tui", library_root=str(make_library(tmp_path / "photos", 2)))
    app = Recording(cfg, autostart_daemon=False, heartbeat_s=None, connect=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.screen.query_one("#root", Input).value.endswith("photos")
    header, form, keys = frames[0]
    assert header and not form and keys == 0, frames[:3]
    assert any(form for _, form, _ in frames) and any(keys for _, _, keys in frames)


async def test_start_up_counts_the_cached_listing_once(tmp_path):
    # the form's Inputs post Changed for the values they start with: no save, no second count for those
    app = make_app(make_library(tmp_path / "photos", 2), min_size="1k", extensions="jpg")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert counters(app)["filter counts"] == 1
        assert app.counts is not None and app.counts.root.endswith("photos")
        assert counters(app)["screens composed"] == 1


def test_first_paint_imports_neither_the_protocol_nor_the_form():
    # what the first frame does not need is imported after it: the protocol (msgspec structs, hashing), the
    # result store, the form's widgets
    code = (
        "import sys, json, imageworks.tui.app, imageworks.tui.screens.configure\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('imageworks', 'textual.widgets')))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    loaded = set(json.loads(out.strip().splitlines()[-1]))
    later = (
        "imageworks.protocol",
        "imageworks.client",
        "imageworks.tui.store",
        "imageworks.tui.widgets.configure_form",
        "imageworks.tui.widgets.choice",
    )
    assert not loaded & {*later, "textual.widgets._checkbox"}


async def test_keys_typed_behind_tab_land_in_the_field_tab_moved_to():
    """A terminal hands over in one read whatever was typed meanwhile (a busy app, an SSH hop): the App's queue then
    holds tab and the text behind it at once, as here (the driver posts each key; Pilot would wait between them).
    Tab has to move the focus before the next key is routed, or that text goes where the focus was: to the screen
    when nothing is focused (lost: the Configure mode starts so), into the previous field otherwise."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("escape")  # out of the Library field (focused at a first start): nothing focused
        focused = app.focused  # a name, not app.focused: mypy would keep that narrowed to None past the keys below
        assert focused is None

        await typed_in_one_read(pilot, "tab", *"photos")
        root, min_size = app.screen.query_one("#root", Input), app.screen.query_one("#min-size", Input)
        assert app.focused is root and root.value == "photos"
        await typed_in_one_read(pilot, "tab", *"2k")
        assert app.focused is min_size and min_size.value == "2k" and root.value == "photos"
        await typed_in_one_read(pilot, "shift+tab", "x")  # an Input selects its text when it gains focus: x replaces it
        assert app.focused is root and root.value == "x" and min_size.value == "2k"
