"""Following daemon jobs in tests: to their end (the final state and every record), and through a daemon killed
mid-job (the journal keeps it resumable). Real daemons, started by the ``start_daemon`` fixture."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

from imageworks import protocol as P
from imageworks.client import Client
from tests.waiting import wait_for


def follow_to_end(c: Client, job_id: str) -> tuple[P.JobInfo, list[P.ResultRecord]]:
    """The job's final state and every record it published, following it until it ends."""
    results: list[P.ResultRecord] = []
    final = c.attach(job_id).job
    for event in c.follow(job_id):
        if isinstance(event, P.ResultRecord):
            results.append(event)
        else:
            final = event
    return final, results


def killed_then_resumed(
    start_daemon: Callable[..., Any], kind: str, paths: list[str], pool: str, what: str
) -> list[P.ResultRecord]:
    """Run ``kind`` over ``paths``; once two are done, SIGKILL the daemon's process group; start a new daemon, check
    the job reads ``interrupted`` part-way, resume it and follow it to the end: done, nothing failed, every item
    journaled once. Returns its records."""
    daemon = start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS=pool)
    with Client() as c:
        job = c.submit(kind, [{"path": p} for p in paths]).job
        wait_for(lambda: c.attach(job.job_id).job.done >= 2, timeout=120, what=what)
    os.killpg(daemon.proc.pid, signal.SIGKILL)
    daemon.proc.wait()
    start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS=pool)
    with Client() as c:
        before = c.attach(job.job_id).job
        assert before.state == "interrupted" and 2 <= before.done < len(paths)
        c.resume(job.job_id)
        final, results = follow_to_end(c, job.job_id)
    assert final.state == "done" and final.done == len(paths) and final.failed == 0
    assert sorted(r.index for r in results) == list(range(len(paths)))  # every item journaled once
    return results
