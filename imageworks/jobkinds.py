"""Job kinds: the pure logic of what a job does per item, which the daemon's runner drives.

A kind turns one item (e.g. an image path) into one or more rounds of inference requests and, when done, one
JSON-able record. The runner batches requests across items (so three-step tagging shares batches between
images), journals each record as soon as its item is done, and never knows what the requests mean.
"""

from __future__ import annotations

from typing import Any, Protocol

from imageworks.errors import ImageWorksError
from imageworks.inference import GenRequest, GenResult


class BadJobParams(ImageWorksError):
    """A job's params or items are invalid; the daemon answers ``bad_request`` with this message."""


class ItemTask(Protocol):
    """The work for one item. The runner calls ``next_requests``, runs them, then ``feed``s the results back
    in the same order, until ``done``; then it journals ``record()``."""

    @property
    def done(self) -> bool: ...

    def next_requests(self) -> list[GenRequest]: ...

    def feed(self, results: list[GenResult]) -> None: ...

    def record(self) -> dict[str, Any]:
        """Final record; must hold ``status`` ('ok' or 'error') and ``error`` (None or a one-line message)."""
        ...


class JobKind(Protocol):
    name: str

    def validate(self, items: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        """Check items and params at submit time; return params with defaults filled. Raise BadJobParams."""
        ...

    def make_task(self, item: dict[str, Any], params: dict[str, Any], model: dict[str, Any]) -> ItemTask:
        """``model`` is the loaded model's info (name, revision, ...), for provenance in records."""
        ...

    # Optional: ``finalize(record, params, job_id) -> record`` does per-item I/O (writing metadata) in a thread
    # of the daemon before the record is journaled; its outcome goes into the returned record.


_KINDS: dict[str, JobKind] = {}


def register(kind: JobKind) -> JobKind:
    _KINDS[kind.name] = kind
    return kind


def get(name: str) -> JobKind:
    _load_builtin()
    try:
        return _KINDS[name]
    except KeyError:
        raise BadJobParams(f"unknown job kind {name!r} (known: {', '.join(sorted(_KINDS))})") from None


def names() -> list[str]:
    _load_builtin()
    return sorted(_KINDS)


def _load_builtin() -> None:
    # Importing registers them; imported here (not at module top) to keep this module free of cycles.
    import imageworks.echo_kind

    try:
        import imageworks.tagging.job  # noqa: F401
    except ModuleNotFoundError as exc:  # the tagger's job kind lands with the tagger
        if exc.name != "imageworks.tagging.job":
            raise
