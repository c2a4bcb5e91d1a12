"""Keys typed right behind a key that moves the focus (a mode key, ``/``, a key that opens a dialog or closes one) go
where that key moved it, when the terminal hands them over in one read (tui/typeahead.py). The same over a real
terminal: tests/test_tui_tmux.py."""

from __future__ import annotations

from textual.binding import Binding

from tests.test_review_daemon import make_photos, seed_drafts
from tests.test_tui_helpers import make_app, settle, typed_in_one_read, wait_until


async def test_keys_behind_a_mode_key_and_the_filter_key_land_where_they_moved_the_focus():
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("escape")  # out of the Library field a first start focuses
        configure = app.screen
        root = configure.query_one("#root")
        # a mode shown for the first time (its screen mounts), then its filter key, then the filter's text
        await typed_in_one_read(pilot, "tab", "f4", "slash", *"red")
        review = app.screen
        assert app.current_mode == "review" and root.value == ""
        assert app.focused is review.query_one("#review-filter") and app.focused.value == "red"
        # back to a mode already built: its field has the focus again and takes the key behind the mode key
        await typed_in_one_read(pilot, "f2", "x")
        assert app.screen is configure and app.focused is root and root.value == "x"
        assert review.query_one("#review-filter").value == "red"
        # r behind F3 is the Execute mode's key (dimmed here: nothing to run), not a letter for the field
        await typed_in_one_read(pilot, "f3", "r", "f2")
        assert app.screen is configure and root.value == "x"
        # a key that opens a screen and the one that closes it; then the list's filter from the review
        await typed_in_one_read(pilot, "escape", "question_mark", "escape", "f4", "escape", "slash", "b")
        assert app.current_mode == "review" and app.focused.id == "review-filter" and app.focused.value == "b"


async def test_text_typed_behind_the_keys_that_open_the_review_dialogs_lands_in_them(start_daemon, tmp_path):
    paths = make_photos(tmp_path / "lib", 2)
    seed_drafts(paths, ("beach",))
    start_daemon()
    app = make_app(tmp_path / "lib")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.daemon.up, what="the daemon to answer")
        await typed_in_one_read(pilot, "3")
        book = app.services.review.book
        await wait_until(pilot, lambda: len(book.order) == 2, what="2 drafts on the list")
        await settle(pilot)
        # k opens the keyword dialog; the keyword and enter typed behind it go into it
        await typed_in_one_read(pilot, "k", *"sea", "enter")
        await wait_until(pilot, lambda: "sea" in book.drafts[paths[0]].edited.kept_keywords, what="the keyword")
        # enter opens the caption (its text selected: typing replaces it)
        await typed_in_one_read(pilot, "enter", *"Dunes", "enter")
        await wait_until(pilot, lambda: book.drafts[paths[0]].edited.caption == "Dunes", what="the caption")
        assert book.drafts[paths[0]].status == "pending" and app.focused.id == "drafts"
        # the keys read before a focus key are handled first: space (on to the next draft), then enter opens its caption
        await typed_in_one_read(pilot, "space", "enter", *"Rocks", "enter")
        await wait_until(pilot, lambda: book.drafts[paths[1]].edited.caption == "Rocks", what="the next caption")
        assert book.drafts[paths[0]].edited.caption == "Dunes"


def test_every_binding_named_as_moving_the_focus_is_a_binding_there():
    """A MOVES_FOCUS id that names no binding of its class would leave that key to the old routing unnoticed."""
    import importlib
    import pkgutil

    import imageworks.tui.screens as screens
    from imageworks.tui.app import ImageWorksApp

    classes: list[type] = [ImageWorksApp]
    for info in pkgutil.iter_modules(screens.__path__, "imageworks.tui.screens."):
        module = importlib.import_module(info.name)
        classes += [v for v in vars(module).values() if isinstance(v, type) and "MOVES_FOCUS" in vars(v)]
    assert len(classes) > 10
    for cls in classes:
        ids = {b.id for b in vars(cls)["BINDINGS"] if isinstance(b, Binding)}
        moves: frozenset[str] = vars(cls)["MOVES_FOCUS"]  # each class declares its own (the filter above)
        assert moves <= ids, (cls.__name__, moves - ids)
