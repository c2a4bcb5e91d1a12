"""The wire protocol: every message type, the envelope, encoding and HMAC signing.

Three layers, kept apart as jupyter_client does:
- *session*: who is talking (``session`` id per client, ``boot_id`` per daemon start) and the signing key;
- *message*: a ``Header`` (msg_id, type, parent_id, session, boot_id, seq, version, date) plus a typed body;
- *channel*: the sockets (ROUTER/DEALER for requests, PUB/SUB for events) live in daemon/server.py and client.py.

On the wire a message is three frames, ``[signature, header, body]`` (a ROUTER adds the peer identity in front;
PUB adds a topic). ``signature = HMAC-SHA256(key, header + body)`` in hex; both header and body are msgpack.
A reply's header echoes the request's ``msg_id`` as ``parent_id``. Events carry a per-job ``seq`` so a client that
missed some asks for a snapshot (Clone pattern) instead of guessing.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
import uuid
from collections import OrderedDict
from typing import Any

import msgspec

from imageworks.errors import ProtocolError
from imageworks.jobs.records import AnyRecord

PROTOCOL_VERSION = 1
MAX_CLOCK_SKEW_S = 600.0
"""A message dated further than this from the receiver's clock is refused (bounds the replay window)."""

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
    client: str = "unknown"
    protocol_version: int = PROTOCOL_VERSION


class Ping(msgspec.Struct, kw_only=True):
    pass


class StatusRequest(msgspec.Struct, kw_only=True):
    pass


class ModelLoad(msgspec.Struct, kw_only=True):
    name: str = ""
    """Empty = the configured model, or the demo model when none is configured."""


class ModelUnload(msgspec.Struct, kw_only=True):
    pass


class ModelSwitch(msgspec.Struct, kw_only=True):
    name: str


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


class StatusReply(msgspec.Struct, kw_only=True):
    boot_id: str
    pid: int
    version: str
    uptime: float
    model: ModelState
    counters: Counters
    queue_depth: int
    running_job: str = ""
    clients: list[dict[str, Any]] = []
    endpoints: dict[str, str] = {}


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
    "job.submit": JobSubmit,
    "job.attach": JobAttach,
    "job.results": JobResults,
    "job.cancel": JobCancel,
    "job.list": JobList,
    "shutdown": Shutdown,
}

REPLY_TYPES: dict[str, type[msgspec.Struct]] = {
    "error": Error,
    "ok": Ok,
    "hello.reply": HelloReply,
    "pong": Pong,
    "status.reply": StatusReply,
    "model.state": ModelState,
    "job.submitted": JobSubmitted,
    "job.snapshot": JobSnapshot,
    "job.results.page": JobResultsPage,
    "job.info": JobInfo,
    "job.list.reply": JobListReply,
}

EVENT_TYPES: dict[str, type[msgspec.Struct]] = {
    "event.job.item": JobItemEvent,
    "event.job.state": JobStateEvent,
    "event.model": ModelEvent,
}

ALL_TYPES: dict[str, type[msgspec.Struct]] = {**REQUEST_TYPES, **REPLY_TYPES, **EVENT_TYPES}
TYPE_OF: dict[type[msgspec.Struct], str] = {v: k for k, v in ALL_TYPES.items()}

FS_BYTES_EXT = 1
"""msgpack ext code for a string holding surrogate escapes (a non-UTF-8 file name, as Python's os functions give
it): carried as the file name's bytes and turned back into the same surrogate-escaped str on the other side."""


def _ext_hook(code: int, data: memoryview) -> Any:
    if code == FS_BYTES_EXT:
        return os.fsdecode(bytes(data))
    raise ProtocolError(f"unknown msgpack extension {code}")


_encoder = msgspec.msgpack.Encoder()
_header_decoder = msgspec.msgpack.Decoder(Header)
# typed decoders: the hook turns ext values in Any positions (items, records) back into str; an ext in a typed str
# field fails validation, and _decode_body then decodes to builtins and converts
_body_decoders = {name: msgspec.msgpack.Decoder(t, ext_hook=_ext_hook) for name, t in ALL_TYPES.items()}
_any_decoder = msgspec.msgpack.Decoder(ext_hook=_ext_hook)


def _escape_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            return msgspec.msgpack.Ext(FS_BYTES_EXT, os.fsencode(value))
    if isinstance(value, dict):
        return {k: _escape_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escape_surrogates(v) for v in value]
    return value


def _encode_body(body: msgspec.Struct) -> bytes:
    try:
        return _encoder.encode(body)
    except UnicodeEncodeError:  # rare: a non-UTF-8 file name somewhere in the body
        return _encoder.encode(_escape_surrogates(msgspec.to_builtins(body, builtin_types=(bytes,))))


def _decode_body(type_: str, data: bytes) -> Any:
    try:
        return _body_decoders[type_].decode(data)
    except msgspec.ValidationError as exc:
        if "`ext`" not in str(exc):
            raise
        return msgspec.convert(_any_decoder.decode(data), ALL_TYPES[type_])


def new_id() -> str:
    return uuid.uuid4().hex


def new_key() -> bytes:
    return secrets.token_hex(32).encode()


def job_topic(job_id: str) -> bytes:
    return b"job:" + job_id.encode()


DAEMON_TOPIC = b"daemon"


class Message(msgspec.Struct, kw_only=True):
    header: Header
    body: Any


class Signer:
    """HMAC-SHA256 over header+body with the daemon's key (from the 0600 connection file)."""

    def __init__(self, key: bytes) -> None:
        self.key = key

    def sign(self, header: bytes, body: bytes) -> bytes:
        return hmac.new(self.key, header + body, hashlib.sha256).hexdigest().encode()

    def verify(self, signature: bytes, header: bytes, body: bytes) -> bool:
        return hmac.compare_digest(self.sign(header, body), signature)


def make_header(
    type_: str,
    session: str,
    *,
    parent_id: str | None = None,
    boot_id: str | None = None,
    seq: int | None = None,
) -> Header:
    return Header(
        msg_id=new_id(),
        type=type_,
        session=session,
        date=time.time(),
        parent_id=parent_id,
        boot_id=boot_id,
        seq=seq,
    )


def encode(signer: Signer, header: Header, body: msgspec.Struct) -> list[bytes]:
    """Frames ``[signature, header, body]`` for one message."""
    if TYPE_OF.get(type(body)) != header.type:
        raise ProtocolError(f"body {type(body).__name__} does not match type {header.type!r}")
    h = _encoder.encode(header)
    b = _encode_body(body)
    return [signer.sign(h, b), h, b]


def decode(
    signer: Signer,
    frames: list[bytes],
    *,
    allowed: dict[str, type[msgspec.Struct]] | None = None,
    verified: bool = False,
) -> Message:
    """Verify and decode ``[signature, header, body]``. Raises ProtocolError with a one-line reason; never
    anything else, whatever the bytes (fuzzed in tests/test_protocol.py)."""
    if len(frames) != 3:
        raise ProtocolError(f"expected 3 frames (signature, header, body), got {len(frames)}")
    signature, h, b = frames
    if not verified and not signer.verify(signature, h, b):
        raise ProtocolError("bad signature (wrong key, or the message was altered)")
    try:
        header = _header_decoder.decode(h)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ProtocolError(f"malformed header: {exc}") from None
    if header.version != PROTOCOL_VERSION:
        raise ProtocolError(f"protocol version {header.version} is not supported (this side speaks {PROTOCOL_VERSION})")
    types = ALL_TYPES if allowed is None else allowed
    if header.type not in types:
        raise ProtocolError(f"unknown message type {header.type!r}")
    try:
        body = _decode_body(header.type, b)
    except (msgspec.DecodeError, msgspec.ValidationError, ProtocolError) as exc:
        raise ProtocolError(f"malformed {header.type} body: {exc}") from None
    return Message(header=header, body=body)


def peek_header(frames: list[bytes]) -> Header | None:
    """Best-effort header of a frame set that failed to decode, to address an error reply; None if unreadable."""
    if len(frames) < 2:
        return None
    try:
        return _header_decoder.decode(frames[1])
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


class ReplayGuard:
    """Refuses a msg_id seen before, and messages dated outside the skew window (so the set stays bounded)."""

    def __init__(self, capacity: int = 100_000, skew_s: float = MAX_CLOCK_SKEW_S) -> None:
        self.capacity = capacity
        self.skew_s = skew_s
        self._seen: OrderedDict[str, None] = OrderedDict()

    def check(self, header: Header, now: float | None = None) -> str | None:
        """Return a reason to refuse, or None and remember the id."""
        now = time.time() if now is None else now
        if abs(now - header.date) > self.skew_s:
            return f"message dated {header.date - now:+.0f} s from now (replayed or clock skew)"
        if header.msg_id in self._seen:
            return f"replayed msg_id {header.msg_id}"
        self._seen[header.msg_id] = None
        if len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return None
