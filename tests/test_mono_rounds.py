"""`mono --write` plans against the review's memory of our last write, as every writer does: after a `review commit`
our own description is ours to replace with the narration, the person's keywords stay, and the photo's draft then
shows what the file holds (the verdict keyword, the narration, the backup of the mono job). A real daemon, the CLI,
exiftool reading the file back."""

from __future__ import annotations

import json
from pathlib import Path

from imageworks.client import Client
from imageworks.review import edits as E
from tests import mono_images as M
from tests.test_metadata_support import as_list, exif_one, exiftool_write, needs_exiftool
from tests.test_mono_cli import iw as mono_iw  # a longer timeout: the check and the narration
from tests.test_review_daemon import seed_drafts
from tests.test_review_rounds import committed, edit, iw
from tests.waiting import wait_for

pytestmark = needs_exiftool


def test_mono_write_after_a_commit_replaces_our_description_and_the_draft_agrees(start_daemon, tmp_path):
    folder = tmp_path / "entries"
    folder.mkdir()
    spot = M.save(M.spot(M.neutral(M.scene(900, 600)), 0.004, M.RED, centre=(0.8, 0.2)), folder / "spot.jpg")
    path = str(spot)
    exiftool_write(spot, "-XMP-dc:Subject=Cat")  # the person's own keyword, from their library
    seed_drafts([path], ("beach", "sea"))
    start_daemon(IMAGEWORKS_MODEL_NAME="echo", IMAGEWORKS_DAEMON_CPU_WORKERS="2")
    with Client("test") as c:
        edit(c, E.SetDescription(path=path, description="Ours, committed"), E.Approve(path=path))
        assert iw("review", "commit").returncode == 0
        committed(c, path)
    assert exif_one(spot)["XMP-dc:Description"] == "Ours, committed"

    done = mono_iw("mono", str(folder), "--write", "merge", "--narrate", "--narration-field", "description")
    assert done.returncode == 0, done.stdout + done.stderr
    tags = exif_one(spot)
    narration = tags["XMP-dc:Description"]
    assert narration.startswith("Colour: a strong red on the ")  # our committed text was ours to replace
    assert sorted(as_list(tags["XMP-dc:Subject"])) == ["Cat", "beach", "mono:not-mono", "sea"]
    with Client("test") as c:
        job = next(j.job_id for j in c.jobs() if j.kind == "mono-write")
        draft = wait_for(
            lambda: (d := c.review_get(path)).edited.description == narration and d.status == "committed" and d,
            what="the draft to show what the mono write wrote",
        )
        assert draft.backup is not None and draft.backup.job_id == job  # `metadata restore --job` undoes it
        assert draft.written is not None and draft.written.description == narration
        assert "mono:not-mono" in draft.edited.kept_keywords and draft.not_written == ()
    again = iw("review", "commit", "--json")  # draft and file agree: nothing to write
    assert again.returncode == 0 and json.loads(again.stdout)["job"] is None, again.stdout + again.stderr
    restored = iw("metadata", "restore", "--job", job)
    assert restored.returncode == 0 and "1 review draft(s) approved again" in restored.stdout, restored.stderr
    assert exif_one(Path(path))["XMP-dc:Description"] == "Ours, committed"


def test_a_new_verdict_replaces_the_old_one_in_the_memory_of_our_write_and_in_the_draft(tmp_path):
    """The old verdict keyword leaves the file, so it leaves the record of what is ours there and the draft too
    (else the next commit would name it as removed by someone, or put it back)."""
    import msgspec

    from imageworks import metadata as md
    from imageworks.file_state import LastWrite
    from imageworks.review.drafts import DraftKeyword
    from imageworks.review.edits import merge_generated
    from imageworks.review.rounds import Asked, Recalled, taken, with_memory
    from tests.test_metadata_support import make_jpeg
    from tests.test_review_support import generated

    photo = make_jpeg(tmp_path / "entry.jpg")
    exiftool_write(photo, "-XMP-dc:Subject=Cat", "-XMP-dc:Subject=beach", "-XMP-dc:Subject=mono:neutral")
    ours = ["beach", "mono:neutral"]
    last = LastWrite(keywords=ours, added_flat=ours, added_hierarchy=ours)
    proposed = md.Proposed(keywords=["mono:not-mono"], own_keyword_prefix="mono:")
    plan = md.plan(photo, with_memory(proposed, Recalled(path=str(photo), version=1, last=last), adds_keywords=True),
                   "merge")  # fmt: skip
    assert plan.last_write is not None and plan.last_write.keywords == ["beach", "mono:not-mono"]
    applied = md.apply(plan, job_id="mono-job")
    assert applied.changed and as_list(exif_one(photo)["XMP-dc:Subject"]) == ["Cat", "beach", "mono:not-mono"]

    draft = merge_generated(None, generated(str(photo), ("beach",)), 0.0)
    kept = (DraftKeyword(keyword="beach", state="accepted"), DraftKeyword(keyword="mono:neutral", state="accepted"))
    before = msgspec.structs.replace(draft, edited=msgspec.structs.replace(draft.edited, keywords=kept))
    after = taken(before, Asked(keywords=["mono:not-mono"], own_prefix="mono:"), None)
    assert after.edited.kept_keywords == ["beach", "mono:not-mono"]


def test_a_description_changed_elsewhere_keeps_the_narration_out_named_and_exits_3(start_daemon, tmp_path):
    """The verdict keyword goes in, the narration does not go over a description another program wrote since our
    last write: the photo is named `partly written`, as `tag --write` and `review commit` name theirs, exit 3."""
    folder = tmp_path / "entries"
    folder.mkdir()
    spot = M.save(M.spot(M.neutral(M.scene(900, 600)), 0.004, M.RED, centre=(0.8, 0.2)), folder / "spot.jpg")
    path = str(spot)
    seed_drafts([path], ("beach",))
    start_daemon(IMAGEWORKS_MODEL_NAME="echo", IMAGEWORKS_DAEMON_CPU_WORKERS="2")
    with Client("test") as c:
        edit(c, E.SetDescription(path=path, description="Ours, committed"), E.Approve(path=path))
        assert iw("review", "commit").returncode == 0
        committed(c, path)
    exiftool_write(spot, "-XMP-dc:Description=Theirs, from the entry form")  # another program, after our write

    done = mono_iw("mono", str(folder), "--write", "merge", "--narrate", "--narration-field", "description")
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"partly written: {path}: " in done.stdout and "partly written 1" in done.stdout, done.stdout
    tags = exif_one(spot)
    assert tags["XMP-dc:Description"] == "Theirs, from the entry form"  # theirs is kept
    assert sorted(as_list(tags["XMP-dc:Subject"])) == ["beach", "mono:not-mono"]  # the verdict went in
