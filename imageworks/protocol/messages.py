"""Message types: the header, every request, reply and event body, and the tables that name them.

Three layers, kept apart as jupyter_client does:
- *session*: who is talking (``session`` id per client process, ``boot_id`` per daemon start) and the signing key;
- *message*: a ``Header`` (msg_id, type, parent_id, session, boot_id, seq, version, date) plus a typed body (here);
- *channel*: the sockets (ROUTER/DEALER for requests, PUB/SUB for events) live in daemon/server.py and client/.

Encoding, signing and the replay guard are in wire.py. A reply's header echoes the request's ``msg_id`` as
``parent_id``. Events carry a per-job ``seq`` so a client that missed some asks for a snapshot (Clone pattern)
instead of guessing.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from imageworks.jobs.records import AnyRecord
from imageworks.protocol.review import REVIEW_EVENT_TYPES, REVIEW_REPLY_TYPES, REVIEW_REQUEST_TYPES

PROTOCOL_VERSION = 1

JOB_STATES = ("queued", "running", "done", "cancelled", "failed", "interrupted")
FINAL_STATES = frozenset({"done", "cancelled", "failed", "interrupted"})


class Header(msgspec.Struct, frozen=True, kw_only=True):
    msg_id: str
    type: str
    session: str
    date: float
    version: int = PROTOCOL_VERSION
    parent_id: str | None = None
    boot_id: str | None = None
    seq: int | None = None


# ---- request bodies -------------------------------------------------------------------------------------------


class Hello(msgspec.Struct, kw_only=True):
    """Registers the sender's session (one per client process) as a live client until ``bye`` or expiry."""

    client: str = "unknown"
    protocol_version: int = PROTOCOL_VERSION
    pid: int = 0


class Ping(msgspec.Struct, kw_only=True):
    pass


class StatusRequest(msgspec.Struct, kw_only=True):
    pass


class ModelLoad(msgspec.Struct, kw_only=True):
    name: str = ""
    """Empty = the configured model, or the demo model when none is configured."""
    slot: str = "vlm"
    """Which model slot: ``vlm`` (generation) or ``embed`` (image embeddings); each holds its own model."""


class ModelUnload(msgspec.Struct, kw_only=True):
    slot: str = "vlm"


class ModelSwitch(msgspec.Struct, kw_only=True):
    name: str
    slot: str = "vlm"


class ModelEmbed(msgspec.Struct, kw_only=True):
    """Embed images with the ``embed`` slot's model. Never loads one: refused (``no_model``) when the slot is empty,
    ``model_mismatch`` when ``model`` is given and another is loaded."""

    images: list[str] = []
    """Paths on the daemon's machine; an unreadable one fails alone (its ``errors`` entry says why)."""
    model: str = ""
    """The model the caller expects (its vectors are cached under this name); empty = whatever is loaded."""


class JobSubmit(msgspec.Struct, kw_only=True):
    kind: str
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {}
    model: str = ""
    """Empty = whatever is loaded (or the configured/demo model if none is)."""
    batch_size: int = 0
    """0 = the daemon's configured batch size."""
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


class Shutdown(msgspec.Struct, kw_only=True):
    pass


class Bye(msgspec.Struct, kw_only=True):
    """The client process is going away: drop its session from the live clients at once."""


# ---- reply and event bodies -----------------------------------------------------------------------------------


class Error(msgspec.Struct, kw_only=True):
    code: str
    """bad_request, unknown_type, version_mismatch, overloaded, unknown_job, unknown_model, model_mismatch,
    model_error, internal."""
    message: str


class Ok(msgspec.Struct, kw_only=True):
    message: str = ""


class HelloReply(msgspec.Struct, kw_only=True):
    daemon_version: str
    protocol_version: int
    boot_id: str
    pid: int


class Pong(msgspec.Struct, kw_only=True):
    boot_id: str
    time: float


class WorkerInfo(msgspec.Struct, kw_only=True):
    """One model worker of a slot, as ``status`` shows it."""

    id: str
    node: str
    """Where it runs: a host name for a local process, a Ray node id for an actor."""
    pid: int = 0
    state: str = "loading"
    """loading, loaded, restarting (a Ray actor being restarted by Ray), exited."""
    inferences: int = 0
    """Requests it has answered."""
    last_error: str = ""
    """The last failure of a whole batch on it (a crash, a lost actor); empty when none."""


class ModelState(msgspec.Struct, kw_only=True):
    name: str = ""
    state: str = "none"
    """none, loading, loaded, unloading, failed, crashed."""
    loaded: bool = False
    error: str = ""
    info: dict[str, Any] = {}
    demo: bool = False
    """True when this is the bundled tiny demo model, not a real one (UIs label it)."""
    worker_pid: int = 0
    slot: str = "vlm"
    """The model slot this state is of (``vlm``, ``embed``): model events of every slot share one topic."""
    progress: float = -1.0
    """While loading: 0..1 where the backend reports it (the demo model's first-run training), else -1."""
    message: str = ""
    """While loading: what is happening, e.g. "training the demo model (first run only)… 35%"."""
    workers: list[WorkerInfo] = []
    """In ``status`` replies: each worker of the slot."""


class Embeddings(msgspec.Struct, kw_only=True):
    """The reply to ``model.embed``: one entry per image, in order."""

    model: str
    revision: str
    """The loaded checkpoint's revision (HF commit, or a hash of a local dir's files): part of a cache key."""
    dim: int
    vectors: list[bytes]
    """L2-normalised float32 values, little-endian; empty where ``errors`` has a message."""
    errors: list[str]
    """Empty where the image was embedded."""


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


class JobSubmitted(msgspec.Struct, kw_only=True):
    job: JobInfo
    created: bool


class ReviewCommitReply(msgspec.Struct, kw_only=True):
    """What ``review.commit`` did: the ``commit`` job it queued, or none (``job`` None) when the selection held no
    draft to write. (Here, not in ``protocol.review``: it holds a ``JobInfo``.)"""

    job: JobInfo | None
    drafts: int
    """Drafts the job writes (approved ones; pending ones too unless ``approved_only``)."""
    pending: int
    """Pending drafts of the selection left out by ``approved_only`` (0 when they were included)."""


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


class Counters(msgspec.Struct, kw_only=True):
    model_loads: int = 0
    inferences: int = 0
    jobs: int = 0
    clients: int = 0
    requests: int = 0
    rejected_frames: int = 0
    embed_requests: int = 0
    """``model.embed`` requests answered (images embedded are in the embed slot's workers' ``inferences``)."""
    batches: int = 0
    """Generation batches sent to the vlm slot's workers (job items and OpenAI-endpoint requests together)."""
    largest_batch: int = 0
    shared_batches: int = 0
    """Batches that held both a job's items and endpoint requests."""


class OpenAIStatus(msgspec.Struct, kw_only=True):
    """The OpenAI-compatible endpoint, when it runs (never its key)."""

    url: str
    requests: int = 0
    """HTTP requests that passed the key check."""
    completions: int = 0
    """Chat completions sent to the model."""
    cancelled: int = 0
    """Completions stopped because their client went away."""
    max_batches_behind: int = 0
    """The most batches of a job's items a completion waited behind (the fair interleave with jobs: 1 per worker
    at most); completions queued behind other completions do not count."""


class ClientInfo(msgspec.Struct, kw_only=True):
    """A live client session (one per client process), as ``status`` lists it."""

    name: str
    pid: int
    session: str
    first_seen: float
    last_seen: float
    requests: int = 0


class StatusReply(msgspec.Struct, kw_only=True):
    boot_id: str
    pid: int
    version: str
    uptime: float
    model: ModelState
    counters: Counters
    queue_depth: int
    running_job: str = ""
    clients: list[ClientInfo] = []
    endpoints: dict[str, str] = {}
    slots: dict[str, ModelState] = {}
    """Every model slot's state by slot name (``model`` above is the ``vlm`` slot's)."""
    openai: OpenAIStatus | None = None
    """The OpenAI-compatible endpoint; None when it is off."""
    degraded: str = ""
    """Why jobs cannot run right now (e.g. the state disk is full); empty when all is well."""
    backups_bytes: int = 0
    """Disk used by the metadata backups (``imageworks metadata backups`` lists and prunes them)."""


class JobItemEvent(msgspec.Struct, kw_only=True):
    result: ResultRecord


class JobStateEvent(msgspec.Struct, kw_only=True):
    job: JobInfo


class ModelEvent(msgspec.Struct, kw_only=True):
    model: ModelState


REQUEST_TYPES: dict[str, type[msgspec.Struct]] = {
    "hello": Hello,
    "ping": Ping,
    "status": StatusRequest,
    "model.load": ModelLoad,
    "model.unload": ModelUnload,
    "model.switch": ModelSwitch,
    "model.embed": ModelEmbed,
    "job.submit": JobSubmit,
    "job.attach": JobAttach,
    "job.results": JobResults,
    "job.cancel": JobCancel,
    "job.list": JobList,
    "shutdown": Shutdown,
    "bye": Bye,
    **REVIEW_REQUEST_TYPES,
}

REPLY_TYPES: dict[str, type[msgspec.Struct]] = {
    "error": Error,
    "ok": Ok,
    "hello.reply": HelloReply,
    "pong": Pong,
    "status.reply": StatusReply,
    "model.state": ModelState,
    "model.embeddings": Embeddings,
    "job.submitted": JobSubmitted,
    "review.commit.reply": ReviewCommitReply,
    "job.snapshot": JobSnapshot,
    "job.results.page": JobResultsPage,
    "job.info": JobInfo,
    "job.list.reply": JobListReply,
    **REVIEW_REPLY_TYPES,
}

EVENT_TYPES: dict[str, type[msgspec.Struct]] = {
    "event.job.item": JobItemEvent,
    "event.job.state": JobStateEvent,
    "event.model": ModelEvent,
    **REVIEW_EVENT_TYPES,
}

ALL_TYPES: dict[str, type[msgspec.Struct]] = {**REQUEST_TYPES, **REPLY_TYPES, **EVENT_TYPES}
TYPE_OF: dict[type[msgspec.Struct], str] = {v: k for k, v in ALL_TYPES.items()}


def new_id() -> str:
    return uuid.uuid4().hex


def job_topic(job_id: str) -> bytes:
    return b"job:" + job_id.encode()


DAEMON_TOPIC = b"daemon"
"""Every job's state changes and every model change are published on this topic too."""


class Message(msgspec.Struct, kw_only=True):
    header: Header
    body: Any
