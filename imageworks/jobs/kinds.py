"""The table of job kinds the daemon runs, by name. A plain table: adding a kind is one line here."""

from __future__ import annotations

from typing import Any

from imageworks.jobs.base import BadJobParams, JobKind
from imageworks.jobs.echo import EchoKind
from imageworks.review.job import CommitKind
from imageworks.tagging.job import TagKind

KINDS: dict[str, JobKind[Any]] = {"echo": EchoKind(), "tag": TagKind(), "commit": CommitKind()}


def get(name: str) -> JobKind[Any]:
    """The kind called ``name``; BadJobParams (the daemon's ``bad_request``) for an unknown one."""
    try:
        return KINDS[name]
    except KeyError:
        raise BadJobParams(f"unknown job kind {name!r} (known: {', '.join(sorted(KINDS))})") from None
