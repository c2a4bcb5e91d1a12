"""What a job kind is: the pure logic of what a job does per item, which the daemon's runner drives.

A kind checks a job at submit time (``validate``), turns its params and the loaded model into a per-job plan
once (``prepare``), and turns each item into a task (``make_task``) that yields one or more rounds of inference
requests and, when done, one typed record (``imageworks.jobs.records``). ``finalize`` then does the item's I/O
(writing metadata) in a daemon thread before the record is journaled. The runner batches requests across items
(so three-step tagging shares batches between images) and never knows what the requests mean.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import msgspec

from imageworks.errors import ImageWorksError
from imageworks.inference import GenRequest, GenResult
from imageworks.jobs.records import JobRecord

if TYPE_CHECKING:
    from imageworks.review.rounds import Recalled

PlanT = TypeVar("PlanT")
T = TypeVar("T")


class BadJobParams(ImageWorksError):
    """A job's params or items are invalid; the daemon answers ``bad_request`` with this message."""

    code = "bad_request"


def convert_params(value: Any, kind: type[T], what: str) -> T:
    """``value`` as ``kind`` (msgspec), or BadJobParams naming ``what`` (e.g. "scan job") and why."""
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError as exc:
        raise BadJobParams(f"{what}: {exc}") from None


class ItemTask(Protocol):
    """The work for one item. The runner calls ``next_requests``, runs them, then ``feed``s the results back
    in the same order, until ``done``; then it journals ``record()``."""

    @property
    def done(self) -> bool: ...

    def next_requests(self) -> list[GenRequest]: ...

    def feed(self, results: list[GenResult]) -> None: ...

    def record(self) -> JobRecord: ...


class WriteIntents(Protocol):
    """Journal first, then the file: what ``finalize`` tells the journal around a write (the daemon's
    ``daemon.intents.IntentLog``, bound to one item), and what it asks the review before one (``recall``)."""

    def recall(self, path: str) -> Recalled:
        """What ImageWorks last wrote into ``path``, as the review remembers it: every write plans against it
        (``review.rounds``)."""
        ...

    def planned(self, target: str, record: JobRecord) -> None:
        """Before writing ``target``: the record to journal once it holds the write."""
        ...

    def ready(self, sha256: str, backup_id: int | None) -> None:
        """Just before the rename: the new bytes' digest and the backup taken."""
        ...


class JobKind(Protocol[PlanT]):
    name: str

    @property
    def record_type(self) -> type[JobRecord]:
        """The kind's record; ``record_type(error=...)`` is the bare failure the runner journals for a lost item."""
        ...

    uses_model: bool
    """False for a kind that never asks the model (``commit``): the runner does not load one for it."""

    def validate(self, items: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        """Check items and params at submit time; return params with defaults filled. Raise BadJobParams."""
        ...

    def prepare(self, params: dict[str, Any], model: dict[str, Any]) -> PlanT:
        """Once per job run: the validated params (as journaled) and the loaded model's info (name, revision,
        ...) made into what every item's task shares."""
        ...

    def make_task(self, item: dict[str, Any], plan: PlanT) -> ItemTask: ...

    def finalize(self, record: Any, plan: PlanT, job_id: str, intents: WriteIntents) -> JobRecord:
        """Per-item I/O in a daemon thread before the record is journaled; its outcome goes into the returned
        record (a kind with none returns ``record``). A file write journals its intent first, through ``intents``."""
        ...

    # Optional: ``finalizes(plan) -> bool``, False when ``finalize`` does nothing for this plan (echo; tag without
    # --write): the runner then skips the thread hop, whose wake-ups cost every other request on the daemon's loop
    # a GIL hand-over. A kind without it is finalized in a thread.
