"""The review screen in rounds (Pilot, a real daemon, real files): the pane reads the file again after a write and
when another program changes it (and says what changed), the write dialog plans what will really happen, a stale
draft's approval asks, a conflict keeps what was typed and offers it again, the keyword list is one shown key away
and delete removes the selected keyword, the footer keeps the essential keys at 80x24, z zooms the photo, and an
undo says what it undid and whose step that was."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from PIL import Image

from imageworks import metadata as md
from imageworks.client import Client
from imageworks.review import edits as E
from imageworks.review.fingerprint import file_fingerprint
from imageworks.review.store import DraftStore
from imageworks.tui.screens.review_dialogs import PhotoScreen
from tests.test_metadata_support import exiftool_write, needs_exiftool
from tests.test_review_daemon import make_photos
from tests.test_review_support import generated
from tests.test_tui_helpers import make_app, settle, wait_until
from tests.test_tui_review import draft, open_review, type_text


def seed(paths: list[str], keywords: tuple[str, ...] = ("beach", "sea")) -> None:
    """Drafts as the daemon makes them from a tag run: with the file's metadata as the model saw it."""
    with DraftStore() as store:
        store.upsert_many(
            msgspec_replace(generated(p, keywords, caption=f"caption {i}", item=i, fingerprint=file_fingerprint(p)), p)
            for i, p in enumerate(paths)
        )


def msgspec_replace(result, path: str):
    import msgspec

    return msgspec.structs.replace(result, file_meta=md.read(path).meta)


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector).render())


async def shown(pilot, selector: str, needle: str, what: str) -> str:
    """The text of ``selector`` on the app's current screen once it holds ``needle``."""

    def found() -> str:
        matches = pilot.app.screen.query(selector)
        text = str(matches.first().render()) if matches else ""
        return text if needle in text else ""

    return await wait_until(pilot, found, what=what)


def noted(app) -> list[str]:
    notes: list[str] = []
    app.notify = lambda message, **kw: notes.append(str(message))
    return notes


@needs_exiftool
async def test_the_pane_reads_the_file_again_after_a_write_and_after_another_program(start_daemon, tmp_path):
    [path] = make_photos(tmp_path / "lib", 1)
    seed([path])
    start_daemon()
    app = make_app(tmp_path / "lib")
    async with app.run_test(size=(120, 40)) as pilot:
        await open_review(pilot, 1)
        await shown(pilot, "#review-existing", "a write adds: beach, sea", "the file read")
        await pilot.press("a", "w")
        planned = await shown(pilot, "#confirm-detail", "1 to write", "the planned write")
        assert "1 caption, 1 description, 2 keywords added" in planned
        await pilot.press("y")
        await wait_until(pilot, lambda: draft(app, path).status == "committed", timeout=30, what="the commit")
        existing = await shown(pilot, "#review-existing", "keywords: beach, sea", "the written file read again")
        assert "a write adds" not in existing
        exiftool_write(Path(path), "-XMP-xmp:Rating=3")  # Lightroom, while the draft is on show
        changed = await shown(pilot, "#review-existing", "Rating", "the change shown")
        assert "the file's metadata changed since ImageWorks wrote it: Rating 3 added" in changed
        assert draft(app, path).status == "committed"  # a metadata change is no staleness


@needs_exiftool
async def test_the_write_dialog_says_a_caption_changed_elsewhere_is_kept(start_daemon, tmp_path):
    [path] = make_photos(tmp_path / "lib", 1)
    seed([path])
    start_daemon()
    with Client("test") as c:
        c.review_edit(E.Approve(path=path), c.review_get(path).version)
        job = c.review_commit().job
        list(c.follow(job.job_id))
    exiftool_write(Path(path), "-XMP-dc:Title=Theirs")
    app = make_app(tmp_path / "lib")
    async with app.run_test(size=(120, 40)) as pilot:
        await open_review(pilot, 1)
        await pilot.press("enter", "ctrl+a", "ctrl+k")
        await type_text(pilot, "Mine again")
        await pilot.press("enter")
        await wait_until(pilot, lambda: draft(app, path).edited.caption == "Mine again", what="the caption")
        await pilot.press("a", "w")
        detail = await shown(pilot, "#confirm-detail", "kept", "the plan")
        assert "0 to write" in detail and "1 kept" in detail
        assert "not written: 0000.jpg: caption: changed in another program since the last write" in detail


async def test_approving_a_stale_draft_asks_first(start_daemon, tmp_path):
    [path] = make_photos(tmp_path / "lib", 1)
    seed([path])
    start_daemon()
    with Client("test") as c:
        c.review_edit(E.Approve(path=path), c.review_get(path).version)
        Image.new("RGB", (24, 24), (250, 0, 0)).save(path, quality=90)  # the photo edited since the model saw it
        list(c.follow(c.review_commit().job.job_id))
        assert c.review_get(path).status == "stale"
    app = make_app(tmp_path / "lib")
    async with app.run_test(size=(120, 40)) as pilot:
        await open_review(pilot, 1)
        await pilot.press("a")
        await wait_until(pilot, lambda: app.screen.query("#confirm-title"), what="the question")
        assert "Approve 0000.jpg as it is now?" in text_of(app.screen, "#confirm-title")
        assert "pixels changed" in text_of(app.screen, "#confirm-detail")
        await pilot.press("n")
        await settle(pilot)
        assert draft(app, path).status == "stale"
        await pilot.press("a")
        await wait_until(pilot, lambda: app.screen.query("#confirm-title"), what="the question again")
        await pilot.press("y")
        await wait_until(pilot, lambda: draft(app, path).status == "approved", what="the approval")


async def test_a_conflict_keeps_what_was_typed_and_offers_it_on_the_fresh_version(start_daemon, tmp_path):
    [path] = make_photos(tmp_path / "lib", 1)
    seed([path])
    start_daemon()
    app = make_app(tmp_path / "lib")
    async with app.run_test(size=(120, 40)) as pilot:
        await open_review(pilot, 1)
        await pilot.press("enter")  # the caption dialog, for the version on show
        await wait_until(pilot, lambda: app.screen.query("#entry"), what="the caption dialog")
        with Client("other") as c:  # meanwhile another terminal adds a keyword
            c.review_edit(E.AddKeyword(path=path, keyword="dune"), c.review_get(path).version)
        await pilot.press("ctrl+a", "ctrl+k")
        await type_text(pilot, "Typed by hand")
        await pilot.press("enter")
        offer = await shown(pilot, "#confirm-detail", "your edit", "the offer")
        assert "changed by tui (pid " in offer and "(add keyword dune)" in offer  # (one session per process)
        assert "your edit: set caption 'Typed by hand'" in offer
        await pilot.press("y")
        await wait_until(pilot, lambda: draft(app, path).edited.caption == "Typed by hand", what="the re-applied edit")
        assert "dune" in draft(app, path).edited.kept_keywords  # the other terminal's edit stays


async def test_the_keyword_list_is_a_shown_key_away_and_delete_removes_the_selected_one(start_daemon, tmp_path):
    [path] = make_photos(tmp_path / "lib", 1)
    seed([path], ("beach", "sea", "dune"))
    start_daemon()
    app = make_app(tmp_path / "lib")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_review(pilot, 1)
        assert "l list" in text_of(screen, "#review-keywords-title")  # shown where the keywords are
        await pilot.press("l")
        assert app.focused is screen.detail.keyword_list
        await pilot.press("down", "delete")  # the second one, not the first
        await wait_until(pilot, lambda: draft(app, path).edited.kept_keywords == ["beach", "dune"], what="sea")
        await settle(pilot)
        await pilot.press("down", "delete")
        await wait_until(pilot, lambda: draft(app, path).edited.kept_keywords == ["beach"], what="dune")
        await pilot.press("escape")
        assert app.focused is screen.table


async def test_the_footer_at_80x24_keeps_the_essential_keys_and_z_zooms_the_photo(start_daemon, tmp_path):
    [path] = make_photos(tmp_path / "lib", 1)
    seed([path])
    start_daemon()
    app = make_app(tmp_path / "lib")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_review(pilot, 1)
        from textual.widgets._footer import FooterKey

        visible = [k.key for k in screen.query(FooterKey) if k.region.width and k.region.right <= 80]
        assert visible[:6] == ["a", "x", "u", "w", "slash", "question_mark"], visible
        preview = screen.query_one("#review-preview")
        small = preview.size.height
        await pilot.press("z")  # the pane
        await settle(pilot)
        assert screen.detail.has_class("zoomed") and preview.size.height > small
        await pilot.press("z")  # the whole terminal
        await wait_until(pilot, lambda: isinstance(app.screen, PhotoScreen), what="the photo screen")
        assert app.screen.query_one("#photo").size.width == 80
        await pilot.press("z")
        await wait_until(pilot, lambda: app.screen is screen, what="back")
        assert not screen.detail.has_class("zoomed")


async def test_undo_says_what_it_undid_and_whose_step_it_was(start_daemon, tmp_path):
    [path] = make_photos(tmp_path / "lib", 1)
    seed([path])
    start_daemon()
    with Client("test") as c:
        version = c.review_get(path).version
    line = {"path": path, "version": version, "edited": {"caption": "From a script"}}
    (tmp_path / "edit.jsonl").write_text(json.dumps(line) + "\n")
    script = subprocess.run(
        [sys.executable, "-m", "imageworks", "review", "import", str(tmp_path / "edit.jsonl")], capture_output=True
    )
    assert script.returncode == 0, script.stderr
    app = make_app(tmp_path / "lib")
    async with app.run_test(size=(120, 40)) as pilot:
        await open_review(pilot, 1)
        notes = noted(app)
        await pilot.press("u")
        await wait_until(pilot, lambda: draft(app, path).edited.caption == "caption 0", what="the undo")
        await wait_until(pilot, lambda: notes, what="the note")
        assert notes[-1].startswith("undid import on 0000.jpg — from cli (pid "), notes
        await pilot.press("ctrl+y", "enter", "ctrl+a", "ctrl+k")
        await type_text(pilot, "Mine")
        await pilot.press("enter")
        await wait_until(pilot, lambda: draft(app, path).edited.caption == "Mine", what="my caption")
        await pilot.press("u")
        await wait_until(pilot, lambda: notes[-1].startswith("undid set caption"), what="my undo's note")
        assert notes[-1] == "undid set caption on 0000.jpg — your step"
