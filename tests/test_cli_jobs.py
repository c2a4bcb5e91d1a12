"""`imageworks jobs` against a real daemon (echo backend)."""

from __future__ import annotations

import json
import subprocess
import sys

from imageworks import protocol as P
from imageworks.client import Client


def iw(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "imageworks", *args], capture_output=True, text=True, timeout=60)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_jobs_list_attach_export_cancel(start_daemon, tmp_path):
    start_daemon(IMAGEWORKS_MODEL_NAME="echo")
    with Client("t") as c:
        job = c.submit("echo", [{"text": f"n{i}"} for i in range(5)]).job
        list(c.follow(job.job_id))
    listed = json.loads(iw("jobs", "--json").stdout)
    assert [j["job_id"] for j in listed] == [job.job_id]
    assert listed[0]["state"] == "done" and listed[0]["done"] == 5

    lines = iw("jobs", "attach", job.job_id, "--json").stdout.splitlines()
    assert sorted(json.loads(line)["index"] for line in lines) == list(range(5))

    out = tmp_path / "out.jsonl"
    iw("jobs", "export", job.job_id, "--jsonl", str(out))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["output"] for r in rows] == [f"echo: n{i}" for i in range(5)]
    again = iw("jobs", "export", job.job_id, "--jsonl", str(out), check=False)
    assert again.returncode == 1 and "exists" in again.stderr and "Traceback" not in again.stderr

    missing = iw("jobs", "attach", "nope", check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip().startswith("error: unknown_job")


def test_jobs_cancel_and_resume(start_daemon):
    start_daemon(IMAGEWORKS_MODEL_NAME="echo:delay=0.1")
    with Client("t") as c:
        job = c.submit("echo", [{"text": f"n{i}"} for i in range(30)], batch_size=1).job
        for ev in c.follow(job.job_id):
            if isinstance(ev, P.ResultRecord):
                break
    info = json.loads(iw("jobs", "cancel", job.job_id, "--json").stdout)
    assert info["state"] == "cancelled"
    lines = iw("jobs", "resume", job.job_id, "--json").stdout.splitlines()
    resumed = {json.loads(line)["index"] for line in lines}
    with Client("t") as c:
        final = c.attach(job.job_id).job
        assert final.state == "done" and final.done == 30
        assert resumed == set(range(30))  # following shows every result once, old and new
        # only the missing items ran again, plus at most the round in flight at cancel, whose results
        # were dropped (the runner's window is 2 x batch_size = 2 requests)
        assert 30 <= c.status().counters.inferences <= 32


def test_ctrl_c_during_tag_detaches_and_the_job_runs_on(start_daemon, tmp_path):
    import signal

    from PIL import Image

    folder = tmp_path / "pics"
    folder.mkdir()
    for i in range(12):
        Image.new("RGB", (16, 16), (i * 20, 0, 0)).save(folder / f"{i}.png")
    start_daemon(IMAGEWORKS_MODEL_NAME="echo:delay=0.1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "imageworks", "tag", str(folder), "--batch-size", "1", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None  # stdout=PIPE
    first = proc.stdout.readline()  # a result arrived: the job is running
    assert json.loads(first)["status"] == "ok"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "detached" in err and "Traceback" not in err
    with Client("t") as c:
        job = next(j for j in c.jobs() if j.kind == "tag")  # (the walk before it is a scan job)
        final = [e for e in c.follow(job.job_id) if isinstance(e, P.JobInfo)][-1]
        assert final.state == "done" and final.done == 12  # Ctrl-C did not cancel it
