"""A running job's progress for every client: its counts are published as a ``JobProgressEvent`` on the daemon's
topic at most every ``PROGRESS_S`` while its items finish (and once more after the last of a burst), so a list of
jobs in any client moves without following each job's item stream. State changes themselves are published at once
by the runner (``JobStateEvent``); this adds only the counts in between."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from imageworks.protocol import JobInfo

PROGRESS_S = 0.5
ACTIVE = frozenset({"queued", "running"})


class ProgressEvents:
    def __init__(self, read: Callable[[str], JobInfo], publish: Callable[[JobInfo], None]) -> None:
        self.read = read
        """The job as the journal has it now (its counts are updated with each result)."""
        self.publish = publish
        self._last: dict[str, float] = {}
        self._pending: dict[str, asyncio.TimerHandle] = {}

    def item_done(self, job_id: str) -> None:
        """(On the daemon's loop) An item of ``job_id`` finished: publish its counts now, or when it is due."""
        if job_id in self._pending:
            return
        wait = self._last.get(job_id, -PROGRESS_S) + PROGRESS_S - time.monotonic()
        if wait <= 0:
            self._publish(job_id)
        else:
            self._pending[job_id] = asyncio.get_running_loop().call_later(wait, self._publish, job_id)

    def _publish(self, job_id: str) -> None:
        self._pending.pop(job_id, None)
        self._last[job_id] = time.monotonic()
        try:
            job = self.read(job_id)
        except Exception:  # the journal cannot be read now: the next item (or the final state) says it
            return
        if job.state in ACTIVE:
            self.publish(job)
        else:
            self._last.pop(job_id, None)  # its final state went out already, with the final counts
