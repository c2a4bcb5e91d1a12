"""CPU job kinds in the daemon (real daemon, real pool processes, real JPEG/PNG files): a ``hash`` job runs in the
pool beside a tag job, journals typed records, fills the similarity cache (the daemon writes it), is listed and
exported like any job, can be cancelled and resumed, survives a daemon kill, and a pool worker killed mid-item fails
that item alone."""

from __future__ import annotations

import base64
import json
import os
import signal
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from imageworks import protocol as P
from imageworks.cli import main
from imageworks.client import Client
from imageworks.jobs.records import HashRecord
from imageworks.similarity.cache import Fingerprint, SimilarityCache
from imageworks.similarity.hashing import hash_image
from tests.job_support import follow_to_end, killed_then_resumed
from tests.typed_records import records_of
from tests.waiting import wait_for

POOL = "2"


def make_jpegs(folder: Path, n: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"p{i:04d}.jpg"
        Image.new("RGB", (64, 48), (i * 37 % 256, i * 11 % 256, 255 - i % 256)).save(path, quality=80)
        paths.append(str(path))
    return paths


def make_slow_pngs(folder: Path, n: int, side: int = 2400) -> list[str]:
    """PNGs decoded at full size (no JPEG draft mode): each item takes a noticeable fraction of a second."""
    folder.mkdir(parents=True, exist_ok=True)
    gradient = Image.linear_gradient("L").resize((side, side))
    paths = []
    for i in range(n):
        path = folder / f"slow{i:03d}.png"
        Image.merge("RGB", (gradient, gradient.rotate(90 * (i % 4)), gradient)).save(path, compress_level=1)
        paths.append(str(path))
    return paths


def test_a_hash_job_runs_in_the_pool_with_typed_records_stored_by_the_daemon(start_daemon, tmp_path) -> None:
    photos = make_jpegs(tmp_path / "lib", 12)
    empty = tmp_path / "lib" / "empty.jpg"
    empty.write_bytes(b"")
    start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS=POOL)
    with Client() as c:
        assert c.status().cpu.workers == []  # started with the first CPU job, not before
        job = c.submit("hash", [{"path": p} for p in [*photos, str(empty)]], {"hash_size": 8}).job
        assert job.kind == "hash" and job.total == 13
        final, results = follow_to_end(c, job.job_id)
        assert final.state == "done" and final.done == 13 and final.failed == 0
        records = {r.path: r for r in records_of(results, HashRecord)}
        assert records[photos[3]].digest == hash_image(photos[3])
        assert records[str(empty)].digest is None and records[str(empty)].problem == "empty file"
        pids = {w.pid for w in c.status().cpu.workers}
        assert len(pids) == 2

        again = c.submit("hash", [{"path": p} for p in photos[:4]]).job
        assert follow_to_end(c, again.job_id)[0].state == "done"
        status = c.status()
        assert {w.pid for w in status.cpu.workers} == pids  # the same processes, reused
        assert sum(w.items for w in status.cpu.workers) == 17
        listed = {j.job_id: j for j in c.jobs()}
        assert listed[job.job_id].kind == "hash" and listed[again.job_id].done == 4
    shown = CliRunner().invoke(main, ["daemon", "status"])
    assert "cpu pool: 2 processes (2 started, 0 busy); cpu jobs: -" in shown.stdout
    exported = CliRunner().invoke(main, ["jobs", "export", job.job_id, "--jsonl", "-"])
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert exported.exit_code == 0 and len(rows) == 13 and rows[3]["kind"] == "hash"
    assert base64.b64decode(rows[3]["digest"]) == hash_image(photos[3])  # exported like any job's results

    # the similarity cache holds what the daemon stored, keyed by the files as they are
    with SimilarityCache() as cache:
        stats = [os.stat(p) for p in photos]
        found = cache.cached_hashes(
            [Fingerprint(p, st.st_size, st.st_mtime_ns) for p, st in zip(photos, stats, strict=True)], "phash", 8
        )
    assert found[photos[0]] == (hash_image(photos[0]), None) and len(found) == 12


def test_bad_hash_params_are_refused_at_submit(start_daemon) -> None:
    from imageworks.errors import DaemonError

    start_daemon()
    with Client() as c:
        with pytest.raises(DaemonError) as refused:
            c.submit("hash", [{"path": "/x.jpg"}], {"hash_size": 3})
        assert refused.value.code == "bad_request" and "hash_size" in str(refused.value)
        with pytest.raises(DaemonError) as refused:
            c.submit("hash", [{"name": "x"}])
        assert "item 0" in str(refused.value)


def test_a_cpu_job_runs_while_a_tag_job_runs(start_daemon, tmp_path) -> None:
    photos = make_jpegs(tmp_path / "lib", 40)
    slow = make_slow_pngs(tmp_path / "slow", 16)
    start_daemon(IMAGEWORKS_MODEL_NAME="echo:delay=0.2", IMAGEWORKS_DAEMON_CPU_WORKERS=POOL)
    with Client() as c:
        items = [{"path": p, "size": os.path.getsize(p), "mtime_ns": 0} for p in photos]
        tag = c.submit("tag", items, batch_size=1).job
        wait_for(lambda: c.status().running_job == tag.job_id, timeout=60, what="the tag job to run")
        hashing = c.submit("hash", [{"path": p} for p in slow]).job

        def both_running() -> bool:
            status = c.status()
            return status.running_job == tag.job_id and hashing.job_id in status.cpu.running_jobs

        wait_for(both_running, timeout=60, what="the hash job to run beside the tag job")
        assert follow_to_end(c, hashing.job_id)[0].state == "done"
        assert c.cancel(tag.job_id).state == "cancelled"


def test_cancel_stops_a_cpu_job_and_resume_finishes_it_once_each(start_daemon, tmp_path) -> None:
    slow = make_slow_pngs(tmp_path / "slow", 24)
    start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS=POOL)
    with Client() as c:
        job = c.submit("hash", [{"path": p} for p in slow]).job
        wait_for(lambda: c.attach(job.job_id).job.done >= 2, timeout=120, what="two items hashed")
        cancelled = c.cancel(job.job_id)
        assert cancelled.state == "cancelled" and cancelled.done < 24
        assert c.resume(job.job_id).created
        final, results = follow_to_end(c, job.job_id)
        assert final.state == "done" and final.done == 24
        assert sorted(r.index for r in results) == list(range(24))  # every item journaled once


def test_a_killed_daemon_leaves_the_cpu_job_resumable(start_daemon, tmp_path) -> None:
    killed_then_resumed(start_daemon, "hash", make_slow_pngs(tmp_path / "slow", 24), POOL, "two items hashed")


def test_a_pool_worker_killed_mid_item_fails_that_item_alone(start_daemon, tmp_path) -> None:
    slow = make_slow_pngs(tmp_path / "slow", 12, side=3200)
    start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS=POOL)
    with Client() as c:
        job = c.submit("hash", [{"path": p} for p in slow]).job

        def busy_worker() -> P.CpuWorkerInfo | None:
            return next((w for w in c.status().cpu.workers if w.job_id == job.job_id and w.item), None)

        victim = wait_for(busy_worker, timeout=60, what="a worker on an item")
        os.kill(victim.pid, signal.SIGKILL)
        final, results = follow_to_end(c, job.job_id)
        assert final.state == "done" and final.done + final.failed == 12 and final.failed <= 1
        failed = [r for r in results if r.status != "ok"]
        if failed:  # the item it held (unless it had just finished it when it was killed)
            error = records_of(failed, HashRecord)[0].error or ""
            assert victim.item and victim.item in error and "killed by SIGKILL" in error
        again = c.submit("hash", [{"path": p} for p in slow[:3]]).job
        assert follow_to_end(c, again.job_id)[0].state == "done"  # the pool serves on, with a fresh worker
        status = c.status()
        assert status.cpu.crashes == len(failed) and len(status.cpu.workers) == 2
        assert victim.pid not in {w.pid for w in status.cpu.workers}


def test_the_tui_shows_a_cpu_jobs_results_as_rows() -> None:
    from imageworks.jobs.records import MoveRecord, ScanRecord
    from imageworks.tui.store import ResultRow

    for record in (
        HashRecord(status="ok", path="/p/a.jpg", digest=b"\x01" * 8),
        ScanRecord(status="ok", root="/p", files=3),
        MoveRecord(status="ok", path="/p/a.jpg", to="/p-rejects/a.jpg"),
    ):
        result = P.ResultRecord(job_id="j", index=0, seq=1, status="ok", record=record, item={"path": "/p/a.jpg"})
        row = ResultRow.from_result(result)
        assert row.path == getattr(record, "path", "") or ("/p/a.jpg" and row.caption == "" and row.status == "ok")
