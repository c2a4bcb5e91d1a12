"""Review in rounds, on real files read back by exiftool, through a real daemon and the CLI: a corrected caption
is written over our own last write (the library's keywords kept); a field another program changed between writes is
kept and named (exit 3, the counts agreeing with `jobs export`); undo and redo pass a write, across a restart; an
old export line never overwrites a newer edit; a restore moves drafts back; a Rating set elsewhere is no staleness
and survives the next write, while changed pixels are."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from PIL import Image

from imageworks.client import Client
from imageworks.review import edits as E
from tests.test_metadata_support import as_list, exif_one, exiftool_write, needs_exiftool
from tests.test_review_daemon import make_photos, seed_drafts, sha
from tests.waiting import wait_for

pytestmark = needs_exiftool


def iw(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "imageworks", *args], capture_output=True, text=True, timeout=120)


def edit(c: Client, *edits: E.DraftEdit) -> None:
    for one in edits:
        c.review_edit(one, c.review_get(one.path).version)


def committed(c: Client, path: str) -> None:
    """Wait for the daemon to record the commit on the draft (it does as the job's result arrives)."""
    wait_for(lambda: c.review_get(path).status == "committed", what=f"the commit of {path} recorded")


def library(tmp_path: Path, n: int, start_daemon) -> list[str]:
    """Photos whose library already holds the person's own keywords and credit, drafts for them, a daemon."""
    paths = make_photos(tmp_path / "lib", n)
    for path in paths:
        exiftool_write(Path(path), "-XMP-lr:HierarchicalSubject=Animals|Cat", "-XMP-dc:Subject=Cat", "-Artist=Ann")
    seed_drafts(paths, ("beach", "sea"))
    start_daemon()
    return paths


def test_a_corrected_caption_is_written_after_the_first_write_and_the_librarys_keywords_stay(start_daemon, tmp_path):
    [path] = library(tmp_path, 1, start_daemon)
    with Client("test") as c:
        edit(c, E.SetCaption(path=path, caption="Chelsea at dusk"), E.Approve(path=path))
        first = iw("review", "commit")
        assert first.returncode == 0, first.stdout + first.stderr
        committed(c, path)
        edit(c, E.SetCaption(path=path, caption="Chelsea at dawn"), E.RemoveKeyword(path=path, keyword="sea"))
        edit(c, E.AddKeyword(path=path, keyword="harbour"), E.Approve(path=path))
        second = iw("review", "commit")
        assert second.returncode == 0, second.stdout + second.stderr
        assert "1 written" in second.stdout and "unchanged" not in second.stdout
        wait_for(lambda: c.review_get(path).status == "committed", what="committed")
    tags = exif_one(Path(path))
    assert tags["XMP-dc:Title"] == "Chelsea at dawn"
    assert sorted(as_list(tags["XMP-dc:Subject"])) == ["Cat", "beach", "harbour"]  # ours dropped: sea; theirs: Cat
    assert "Animals|Cat" in as_list(tags["XMP-lr:HierarchicalSubject"]) and tags["IFD0:Artist"] == "Ann"


def test_a_caption_changed_elsewhere_between_writes_is_kept_and_named_with_exit_3(start_daemon, tmp_path):
    [path] = library(tmp_path, 1, start_daemon)
    with Client("test") as c:
        edit(c, E.SetCaption(path=path, caption="Ours"), E.Approve(path=path))
        assert iw("review", "commit").returncode == 0
        committed(c, path)
        exiftool_write(Path(path), "-XMP-dc:Title=Theirs")  # Lightroom, between two rounds
        edit(c, E.SetCaption(path=path, caption="Ours, corrected"), E.AddKeyword(path=path, keyword="dune"))
        edit(c, E.Approve(path=path))
        done = iw("review", "commit", "--json")
        assert done.returncode == 3, done.stdout + done.stderr
        report = json.loads(done.stdout)
        [record] = report["files"]
        assert report["counts"] == {"partly_written": 1} and record["action"] == "partly_written"
        assert record["not_written"] == [
            "caption: changed in another program since the last write; kept (the overwrite mode, or edit the draft)"
        ]
        job = c.jobs()[0]
        assert (job.done, job.failed) == (0, 1)  # the job's counts say what the summary says
        exported = iw("jobs", "export", job.job_id, "--jsonl", "-")
        [row] = [json.loads(line) for line in exported.stdout.splitlines()]
        assert (row["status"], row["action"]) == ("error", "partly_written")
        draft = wait_for(lambda: (d := c.review_get(path)).not_written and d, what="the draft told")
        assert draft.status == "approved"  # not every value reached the file: still approved-not-written
    tags = exif_one(Path(path))
    assert tags["XMP-dc:Title"] == "Theirs" and "dune" in as_list(tags["XMP-dc:Subject"])
    plain = iw("review", "commit")  # named in the plain report too, one line per value kept out
    assert plain.returncode == 3 and "not written: caption: changed in another program" in plain.stdout
    assert "job " in plain.stderr and "0 ok, 1 failed of 1" in plain.stderr


def test_undo_and_redo_pass_a_write_across_a_daemon_restart(start_daemon, tmp_path):
    paths = make_photos(tmp_path / "lib", 1)
    seed_drafts(paths)
    path = paths[0]
    daemon = start_daemon()
    with Client("tui") as c:
        edit(c, E.SetCaption(path=path, caption="Horse in the rain"), E.Approve(path=path))
        assert iw("review", "commit").returncode == 0
        committed(c, path)
        written = sha(path)
        undone = c.review_undo()  # the write: approved-not-written again; the file as it is
        assert undone.label == "undo write" and undone.drafts[0].status == "approved"
        assert undone.step_who.startswith("cli (pid ") and sha(path) == written
    daemon.stop()
    start_daemon()
    with Client("tui") as c:
        assert c.review_undo().drafts[0].status == "pending"
        assert c.review_undo().drafts[0].edited.caption == "caption 0"
        c.review_redo(), c.review_redo()
        redone = c.review_redo()
        assert redone.label == "redo write" and redone.drafts[0].status == "committed"
        # the next write after an undo of the caption puts the older caption back: ours to replace
        c.review_undo(), c.review_undo(), c.review_undo()
        edit(c, E.Approve(path=path))
        assert iw("review", "commit").returncode == 0
    assert exif_one(Path(path))["XMP-dc:Title"] == "caption 0"


def test_an_old_export_line_never_overwrites_a_newer_edit(start_daemon, tmp_path):
    paths = make_photos(tmp_path / "lib", 2)
    seed_drafts(paths)
    start_daemon()
    export = tmp_path / "drafts.jsonl"
    assert iw("review", "export", "--jsonl", str(export), str(tmp_path / "lib")).returncode == 0
    rows = [json.loads(line) for line in export.read_text().splitlines()]
    with Client("tui") as c:
        edit(c, E.SetCaption(path=paths[0], caption="Newer, in the TUI"))
        rows[0]["edited"]["keywords"].append("dune")  # the script only added a keyword
        rows[1]["path"] = "0001.jpg"  # relative: resolved against the export's library
        rows[1]["status"] = "approved"
        edited = tmp_path / "edited.jsonl"
        edited.write_text("".join(json.dumps(row) + "\n" for row in rows))
        refused = iw("review", "import", str(edited))
        assert refused.returncode == 1
        assert f"{edited}:1: {paths[0]}: changed by tui (pid " in refused.stderr
        assert "(set caption) since this export (the line has version 1, it is now 2); --force" in refused.stderr
        assert c.review_get(paths[0]).edited.caption == "Newer, in the TUI"
        assert c.review_get(paths[1]).status == "pending"  # nothing applied
        forced = iw("review", "import", str(edited), "--force")
        assert forced.returncode == 0, forced.stderr
        assert c.review_get(paths[1]).status == "approved" and "dune" in c.review_get(paths[0]).edited.kept_keywords
        rows[1]["path"] = "elsewhere/0001.jpg"
        edited.write_text(json.dumps(rows[1]) + "\n")
        guessed = iw("review", "import", str(edited))
        assert f"paths in an import are absolute (not found under the export's library {tmp_path / 'lib'}); " in (
            guessed.stderr
        )
        assert f"did you mean {paths[1]}?" in guessed.stderr and guessed.returncode == 1


def test_restore_moves_the_written_drafts_back_to_approved(start_daemon, tmp_path):
    paths = make_photos(tmp_path / "lib", 2)
    seed_drafts(paths)
    start_daemon()
    originals = {p: sha(p) for p in paths}
    with Client("test") as c:
        c.review_batch(E.ApproveAll(selection=E.Selection(paths=tuple(paths))))
        assert iw("review", "commit").returncode == 0
        wait_for(lambda: all(c.review_get(p).status == "committed" for p in paths), what="both committed")
        job = c.jobs()[0].job_id
        restored = iw("metadata", "restore", "--job", job)
        assert restored.returncode == 0, restored.stderr
        assert "2 review draft(s) approved again" in restored.stdout
        for path in paths:
            draft = c.review_get(path)
            assert (draft.status, draft.backup, draft.written) == ("approved", None, None)
            assert sha(path) == originals[path]
        assert iw("review", "commit").returncode == 0  # written again, as approved
        wait_for(lambda: all(c.review_get(p).status == "committed" for p in paths), what="written again")


def test_a_rating_set_elsewhere_is_no_staleness_and_survives_the_next_write(start_daemon, tmp_path):
    paths = make_photos(tmp_path / "lib", 2)
    seed_drafts(paths)
    start_daemon()
    exiftool_write(Path(paths[0]), "-XMP-xmp:Rating=3")  # what Lightroom and digiKam do all day
    Image.new("RGB", (24, 24), (250, 0, 0)).save(paths[1], quality=90)  # the photo itself edited
    with Client("test") as c:
        c.review_batch(E.ApproveAll(selection=E.Selection(paths=tuple(paths))))
        done = iw("review", "commit", "--json")
        assert done.returncode == 3
        actions = {f["path"]: f["action"] for f in json.loads(done.stdout)["files"]}
        assert actions == {paths[0]: "written", paths[1]: "stale"}
        stale = wait_for(lambda: (d := c.review_get(paths[1])).status == "stale" and d, what="marked stale")
        assert "pixels changed" in stale.stale_reason
    tags = exif_one(Path(paths[0]))
    assert tags["XMP-xmp:Rating"] == 3 and tags["XMP-dc:Title"] == "caption 0"


def test_a_draft_knows_what_tag_write_wrote_and_its_next_round_replaces_it(start_daemon, tmp_path):
    [path] = make_photos(tmp_path / "lib", 1)
    start_daemon(IMAGEWORKS_MODEL_NAME="echo")
    tagged = iw("tag", str(tmp_path / "lib"), "--write", "merge")
    assert tagged.returncode == 0, tagged.stderr
    with Client("test") as c:
        draft = wait_for(lambda: (d := c.review_list(str(tmp_path / "lib")).drafts) and d[0], what="the draft")
        assert draft.written is not None and draft.written.caption == exif_one(Path(path))["XMP-dc:Title"]
        edit(c, E.SetCaption(path=path, caption="Reviewed caption"), E.Approve(path=path))
        assert iw("review", "commit").returncode == 0
    assert exif_one(Path(path))["XMP-dc:Title"] == "Reviewed caption"


def test_a_restore_made_while_no_daemon_ran_is_found_at_its_start(start_daemon, tmp_path):
    [path] = make_photos(tmp_path / "lib", 1)
    seed_drafts([path])
    daemon = start_daemon()
    with Client("test") as c:
        edit(c, E.Approve(path=path))
        assert iw("review", "commit").returncode == 0
        committed(c, path)
    daemon.stop()
    restored = iw("metadata", "restore", path)
    assert restored.returncode == 0 and "approved again" not in restored.stdout  # no daemon to tell (none started)
    start_daemon()
    with Client("test") as c:
        back = wait_for(lambda: (d := c.review_get(path)).status == "approved" and d, what="the draft moved back")
        assert back.backup is None and back.written is None
