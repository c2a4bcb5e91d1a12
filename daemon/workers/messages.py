"""The messages between the daemon and a model worker: msgspec Structs encoded as msgpack, decoded once at the edge
into these types (as the protocol's are), over a worker process's pipe and into and out of a Ray actor's calls.

Daemon -> worker (``ToWorker``): ``Generate`` and ``Embed`` (a batch, answered by ``Generated``/``Embedded`` with
the same ``id``), ``Cancel`` (requests by key, read at once while a batch runs), ``Prefetch`` (images a coming batch
holds: decode them ahead), ``Forget`` (images of finished items: drop what was kept of them) and ``Shutdown``.
Worker -> daemon (``FromWorker``): ``Progress`` while loading, ``Loaded`` or ``LoadFailed``, then ``Partial`` (a
streamed request's new text) and one ``Generated``/``Embedded`` per batch, each with the worker's feed counters
(which a ``FeedReport`` also gives after a ``Forget``).
"""

from __future__ import annotations

from typing import Any

import msgspec

from imageworks.inference import EmbedRequest, EmbedResult, GenRequest, GenResult
from imageworks.packing import Unpacker, pack
from imageworks.protocol import FeedStats


class Generate(msgspec.Struct, tag="generate", kw_only=True):
    id: int
    requests: list[GenRequest]
    staged: list[bytes | None] | None = None
    """Each request's image bytes, when the worker cannot read the daemon's paths (a Ray actor on another host
    without a shared filesystem); None: the worker reads the paths."""


class Embed(msgspec.Struct, tag="embed", kw_only=True):
    id: int
    requests: list[EmbedRequest]
    staged: list[bytes | None] | None = None
    """As ``Generate.staged``."""


class Cancel(msgspec.Struct, tag="cancel", kw_only=True):
    keys: list[str]


class Prefetch(msgspec.Struct, tag="prefetch", kw_only=True):
    images: list[str]
    """Paths a batch will soon hold: read, decode and prepare them while the current batch generates."""


class Forget(msgspec.Struct, tag="forget", kw_only=True):
    images: list[str]
    """Paths whose items finished: what was kept of them for later rounds is dropped."""


class Shutdown(msgspec.Struct, tag="shutdown", kw_only=True):
    pass


class Progress(msgspec.Struct, tag="progress", kw_only=True):
    fraction: float
    """0..1, or -1 when unknown."""
    what: str


class Loaded(msgspec.Struct, tag="loaded", kw_only=True):
    info: dict[str, Any]
    """The backend's load info (name, revision, device, dtype, parameters, ...)."""
    pid: int
    node: str = ""


class LoadFailed(msgspec.Struct, tag="load_failed", kw_only=True):
    error: str
    trace: str = ""


class Partial(msgspec.Struct, tag="partial", kw_only=True):
    id: int
    key: str
    text: str
    """The text the request added since its last ``Partial``."""


class FeedReport(msgspec.Struct, tag="feed_report", kw_only=True):
    """The worker's feed counters after a ``Forget`` (what it keeps went down between batches)."""

    feed: FeedStats


class Generated(msgspec.Struct, tag="generated", kw_only=True):
    id: int
    results: list[GenResult]
    feed: FeedStats = msgspec.field(default_factory=FeedStats)
    """The worker's feed counters after this batch (cumulative since it loaded)."""


class Embedded(msgspec.Struct, tag="embedded", kw_only=True):
    id: int
    results: list[EmbedResult]
    feed: FeedStats = msgspec.field(default_factory=FeedStats)


Batch = Generate | Embed
Answer = Generated | Embedded
ToWorker = Generate | Embed | Cancel | Prefetch | Forget | Shutdown
FromWorker = Progress | Loaded | LoadFailed | Partial | FeedReport | Generated | Embedded

encode = pack
"""Any of these messages (or a ModelConfig) as msgpack bytes (a non-UTF-8 file name as its bytes:
``imageworks.packing``)."""

_to_worker = Unpacker[Any](ToWorker)
_from_worker = Unpacker[Any](FromWorker)
_answer = Unpacker[Any](Answer)


def decode_to_worker(data: bytes) -> Generate | Embed | Cancel | Prefetch | Forget | Shutdown:
    """A daemon's message, at the worker's edge; msgspec.ValidationError for anything else."""
    return _to_worker.decode(data)


def decode_from_worker(data: bytes) -> Progress | Loaded | LoadFailed | Partial | FeedReport | Generated | Embedded:
    """A worker's message, at the daemon's edge; msgspec.ValidationError for anything else."""
    return _from_worker.decode(data)


def decode_answer(data: bytes) -> Generated | Embedded:
    """A batch's answer from a Ray actor, at the daemon's edge."""
    return _answer.decode(data)
