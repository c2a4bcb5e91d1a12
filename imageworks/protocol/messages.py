"""Message types: the header, every request, reply and event body, and the tables that name them.

Three layers, kept apart as jupyter_client does:
- *session*: who is talking (``session`` id per client process, ``boot_id`` per daemon start) and the signing key;
- *message*: a ``Header`` (msg_id, type, parent_id, session, boot_id, seq, version, date) plus a typed body (here);
- *channel*: the sockets (ROUTER/DEALER for requests, PUB/SUB for events) live in daemon/server.py and client/.

The job family (submit, attach, results, cancel, list, their replies and events) is in jobs.py, the review family in
review.py, the library family in library.py, the model workers' in workers.py; the tables here name them all.
Encoding, signing and the replay guard are in wire.py. A reply's header echoes the request's ``msg_id`` as
``parent_id``. Events carry a per-job ``seq`` so a client that missed some asks for a snapshot (Clone pattern)
instead of guessing.
"""

from __future__ import annotations

import os
from typing import Any

import msgspec

from imageworks.protocol.images import IMAGE_REPLY_TYPES, IMAGE_REQUEST_TYPES
from imageworks.protocol.jobs import (
    ItemSpeed,
    JobAttach,
    JobCancel,
    JobInfo,
    JobItemEvent,
    JobList,
    JobListReply,
    JobProgressEvent,
    JobResults,
    JobResultsPage,
    JobSnapshot,
    JobStateEvent,
    JobSubmit,
    JobSubmitted,
)
from imageworks.protocol.library import LIBRARY_EVENT_TYPES, LIBRARY_REPLY_TYPES, LIBRARY_REQUEST_TYPES, LibraryWatch
from imageworks.protocol.review import REVIEW_EVENT_TYPES, REVIEW_REPLY_TYPES, REVIEW_REQUEST_TYPES
from imageworks.protocol.workers import FeedStats, WorkerInfo

PROTOCOL_VERSION = 1


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


class Shutdown(msgspec.Struct, kw_only=True):
    pass


class Bye(msgspec.Struct, kw_only=True):
    """The client process is going away: drop its session from the live clients at once."""


# ---- reply and event bodies -----------------------------------------------------------------------------------


class Error(msgspec.Struct, kw_only=True):
    code: str
    """The failing exception's own code (``imageworks.errors``): bad_request, unknown_type, version_mismatch,
    replayed, overloaded, unknown_job, unknown_draft, conflict, no_model, model_mismatch, model_error, busy,
    journal_error, state_disk_full, ...; ``internal`` for a bug (logged by the daemon)."""
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
    batch_size: int = 0
    """The most requests in one batch on this slot (``model.batch_size`` when the daemon started); a job asking for
    more is refused."""
    feed: FeedStats | None = None
    """In ``status`` replies: the slot's workers' feed counters added up (``input_wait_share``: the share of time
    its model waited for inputs)."""
    load_seconds: float = 0.0
    """How long the model's last load took, a demo model's first-run training included (0: not loaded yet)."""


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


class ReviewCommitReply(msgspec.Struct, kw_only=True):
    """What ``review.commit`` did: the ``commit`` job it queued, or none (``job`` None) when the selection held no
    draft to write. (Here, not in ``protocol.review``: it holds a ``JobInfo``.)"""

    job: JobInfo | None
    drafts: int
    """Drafts the job writes (approved ones; pending ones too unless ``approved_only``)."""
    pending: int
    """Pending drafts of the selection left out by ``approved_only`` (0 when they were included)."""


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
    thumbnails: int = 0
    """``image.thumbnail`` requests answered (from the cache or decoded)."""


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


class CpuWorkerInfo(msgspec.Struct, kw_only=True):
    """One process of the daemon's CPU pool, as ``status`` shows it."""

    pid: int
    job_id: str = ""
    """The job whose item it works on; empty when idle."""
    item: str = ""
    """That item's path (or index)."""
    items: int = 0
    """Items it has finished."""


class CpuPoolStatus(msgspec.Struct, kw_only=True):
    """The daemon's process pool for CPU job kinds (hashing, scans, moves): started with the first CPU job."""

    size: int
    """Processes it runs (``daemon.cpu_workers``; default: the CPUs the daemon may use)."""
    workers: list[CpuWorkerInfo] = []
    running_jobs: list[str] = []
    """CPU jobs running now (beside ``running_job``, the model's)."""
    crashes: int = 0
    """Workers that died while working (each failed only its item and was replaced)."""


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
    cpu: CpuPoolStatus | None = None
    """The CPU pool (None in a daemon without one)."""
    running_job_info: JobInfo | None = None
    """The running job (``running_job``) with its progress and its speed so far."""
    speeds: dict[str, ItemSpeed] = {}
    """Per job kind, how fast the loaded vlm model does its items (empty until it has done some)."""
    watches: list[LibraryWatch] = []
    """The library roots the daemon watches, or cannot (with the reason), by root."""


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
    **LIBRARY_REQUEST_TYPES,
    **IMAGE_REQUEST_TYPES,
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
    **LIBRARY_REPLY_TYPES,
    **IMAGE_REPLY_TYPES,
}

EVENT_TYPES: dict[str, type[msgspec.Struct]] = {
    "event.job.item": JobItemEvent,
    "event.job.state": JobStateEvent,
    "event.job.progress": JobProgressEvent,
    "event.model": ModelEvent,
    **REVIEW_EVENT_TYPES,
    **LIBRARY_EVENT_TYPES,
}

ALL_TYPES: dict[str, type[msgspec.Struct]] = {**REQUEST_TYPES, **REPLY_TYPES, **EVENT_TYPES}
TYPE_OF: dict[type[msgspec.Struct], str] = {v: k for k, v in ALL_TYPES.items()}


def new_id() -> str:
    """32 random hex digits (what uuid4().hex gave, without building a UUID: every message has one)."""
    return os.urandom(16).hex()


DAEMON_TOPIC = b"daemon"
"""Every job's state changes and every model change are published on this topic too."""


class Message(msgspec.Struct, kw_only=True):
    header: Header
    body: Any
