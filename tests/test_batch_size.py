"""One batching authority, seen from outside (a real daemon, echo backend): a job's batch size is honoured up to
the model's, a larger one is refused at submit with a clear message (the CLI shows it), and what the job and
`daemon status` show is the size really used."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from imageworks.client import Client
from imageworks.errors import DaemonError
from tests.waiting import wait_for


def items(n: int) -> list[dict]:
    return [{"text": f"item {i}"} for i in range(n)]


def iw(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "imageworks", *args], capture_output=True, text=True, timeout=120)


def test_a_jobs_batch_size_is_honoured_up_to_the_models_and_a_larger_one_refused(start_daemon):
    start_daemon(IMAGEWORKS_MODEL_NAME="echo", IMAGEWORKS_MODEL_BATCH_SIZE="4")
    with Client("t") as c:
        with pytest.raises(DaemonError) as err:
            c.submit("echo", items(10), batch_size=8)
        assert err.value.code == "bad_request"
        assert "batch size 8 is larger than the model's 4" in str(err.value)
        assert c.jobs() == []  # refused before anything was journaled

        smaller = c.submit("echo", items(10), batch_size=3).job
        assert smaller.batch_size == 3
        list(c.follow(smaller.job_id))
        st = c.status()
        assert st.model.batch_size == 4
        assert st.counters.largest_batch == 3  # the job's size, not the model's

        default = c.submit("echo", items(10)).job
        assert default.batch_size == 4  # asked for none: the model's, and the job says so
        list(c.follow(default.job_id))
        st = c.status()
        assert st.counters.largest_batch == 4 and st.counters.inferences == 20


def test_status_shows_the_batch_size_in_use_and_tag_refuses_a_larger_one(start_daemon, tmp_path: Path):
    start_daemon(IMAGEWORKS_MODEL_NAME="echo:delay=0.2", IMAGEWORKS_MODEL_BATCH_SIZE="4")
    with Client("t") as c:
        job = c.submit("echo", items(40), batch_size=2).job
        wait_for(lambda: c.attach(job.job_id).job.state == "running", timeout=60, what="the job to run")
        shown = iw("daemon", "status")
        c.cancel(job.job_id)
    assert shown.returncode == 0, shown.stderr
    assert "batches of up to 4" in shown.stdout
    assert f"running job: {job.job_id} (echo, batch 2) " in shown.stdout

    (tmp_path / "pics").mkdir()
    Image.new("RGB", (32, 32), "red").save(tmp_path / "pics" / "red.jpg")
    refused = iw("tag", str(tmp_path / "pics"), "--batch-size", "32")
    assert refused.returncode == 1
    assert "batch size 32 is larger than the model's 4" in refused.stderr
    assert "Traceback" not in refused.stderr
    with Client("t") as c:
        assert "tag" not in [j.kind for j in c.jobs()]  # the tag job was never queued (its scan may have run)
