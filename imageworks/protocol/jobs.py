"""Job messages: submit, attach, results, cancel, list, their replies, and the events a job publishes (each item's
result, its state changes, its progress). A job's ``seq`` grows with every result and state change, so a client that
missed events asks for the results after the last seq it saw (the Clone pattern)."""

from __future__ import annotations

from typing import Any

import msgspec

from imageworks.jobs.records import AnyOutcome, AnyRecord

JOB_STATES = ("queued", "running", "done", "cancelled", "failed", "interrupted")
FINAL_STATES = frozenset({"done", "cancelled", "failed", "interrupted"})


def job_topic(job_id: str) -> bytes:
    return b"job:" + job_id.encode()


# ---- requests -------------------------------------------------------------------------------------------------


class JobSubmit(msgspec.Struct, kw_only=True):
    kind: str
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {}
    model: str = ""
    """Empty = whatever is loaded (or the configured/demo model if none is)."""
    batch_size: int = 0
    """At most this many of the job's items in one model batch; 0 = the model's batch size. More than the model's
    (``ModelState.batch_size``) is refused."""
    idempotency_key: str = ""
    """A retried submit with the same key returns the first job instead of starting a second."""
    resume: str = ""
    """Job id of an interrupted/failed/cancelled job to continue, skipping items already done."""


class JobAttach(msgspec.Struct, kw_only=True):
    job_id: str


class JobResults(msgspec.Struct, kw_only=True):
    job_id: str
    after_seq: int = 0
    limit: int = 500


class JobCancel(msgspec.Struct, kw_only=True):
    job_id: str


class JobList(msgspec.Struct, kw_only=True):
    limit: int = 50


# ---- replies and events ---------------------------------------------------------------------------------------


class ItemSpeed(msgspec.Struct, kw_only=True):
    """How fast the loaded model does one job kind's items, measured by the runner from the moment the model was
    ready in each run (never its load or training) to each item's end."""

    items: int
    """Items timed."""
    seconds: float
    """The time they took, runs added up."""
    runs: int
    """Job runs they come from."""
    spread: float = 0.0
    """How far the runs' own speeds lie from the mean (relative standard deviation; 0 with one run)."""

    @property
    def per_second(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else 0.0


class JobInfo(msgspec.Struct, kw_only=True):
    job_id: str
    kind: str
    state: str
    model: str
    total: int
    done: int
    failed: int
    seq: int
    created: float
    updated: float
    started: float | None = None
    finished: float | None = None
    error: str = ""
    params: dict[str, Any] = {}
    boot_id: str = ""
    batch_size: int = 0
    """The batch size the job runs with (what it asked for, or the model's when it asked for none)."""
    outcome: AnyOutcome | None = None
    """What a CPU kind's job-level step found (``CpuKind.conclude``: a similarity search's counts); None until then."""
    speed: ItemSpeed | None = None
    """While it runs (progress events, ``status``): how fast this run does its items since the model was ready."""


class JobSubmitted(msgspec.Struct, kw_only=True):
    job: JobInfo
    created: bool


class JobSnapshot(msgspec.Struct, kw_only=True):
    job: JobInfo
    seq: int


class ResultRecord(msgspec.Struct, kw_only=True):
    job_id: str
    index: int
    seq: int
    status: str
    record: AnyRecord
    """The kind's typed record, tagged by kind (a tagged union, so it is decoded with the message)."""
    item: dict[str, Any] = {}


class JobResultsPage(msgspec.Struct, kw_only=True):
    job_id: str
    results: list[ResultRecord]
    last_seq: int
    more: bool


class JobListReply(msgspec.Struct, kw_only=True):
    jobs: list[JobInfo]


class JobItemEvent(msgspec.Struct, kw_only=True):
    result: ResultRecord


class JobStateEvent(msgspec.Struct, kw_only=True):
    job: JobInfo


class JobProgressEvent(msgspec.Struct, kw_only=True):
    """How a running job moves between its state changes: its counts and its run's speed (on the daemon topic at
    most every 0.5 s, so every client's list of jobs moves without following each job's items), and what a CPU job
    does now (a walk's files so far, a job-level step). Rate-limited, never journaled; the job's state and results
    stay the truth."""

    job: JobInfo
    message: str = ""
    """What it does now: "hashing", "walking: 1,234 images", "searching neighbours"…"""
    done: int = 0
    total: int = 0
    """Within ``message``'s step (0, 0 when it has no count)."""
