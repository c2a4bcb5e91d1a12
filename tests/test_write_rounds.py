"""Every way ImageWorks writes a photo plans against one memory of what it wrote there last, and leaves the photo's
draft showing what the file holds: a `review commit` then a `tag --write merge` of the same photo, a `metadata write
--mode merge` after a commit, a caption changed by exiftool between two writes (kept, named, exit 3 in each of
them), and a draft committed before the memory existed. Real files read back by exiftool, a real daemon, the CLI."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import msgspec

from imageworks.client import Client
from imageworks.review import edits as E
from imageworks.review.codec import decode_draft, encode_draft
from imageworks.review.rows import default_path
from tests.test_metadata_support import as_list, exif_one, exiftool_write, needs_exiftool
from tests.test_review_daemon import make_photos, seed_drafts, sha
from tests.test_review_rounds import committed, edit, iw
from tests.waiting import wait_for

pytestmark = needs_exiftool

KEPT = "caption: changed in another program since the last write; kept (the overwrite mode, or edit the draft)"


def library_with_a_commit(tmp_path: Path, start_daemon, caption: str = "Chelsea at dusk") -> str:
    """One photo whose library holds the person's own keywords and credit, its draft approved with ``caption``
    and committed (merge) through a daemon that tags with the echo model."""
    [path] = make_photos(tmp_path / "lib", 1)
    exiftool_write(Path(path), "-XMP-lr:HierarchicalSubject=Animals|Cat", "-XMP-dc:Subject=Cat", "-Artist=Ann")
    seed_drafts([path], ("beach", "sea"))
    start_daemon(IMAGEWORKS_MODEL_NAME="echo")
    with Client("test") as c:
        edit(c, E.SetCaption(path=path, caption=caption), E.Approve(path=path))
        done = iw("review", "commit")
        assert done.returncode == 0, done.stdout + done.stderr
        committed(c, path)
    assert exif_one(Path(path))["XMP-dc:Title"] == caption
    return path


def test_a_tag_write_after_a_commit_replaces_our_caption_keeps_the_librarys_keywords_and_the_draft_agrees(
    start_daemon, tmp_path
):
    path = library_with_a_commit(tmp_path, start_daemon)
    tagged = iw("tag", str(tmp_path / "lib"), "--write", "merge")
    assert tagged.returncode == 0, tagged.stdout + tagged.stderr
    assert "written 1" in tagged.stdout and "not written 0" in tagged.stdout
    tags = exif_one(Path(path))
    caption = tags["XMP-dc:Title"]
    assert caption != "Chelsea at dusk" and caption.startswith("echo")  # the new caption, over our own last one
    with Client("test") as c:
        draft = wait_for(
            lambda: (d := c.review_get(path)).edited.caption == caption and d.status == "committed" and d,
            what="the draft to show what the tag job wrote",
        )
        job = c.jobs()[0].job_id
        assert draft.backup is not None and draft.backup.job_id == job  # `metadata restore --job` undoes it
        assert draft.written is not None and draft.written.caption == caption and draft.not_written == ()
        # the echo model gives no keywords (no opinion): ours stay in the file, and in the draft
        assert draft.edited.kept_keywords == ["beach", "sea"]
    assert sorted(as_list(tags["XMP-dc:Subject"])) == ["Cat", "beach", "sea"]
    assert "Animals|Cat" in as_list(tags["XMP-lr:HierarchicalSubject"]) and tags["IFD0:Artist"] == "Ann"
    again = iw("review", "commit", "--json")  # nothing left to write: draft and file agree
    assert again.returncode == 0 and json.loads(again.stdout)["job"] is None
    restored = iw("metadata", "restore", "--job", job)  # the tag job's write, undone from its backup
    assert restored.returncode == 0 and "1 review draft(s) approved again" in restored.stdout, restored.stderr
    assert exif_one(Path(path))["XMP-dc:Title"] == "Chelsea at dusk"
    with Client("test") as c:
        back = c.review_get(path)
        assert (back.status, back.written, back.edited.caption) == ("approved", None, caption)


def test_a_metadata_write_after_a_commit_replaces_our_caption_and_the_draft_agrees_and_undo_passes_it(
    start_daemon, tmp_path
):
    path = library_with_a_commit(tmp_path, start_daemon)
    wrote = iw("metadata", "write", path, "--caption", "Chelsea at dawn", "--keywords", "harbour", "--json")
    assert wrote.returncode == 0, wrote.stdout + wrote.stderr
    report = json.loads(wrote.stdout)
    assert report["counts"] == {"written": 1} and report["drafts"] == 1
    assert report["files"][0]["plan"]["not_written"] == []
    tags = exif_one(Path(path))
    assert tags["XMP-dc:Title"] == "Chelsea at dawn"
    assert sorted(as_list(tags["XMP-dc:Subject"])) == ["Cat", "beach", "harbour", "sea"]  # ours and theirs stay
    assert "Animals|Cat" in as_list(tags["XMP-lr:HierarchicalSubject"])
    with Client("test") as c:
        draft = c.review_get(path)
        assert (draft.status, draft.edited.caption) == ("committed", "Chelsea at dawn")
        assert draft.edited.kept_keywords == ["beach", "sea", "harbour"]
        assert draft.backup is not None and draft.backup.job_id == report["job_id"]
        written = sha(path)
        undone = c.review_undo()  # the write is a step: the draft goes back, the file stays
        assert undone.label == "undo write" and undone.step_who.startswith("cli (pid ")
        back = undone.drafts[0]  # approved-not-written: the file holds the undone write
        assert (back.status, back.edited.caption) == ("approved", "Chelsea at dusk") and sha(path) == written
        assert back.edited.kept_keywords == ["beach", "sea"]
    plain = iw("metadata", "write", path, "--caption", "Chelsea at noon")  # what we wrote last is still ours
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert "1 written" in plain.stdout and "1 review draft(s) now show what their files hold" in plain.stdout
    assert exif_one(Path(path))["XMP-dc:Title"] == "Chelsea at noon"
    with Client("test") as c:
        draft = c.review_get(path)  # harbour, undone from the draft, is still in the file: a write is due
        assert (draft.status, draft.edited.caption) == ("approved", "Chelsea at noon")
        assert iw("review", "commit").returncode == 0
        committed(c, path)
    assert sorted(as_list(exif_one(Path(path))["XMP-dc:Subject"])) == ["Cat", "beach", "sea"]


def test_a_caption_changed_by_exiftool_between_writes_is_kept_and_named_with_exit_3_by_every_writer(
    start_daemon, tmp_path
):
    path = library_with_a_commit(tmp_path, start_daemon)
    exiftool_write(Path(path), "-XMP-dc:Title=Theirs")  # Lightroom, between two rounds
    tagged = iw("tag", str(tmp_path / "lib"), "--write", "merge")
    assert tagged.returncode == 3, tagged.stdout + tagged.stderr
    assert f"partly written: {path}: {KEPT}" in tagged.stdout and "partly written 1" in tagged.stdout
    with Client("test") as c:
        job = c.jobs()[0].job_id
        draft = wait_for(lambda: (d := c.review_get(path)).not_written and d, what="the draft told what was kept")
        assert draft.status == "approved" and draft.not_written == (KEPT,)  # not every value reached the file
    exported = iw("jobs", "export", job, "--jsonl", "-")
    [row] = [json.loads(line) for line in exported.stdout.splitlines()]
    assert f"metadata not written: {KEPT}" in row["notes"]  # the export says what the command said
    assert exif_one(Path(path))["XMP-dc:Title"] == "Theirs"

    wrote = iw("metadata", "write", path, "--caption", "Ours again", "--json")
    assert wrote.returncode == 3, wrote.stdout + wrote.stderr
    report = json.loads(wrote.stdout)
    assert report["counts"] == {"kept": 1} and report["files"][0]["plan"]["not_written"] == [KEPT]
    plain = iw("metadata", "write", path, "--caption", "Ours again")
    assert plain.returncode == 3 and f"not written: {KEPT}" in plain.stdout and "1 kept" in plain.stdout
    assert exif_one(Path(path))["XMP-dc:Title"] == "Theirs"
    with Client("test") as c:
        draft = c.review_get(path)
        assert (draft.status, draft.edited.caption, draft.not_written) == ("approved", "Ours again", (KEPT,))
    committing = iw("review", "commit", "--json")  # the same outcome, the same words, the same exit
    assert committing.returncode == 3
    assert json.loads(committing.stdout)["files"][0]["not_written"] == [KEPT]


def forget_the_memory() -> None:
    """The drafts file as the release before the memory left it: no record of a write, no write step."""
    db = sqlite3.connect(default_path())
    for key, body in db.execute("SELECT path, body FROM bodies").fetchall():
        old = encode_draft(msgspec.structs.replace(decode_draft(body), written=None))
        db.execute("UPDATE bodies SET body = ? WHERE path = ?", (old, key))
    db.execute("DELETE FROM history_drafts WHERE step IN (SELECT step FROM history WHERE label = 'write')")
    db.execute("DELETE FROM history WHERE label = 'write'")
    db.commit()
    db.close()


def test_drafts_committed_before_the_memory_existed_write_where_their_files_hold_their_values(start_daemon, tmp_path):
    holds, retitled = make_photos(tmp_path / "lib", 2)
    exiftool_write(Path(holds), "-XMP-dc:Subject=Cat")
    seed_drafts([holds, retitled], ("beach", "sea"))
    daemon = start_daemon()
    with Client("test") as c:
        edit(c, E.SetCaption(path=holds, caption="Horse in the rain"), E.Approve(path=holds), E.Approve(path=retitled))
        assert iw("review", "commit").returncode == 0
        committed(c, holds)
        committed(c, retitled)
    daemon.stop()
    forget_the_memory()
    exiftool_write(Path(retitled), "-XMP-dc:Title=Retitled in Lightroom")
    start_daemon()
    with Client("test") as c:
        assert c.review_get(holds).written is None and c.review_get(retitled).written is None
        edit(c, E.SetCaption(path=holds, caption="Horse in the sun"), E.RemoveKeyword(path=holds, keyword="sea"))
        edit(c, E.SetCaption(path=retitled, caption="Ours, corrected"))
        edit(c, E.Approve(path=holds), E.Approve(path=retitled))
        done = iw("review", "commit", "--json")
        assert done.returncode == 3, done.stdout + done.stderr
        files = {f["path"]: f for f in json.loads(done.stdout)["files"]}
        assert files[holds]["action"] == "written"  # the file held exactly what was committed: ours to replace
        assert files[retitled]["action"] == "kept"  # changed since: kept, as before the memory, and named
        assert files[retitled]["not_written"] == [
            "caption: merge keeps the existing caption (the overwrite mode replaces it)"
        ]
        draft = wait_for(lambda: (d := c.review_get(holds)).status == "committed" and d, what="committed")
        assert draft.written is not None and draft.written.caption == "Horse in the sun"
    tags = exif_one(Path(holds))
    assert tags["XMP-dc:Title"] == "Horse in the sun"
    assert sorted(as_list(tags["XMP-dc:Subject"])) == ["Cat", "beach"]  # the backup proves sea was ours; Cat is not
    assert exif_one(Path(retitled))["XMP-dc:Title"] == "Retitled in Lightroom"


def test_metadata_writes_exit_3_for_a_value_kept_out_or_an_error_even_in_a_dry_run(tmp_path):
    """Exit 3 follows the values kept out and the errors, whatever a file's action is called: a dry run that would
    write the keywords but keep the person's caption says so as `review commit --dry-run` does."""
    photo = make_photos(tmp_path / "lib", 1)[0]
    exiftool_write(Path(photo), "-XMP-dc:Title=Theirs")
    before = sha(photo)
    would = iw("metadata", "write", photo, "--caption", "Ours", "--keywords", "sea", "--dry-run", "--json")
    assert would.returncode == 3, would.stdout + would.stderr
    [planned] = json.loads(would.stdout)["files"]
    assert planned["action"] == "would_write" and planned["plan"]["not_written"] == [
        "caption: merge keeps the existing caption (the overwrite mode replaces it)"
    ]
    assert sha(photo) == before  # a dry run: nothing written
    clean = iw("metadata", "write", photo, "--keywords", "sea", "--dry-run")
    assert clean.returncode == 0 and "dry run: nothing written" in clean.stdout, clean.stdout + clean.stderr
    missing = iw("metadata", "write", photo, str(tmp_path / "gone.jpg"), "--keywords", "sea")
    assert missing.returncode == 3 and "1 written" in missing.stdout and "1 error" in missing.stdout
    assert as_list(exif_one(Path(photo))["XMP-dc:Subject"]) == ["sea"]
