"""The review screen (Review, key 3) on a real daemon: the list opens with focus, a/x approve and reject and move
on, a caption and keywords edited, undo/redo, write (commit) puts the person's values into the file and leaves the
rejected one byte-identical; two app instances see each other's edits live and a stale edit gets the conflict
message. Drafts are seeded into the daemon's store before it starts (tests/test_review_daemon.py does the same)."""

from __future__ import annotations

import sys
from pathlib import Path

from imageworks.client import Client
from imageworks.review import edits as E
from tests.test_metadata_support import as_list, exif_one, needs_exiftool
from tests.test_review_daemon import make_photos, seed_drafts, sha
from tests.test_tui_helpers import make_app, settle, wait_until


async def open_review(pilot, n: int):
    """Press 3 and wait for the list to hold ``n`` drafts; the screen."""
    app = pilot.app
    await wait_until(pilot, lambda: app.daemon.up, what="the daemon to answer")
    await pilot.press("3")
    await wait_until(pilot, lambda: len(app.services.review.book.order) == n, what=f"{n} drafts on the list")
    await settle(pilot)
    return app.screen


def draft(app, path: str):
    return app.services.review.book.drafts[path]


async def type_text(pilot, text: str) -> None:
    await pilot.press(*[{" ": "space", "-": "minus", "|": "vertical_line"}.get(c, c) for c in text])


@needs_exiftool
async def test_review_keys_edit_approve_reject_undo_and_write(start_daemon, tmp_path, monkeypatch):
    paths = make_photos(tmp_path / "lib", 3)
    seed_drafts(paths, ("beach", "sea"))
    start_daemon()
    editor = tmp_path / "editor.py"
    editor.write_text("import sys; open(sys.argv[1], 'w').write('Written in the editor.')\n")
    monkeypatch.setenv("EDITOR", f"{sys.executable} {editor}")
    app = make_app(tmp_path / "lib")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_review(pilot, 3)
        table = screen.query_one("#drafts")
        assert app.focused is table and table.current.path == paths[0]  # a and x work at once
        # enter: the caption; k: a keyword (ctrl+enter would take the first suggestion); delete: a model keyword
        await pilot.press("enter")
        await pilot.press("ctrl+a", "ctrl+k")
        await type_text(pilot, "Dune grass")
        await pilot.press("enter")
        await wait_until(pilot, lambda: draft(app, paths[0]).edited.caption == "Dune grass", what="the caption")
        await pilot.press("k")
        await type_text(pilot, "Coast|Dunes")
        await pilot.press("enter")
        await wait_until(pilot, lambda: "Coast|Dunes" in draft(app, paths[0]).edited.kept_keywords, what="keyword")
        await settle(pilot)
        screen.detail.keyword_list.highlighted = 0  # "beach", the model's: removing it rejects it
        await pilot.press("delete")
        await wait_until(pilot, lambda: "beach" not in draft(app, paths[0]).edited.kept_keywords, what="removal")
        await pilot.press("e")
        await wait_until(
            pilot, lambda: draft(app, paths[0]).edited.description == "Written in the editor.", what="description"
        )
        # a approves and moves on; x rejects and moves on; u undoes the reject, ctrl+y redoes it
        await settle(pilot)
        await pilot.press("a")
        assert table.current.path == paths[1]
        await pilot.press("x")
        await wait_until(pilot, lambda: draft(app, paths[1]).status == "rejected", what="the reject")
        assert draft(app, paths[0]).status == "approved"
        await pilot.press("u")
        await wait_until(pilot, lambda: draft(app, paths[1]).status == "pending", what="the undo")
        await pilot.press("ctrl+y")
        await wait_until(pilot, lambda: draft(app, paths[1]).status == "rejected", what="the redo")
        # n: the next pending draft; w: write the approved one, after the confirmation
        await pilot.press("n")
        assert table.current.path == paths[2]
        before = sha(paths[1])
        await pilot.press("w")
        await settle(pilot)
        assert "Write 1 approved draft" in str(app.screen.query_one("#confirm-title").render())
        assert "mode merge" in str(app.screen.query_one("#confirm-detail").render())
        await pilot.press("y")
        await wait_until(pilot, lambda: draft(app, paths[0]).status == "committed", timeout=30, what="the commit")
    tags = exif_one(Path(paths[0]))
    assert tags["XMP-dc:Title"] == "Dune grass" and tags["XMP-dc:Description"] == "Written in the editor."
    subjects = as_list(tags["XMP-dc:Subject"])
    assert "sea" in subjects and "Dunes" in subjects and "beach" not in subjects
    assert "Coast|Dunes" in as_list(tags["XMP-lr:HierarchicalSubject"])
    assert sha(paths[1]) == before


async def test_two_apps_see_each_others_edits_and_a_stale_edit_conflicts(start_daemon, tmp_path):
    paths = make_photos(tmp_path / "lib", 2)
    seed_drafts(paths)
    start_daemon()
    first, second = make_app(tmp_path / "lib"), make_app(tmp_path / "lib")
    async with first.run_test(size=(100, 30)) as one, second.run_test(size=(100, 30)) as two:
        await open_review(one, 2)
        await open_review(two, 2)
        seen_by_second = draft(second, paths[0])
        # the first approves: the second sees it without a key press (pushed on the review topic)
        await one.press("a")
        await wait_until(two, lambda: draft(second, paths[0]).status == "approved", what="the second to see it")
        assert second.screen.query_one("#drafts").book.lines[paths[0]].status == "approved"
        # an edit made against the version the second saw before: the conflict message, nothing changed
        notes: list[str] = []
        second.notify = lambda message, **kw: notes.append(str(message))  # what the person is told
        second.services.review.edit(E.AddKeyword(path=paths[0], keyword="dusk"), seen_by_second.version)
        await wait_until(two, lambda: any("since you loaded it" in n for n in notes), what="the conflict message")
        with Client("check") as c:
            assert "dusk" not in c.review_get(paths[0]).edited.kept_keywords
        assert draft(second, paths[0]).version == draft(first, paths[0]).version  # read again after the conflict


async def test_filter_language_and_a_remapped_key(start_daemon, tmp_path):
    paths = make_photos(tmp_path / "lib", 4)
    seed_drafts(paths[:2], ("beach",))
    seed_drafts(paths[2:], ("forest",))
    start_daemon()
    app = make_app(tmp_path / "lib", keymap={"review.approve": "p"})  # Lightroom's pick key, by binding id
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_review(pilot, 4)
        await pilot.press("slash")
        await type_text(pilot, "kw:forest")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.services.review.book.order == paths[2:], what="the filtered list")
        assert app.focused is screen.query_one("#drafts")
        await pilot.press("p")  # approved: it stays on the list until the filter is applied again
        await wait_until(pilot, lambda: draft(app, paths[2]).status == "approved", what="the approve")
        assert app.services.review.book.order == paths[2:]
        await pilot.press("slash", "ctrl+a", "ctrl+k")
        await type_text(pilot, "status:nope")
        await pilot.press("enter")  # a bad query says where, and keeps the list
        assert app.services.review.book.order == paths[2:]
        # the all-keywords pane over the whole list: counts, and a rename everywhere (one undo step)
        await pilot.press("slash", "ctrl+a", "ctrl+k", "enter")
        await wait_until(pilot, lambda: len(app.services.review.book.order) == 4, what="the whole list again")
        await pilot.press("K")
        pane = await wait_until(pilot, lambda: app.screen.query("#all-keywords") and app.screen, what="the pane")
        options = pane.query_one("#all-keywords")
        await wait_until(pilot, lambda: options.option_count == 2, what="two keywords counted")
        labels = [str(options.get_option_at_index(i).prompt) for i in range(2)]
        assert any("2" in label and "beach" in label for label in labels), labels
        options.highlighted = next(i for i in range(2) if options.get_option_at_index(i).id == "beach")
        await pilot.press("r", "ctrl+a", "ctrl+k")
        await type_text(pilot, "shore")
        await pilot.press("enter")
        await wait_until(
            pilot,
            lambda: all("shore" in draft(app, p).edited.kept_keywords for p in paths[:2]),
            what="the rename on both drafts",
        )
        await pilot.press("escape", "u")
        await wait_until(pilot, lambda: "beach" in draft(app, paths[1]).edited.kept_keywords, what="one undo")
        assert "beach" in draft(app, paths[0]).edited.kept_keywords
