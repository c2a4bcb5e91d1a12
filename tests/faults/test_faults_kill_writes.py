"""Journal first, then the file: SIGKILL of the daemon in the middle of a tag job's metadata writes, then resume.
Whether the kill lands before the rename or after it, the files and the export agree, no temp file is left, no
keyword is doubled, and each file has one backup. Nothing lost, nothing duplicated. A review commit killed after
its write is recorded by the next daemon with the backup that write took."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from imageworks import metadata as md
from imageworks.client import Client
from imageworks.metadata.atomic import PAUSE_ENV, TEMP_PREFIX
from imageworks.review import edits as E
from imageworks.review.fingerprint import file_fingerprint
from tests.test_metadata_support import needs_exiftool
from tests.test_review_daemon import make_photos, seed_drafts
from tests.test_tag_e2e import exif_subjects, make_shapes
from tests.waiting import wait_for

pytestmark = needs_exiftool


def iw(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "imageworks", *args], capture_output=True, text=True, timeout=240)


def kill_at(daemon, fifo: Path, point: str) -> None:
    with open(fifo, encoding="utf-8") as fh:  # blocks until the daemon's next write reaches the point
        assert fh.readline().strip() == point
    os.kill(daemon.pid, signal.SIGKILL)
    daemon.proc.wait(10)


def no_temps(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX)]


def test_daemon_killed_mid_write_then_resumed_files_and_export_agree(
    start_daemon, trained_model_dir: Path, tmp_path: Path
) -> None:
    pics = tmp_path / "pics"
    images = list(make_shapes(pics, n=4))
    md.apply(md.plan(str(images[0]), md.Proposed(keywords=["mine"]), "overwrite"), backup=False)  # a person's own
    fifo = tmp_path / "pause"
    os.mkfifo(fifo)
    model = str(trained_model_dir)

    # killed before the rename: the file was never written (its backup row is dropped, its temp file removed)
    first = start_daemon(IMAGEWORKS_MODEL_NAME=model, **{PAUSE_ENV: f"before-replace:{fifo}"})
    submitted = iw("tag", str(pics), "--write", "merge", "--profile", "single-pass", "--batch-size", "2", "--detach")
    job_id = submitted.stdout.split("imageworks jobs attach ")[-1].strip()
    kill_at(first, fifo, "before-replace")
    assert not no_temps(pics)  # the interrupted write's temp file is there...

    # killed after the rename, before the result was journaled: the file holds the write, so it is journaled
    second = start_daemon(IMAGEWORKS_MODEL_NAME=model, **{PAUSE_ENV: f"after-replace:{fifo}"})
    assert no_temps(pics)  # ...until the next daemon starts
    assert iw("jobs", "resume", job_id, "--detach").returncode == 0
    kill_at(second, fifo, "after-replace")

    start_daemon(IMAGEWORKS_MODEL_NAME=model)
    with Client("t") as c:
        assert c.attach(job_id).job.done == 1  # the write that reached its file, journaled at start
    resumed = iw("jobs", "resume", job_id)
    assert resumed.returncode == 0, resumed.stderr
    with Client("t") as c:
        assert c.attach(job_id).job.state == "done"
        assert sorted(r.index for r in c.all_results(job_id)) == list(range(len(images)))  # each image once
    exported = iw("jobs", "export", job_id, "--jsonl", "-")
    rows = {Path(row["image"]): row for row in map(json.loads, exported.stdout.splitlines())}
    assert set(rows) == set(images)
    for path in images:
        row = rows[path]
        keywords = [k["keyword"] for k in row["keywords"]]
        in_file = exif_subjects(path)
        assert len(in_file) == len(set(in_file)), in_file  # no keyword doubled
        mine = ["mine"] if path == images[0] else []
        assert in_file == mine + [k for k in keywords if k not in mine], (path, in_file, keywords)  # file == export
        assert md.read(str(path)).caption == row["caption"]
        assert len(md.BackupStore().entries(path=path)) == 1, path  # one backup per file
    assert no_temps(pics)


def test_a_commit_killed_after_its_write_is_recorded_at_start_with_its_backup_link(
    start_daemon, tmp_path: Path
) -> None:
    paths = make_photos(tmp_path / "lib", 2)
    seed_drafts(paths, ("beach", "sea"))
    fifo = tmp_path / "pause"
    os.mkfifo(fifo)

    # killed after the first file's rename, before its result was journaled: only the write intent knows it
    first = start_daemon(**{PAUSE_ENV: f"after-replace:{fifo}"})
    with Client("t") as c:
        c.review_batch(E.ApproveAll(selection=E.Selection()))
        job_id = c.review_commit().job.job_id
        kill_at(first, fifo, "after-replace")
    written = [p for p in paths if md.BackupStore().entries(path=Path(p))]
    assert len(written) == 1, written
    backup = md.BackupStore().entries(path=Path(written[0]))[0]

    start_daemon()  # no rerun, no resume: the restarted daemon settles the intent and records the commit
    with Client("t") as c:
        (result,) = c.all_results(job_id)
        assert (result.record.path, result.record.action) == (written[0], "written")
        assert (result.record.backup_id, result.record.backup_target) == (backup.id, written[0])
        draft = wait_for(
            lambda: (d := c.review_get(written[0])).status == "committed" and d, what="the draft committed"
        )
        assert draft.backup is not None and (draft.backup.backup_id, draft.backup.target) == (backup.id, written[0])
        assert draft.backup.job_id == job_id and draft.fingerprint == file_fingerprint(written[0])
        assert c.review_get(next(p for p in paths if p != written[0])).status == "approved"  # not reached: waits
