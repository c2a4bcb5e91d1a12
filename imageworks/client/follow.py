"""Book-keeping for following a job (the Clone pattern): subscribe to the job's events first, pull the journal's
results page by page, then apply live events, de-duplicating by ``seq``; a periodic re-pull fills any event the
PUB socket dropped. A client restarted mid-job therefore gets every result exactly once."""

from __future__ import annotations

from imageworks import protocol as P


class FollowState:
    """Which seqs were delivered, up to where the journal was pulled, and the job's final state once seen.
    ``progress``: progress events (``JobProgressEvent``) are delivered too, as they come (never replayed)."""

    def __init__(self, after_seq: int, *, progress: bool = False) -> None:
        self.progress = progress
        self.pulled = after_seq
        self.seen: set[int] = set()
        self.final: P.JobInfo | None = None
        self.last_state_seq = -1

    def take_result(self, result: P.ResultRecord) -> bool:
        if result.seq <= 0 or result.seq in self.seen:
            return False
        self.seen.add(result.seq)
        return True

    def take_event(self, msg: P.Message | None) -> tuple[list[P.ResultRecord | P.JobInfo | P.JobProgressEvent], bool]:
        """A live event: (what to deliver, whether the job reached a final state). The final state itself is
        delivered after the last pull from the journal, so no result is missed behind it."""
        if msg is None:
            return [], False
        if isinstance(msg.body, P.JobItemEvent):
            return ([msg.body.result] if self.take_result(msg.body.result) else []), False
        if isinstance(msg.body, P.JobStateEvent):
            if msg.body.job.state in P.FINAL_STATES:
                return [], True
            return ([msg.body.job] if self.take_state(msg.body.job) else []), False
        if isinstance(msg.body, P.JobProgressEvent) and self.progress and msg.body.job.state not in P.FINAL_STATES:
            return [msg.body], False
        return [], False

    def take_state(self, job: P.JobInfo) -> bool:
        if job.seq <= self.last_state_seq:
            return False
        self.last_state_seq = job.seq
        if job.state in P.FINAL_STATES:
            self.final = job
        return True
