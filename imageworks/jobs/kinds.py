"""The table of job kinds the daemon runs, by name. A plain table: adding a kind is one line here.

Model kinds (``echo``, ``tag``, ``narrate``, and ``commit`` and ``mono-write``, which write files without a model) run
on the model's runner; CPU kinds (``imageworks.jobs.cpu.CpuKind``: ``hash``, ``scan``, ``similar``, ``move``,
``mono``) run in the daemon's process pool, beside them."""

from __future__ import annotations

from typing import Any

from imageworks.jobs.base import BadJobParams, JobKind
from imageworks.jobs.cpu import CpuKind
from imageworks.jobs.echo import EchoKind
from imageworks.mono.job import MonoKind, MonoWriteKind, NarrateKind
from imageworks.review.job import CommitKind
from imageworks.scan.job import ScanKind
from imageworks.similarity.jobs import HashKind, SimilarKind
from imageworks.similarity.moves import MoveKind
from imageworks.tagging.job import TagKind

KINDS: dict[str, JobKind[Any] | CpuKind] = {
    "echo": EchoKind(),
    "tag": TagKind(),
    "commit": CommitKind(),
    "narrate": NarrateKind(),
    "mono-write": MonoWriteKind(),
    # CPU kinds: their jobs run on the daemon's CPU runner (daemon/lanes.py), never through JobKind's tasks
    "hash": HashKind(),
    "scan": ScanKind(),
    "similar": SimilarKind(),
    "move": MoveKind(),
    "mono": MonoKind(),
}


def get(name: str) -> JobKind[Any] | CpuKind:
    """The kind called ``name``; BadJobParams (the daemon's ``bad_request``) for an unknown one."""
    try:
        return KINDS[name]
    except KeyError:
        raise BadJobParams(f"unknown job kind {name!r} (known: {', '.join(sorted(KINDS))})") from None


def model_kind(name: str) -> JobKind[Any]:
    """The kind called ``name``, which the model's runner runs; BadJobParams for an unknown or a CPU kind."""
    kind = get(name)
    if isinstance(kind, CpuKind):
        raise BadJobParams(f"{name!r} is a CPU kind: the model's runner does not run it")
    return kind


def cpu_kind(name: str) -> CpuKind:
    """The kind called ``name``, which the daemon's CPU runner runs; BadJobParams for an unknown or a model kind."""
    kind = get(name)
    if not isinstance(kind, CpuKind):
        raise BadJobParams(f"{name!r} runs on the model's runner, not the CPU runner")
    return kind
