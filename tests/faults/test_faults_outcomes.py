"""Honest outcomes of `imageworks tag`: a file edited between the scan and the tagging is tagged and written; the
summary counts written / unchanged by policy / not written (one line each) / failed; the exit status says whether
everything asked for happened; a daemon killed mid-request is named as gone, with the resume command. Each test
checks that no image is lost or counted twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from PIL import Image

from imageworks import metadata as md
from imageworks.client import Client
from imageworks.tagging.outcomes import EXIT_OK, EXIT_PARTIAL, EXIT_STOPPED, TagOutcomes, summary_lines
from tests.test_metadata_support import make_jpeg, needs_exiftool
from tests.waiting import wait_for


def iw(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "imageworks", *args], capture_output=True, text=True, timeout=120)


def outcomes_of(proc: subprocess.CompletedProcess[str]) -> dict:
    return json.loads(proc.stdout.strip().splitlines()[-1])["outcomes"]


@needs_exiftool
def test_a_file_edited_between_scan_and_tag_is_tagged_and_written(start_daemon, tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    photos = [make_jpeg(lib / f"p{i}.jpg") for i in range(3)]
    start_daemon(IMAGEWORKS_MODEL_NAME="echo")
    assert iw("scan", str(lib)).returncode == 0  # the scan cache now holds each file's size and mtime
    make_jpeg(photos[1], size=(120, 80))  # edited afterwards: another size and mtime
    proc = iw("tag", str(lib), "--write", "merge", "--json")
    assert proc.returncode == EXIT_OK, proc.stdout + proc.stderr
    assert outcomes_of(proc) | {"not_written": None} == {
        "tagged": 3,
        "failed": 0,
        "written": 3,
        "unchanged_by_policy": 0,
        "planned": 0,
        "not_written": None,
        "partly_written": [],
    }
    for photo in photos:
        assert (md.read(str(photo)).caption or "").startswith("echo: ")  # written, the edited one too
        assert len(md.BackupStore().entries(path=photo)) == 1


@needs_exiftool
def test_exit_status_and_summary_say_what_happened(start_daemon, tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    fine = make_jpeg(lib / "fine.jpg")
    locked = make_jpeg(lib / "locked.jpg")
    locked.chmod(0o444)  # read-only: tagged, not written
    (lib / "broken.jpg").write_bytes(fine.read_bytes()[:200])  # truncated: fails
    start_daemon(IMAGEWORKS_MODEL_NAME="echo")

    proc = iw("tag", str(lib), "--write", "merge")
    assert proc.returncode == EXIT_PARTIAL, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    failed = [line for line in lines if line.startswith("failed: ")]
    not_written = [line for line in lines if line.startswith("not written: ")]
    assert len(failed) == 1 and failed[0].startswith(f"failed: {lib / 'broken.jpg'}: ")  # one line each
    assert len(not_written) == 1 and not_written[0].startswith(f"not written: {locked}: ")
    assert "tagged 2, failed 1; metadata (merge): written 1, unchanged by policy 0, not written 1" in proc.stdout

    (lib / "broken.jpg").unlink()
    locked.unlink()
    skipped = iw("tag", str(lib), "--write", "skip", "--json", "--refresh")  # fine.jpg holds a caption now
    assert skipped.returncode == EXIT_OK, skipped.stdout + skipped.stderr
    assert outcomes_of(skipped)["unchanged_by_policy"] == 1 and outcomes_of(skipped)["written"] == 0


def test_a_cancelled_job_exits_4_and_says_how_to_resume(start_daemon, tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    for i in range(30):
        Image.new("RGB", (8, 8), (i, 0, 0)).save(lib / f"{i}.png")
    start_daemon(IMAGEWORKS_MODEL_NAME="echo:delay=0.2")
    tagger = subprocess.Popen(
        [sys.executable, "-m", "imageworks", "tag", str(lib), "--batch-size", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with Client("t") as c:
        job_id = wait_for(lambda: next((j.job_id for j in c.jobs() if j.kind == "tag"), None), what="the job")
        wait_for(lambda: c.attach(job_id).job.done >= 1, what="a first result")
        c.cancel(job_id)
    out, err = tagger.communicate(timeout=60)
    assert tagger.returncode == EXIT_STOPPED, out + err
    assert f"imageworks jobs resume {job_id}" in err


def test_a_daemon_killed_mid_request_is_named_as_gone_with_the_resume_command(start_daemon, tmp_path: Path) -> None:
    daemon = start_daemon(IMAGEWORKS_MODEL_NAME="echo:delay=0.5")
    with Client("t") as c:
        job_id = c.submit("echo", [{"text": str(i)} for i in range(40)], batch_size=1).job.job_id
    attach = subprocess.Popen(
        [sys.executable, "-m", "imageworks", "jobs", "attach", job_id],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with Client("t") as c:
        wait_for(lambda: c.attach(job_id).job.done >= 1, what="a first result")
    os.kill(daemon.pid, signal.SIGKILL)
    daemon.proc.wait(10)
    out, err = attach.communicate(timeout=20)  # the old client waited 3 x 10 s, then blamed a timeout
    assert attach.returncode == 1, out + err
    assert f"the daemon (pid {daemon.pid}) is gone" in err and f"imageworks jobs resume {job_id}" in err
    assert "Traceback" not in err


def test_the_summary_names_at_most_ten_per_kind_and_counts_the_rest() -> None:
    outcomes = TagOutcomes(tagged=5, written=2, unchanged=1)
    outcomes.not_written = [(f"/p/{i}.jpg", "read-only") for i in range(12)]
    lines = summary_lines(outcomes, "merge", "J")
    assert lines[:10] == [f"not written: /p/{i}.jpg: read-only" for i in range(10)]
    assert lines[10] == "not written: 2 more (all of them: imageworks jobs export J --jsonl -)"
    assert lines[11] == "tagged 5, failed 0; metadata (merge): written 2, unchanged by policy 1, not written 12"
