"""The PUB side of the daemon: each event on its topics (a job's, the daemon's, the review's), signed, never blocking
(a slow subscriber loses events, never stalls the daemon: the Clone pattern's seq lets it catch up)."""

from __future__ import annotations

import contextlib
from typing import Any

import msgspec
import zmq

from imageworks import protocol as P
from imageworks.protocol.frames import send_frames


class EventPublisher:
    def __init__(self, signer: P.Signer, session: str, boot_id: str) -> None:
        self.signer = signer
        self.session = session
        self.boot_id = boot_id
        self.pubs: list[Any] = []
        """The PUB sockets (ipc, and tcp when on); bound by the server, which fills this list."""

    def send(self, topic: bytes, type_: str, body: msgspec.Struct, seq: int | None = None) -> None:
        header = P.make_header(type_, self.session, boot_id=self.boot_id, seq=seq)
        frames = P.encode(self.signer, header, body)
        for pub in self.pubs:
            with contextlib.suppress(zmq.ZMQError):
                send_frames(pub, [topic, *frames])

    def item(self, result: P.ResultRecord) -> None:
        self.send(P.job_topic(result.job_id), "event.job.item", P.JobItemEvent(result=result), result.seq)

    def review(self, event: P.ReviewEvent) -> None:
        self.send(P.REVIEW_TOPIC, "event.review", event, event.seq)

    def state(self, job: P.JobInfo) -> None:
        """On the job's topic and on the daemon's (every client's job list follows it)."""
        for topic in (P.job_topic(job.job_id), P.DAEMON_TOPIC):
            self.send(topic, "event.job.state", P.JobStateEvent(job=job), job.seq)

    def progress(self, event: P.JobProgressEvent) -> None:
        for topic in (P.job_topic(event.job.job_id), P.DAEMON_TOPIC):
            self.send(topic, "event.job.progress", event, event.job.seq)

    def counts(self, job: P.JobInfo) -> None:
        """A running job's counts for every client (followers of the job have its items)."""
        self.send(P.DAEMON_TOPIC, "event.job.progress", P.JobProgressEvent(job=job), job.seq)

    def library(self, event: P.LibraryChanged) -> None:
        self.send(P.LIBRARY_TOPIC, "event.library", event)

    def model(self, state: P.ModelState) -> None:
        self.send(P.DAEMON_TOPIC, "event.model", P.ModelEvent(model=state))
