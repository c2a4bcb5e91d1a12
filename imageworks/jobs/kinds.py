"""The table of job kinds the daemon runs, by name. A plain table: adding a kind is one line here.

Model kinds (``echo``, ``tag``, ``narrate``, and ``commit`` and ``mono-write``, which write files without a model) run
on the model's runner; CPU kinds (``imageworks.jobs.cpu.CpuKind``: ``hash``, ``scan``, ``similar``, ``move``,
``mono``) run in the daemon's process pool, beside them."""

from __future__ import annotations

from typing import Any

from imageworks.jobs.base import BadJobParams, JobKind
from imageworks.jobs.echo import EchoKind
from imageworks.mono.job import MonoKind, MonoWriteKind, NarrateKind
from imageworks.review.job import CommitKind
from imageworks.scan.job import ScanKind
from imageworks.similarity.jobs import HashKind, SimilarKind
from imageworks.similarity.moves import MoveKind
from imageworks.tagging.job import TagKind

KINDS: dict[str, JobKind[Any]] = {
    "echo": EchoKind(),
    "tag": TagKind(),
    "commit": CommitKind(),
    "narrate": NarrateKind(),
    "mono-write": MonoWriteKind(),
    # CPU kinds: their jobs run on the daemon's CPU runner (daemon/lanes.py), never through JobKind's tasks
    "hash": HashKind(),  # type: ignore[dict-item]
    "scan": ScanKind(),  # type: ignore[dict-item]
    "similar": SimilarKind(),  # type: ignore[dict-item]
    "move": MoveKind(),  # type: ignore[dict-item]
    "mono": MonoKind(),  # type: ignore[dict-item]
}


def get(name: str) -> JobKind[Any]:
    """The kind called ``name``; BadJobParams (the daemon's ``bad_request``) for an unknown one."""
    try:
        return KINDS[name]
    except KeyError:
        raise BadJobParams(f"unknown job kind {name!r} (known: {', '.join(sorted(KINDS))})") from None
