"""The ``commit`` job kind: reviewed drafts' edited values written into their files. It never calls the model.

Items are the drafts to commit, as the daemon read them when the person asked (``{"path", "version", "draft"}``):
what is written is exactly what was approved then. Each item needs no inference (its task is done at once); the
runner's ``finalize`` thread plans it (``commit.plan_commit``: field diff, staleness) and, unless ``dry_run``,
applies the plan through the metadata writer with its backups. The daemon records each outcome on its draft
(``committed`` with the backup link, or ``stale``).

Resumable and idempotent: a job interrupted by a crash is resumed or simply run again over the drafts still
``approved``; a file that already holds a draft's values plans as ``unchanged`` (never a duplicated keyword) and
the draft is then recorded as committed.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import msgspec

from imageworks.inference import GenRequest, GenResult
from imageworks.jobs.base import BadJobParams, WriteIntents
from imageworks.jobs.records import CommitRecord
from imageworks.review.drafts import Draft
from imageworks.review.vocabulary import Vocabulary


class CommitItem(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    version: int
    draft: Draft


class CommitParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    mode: Literal["merge", "skip", "overwrite"] = "merge"
    dry_run: bool = False
    include_pending: bool = False
    """Pending drafts were selected too (``review commit`` without ``--approved-only``): plan them as well."""
    hierarchy: dict[str, int] = {}
    """The library's lr:hierarchicalSubject paths → images: a keyword it keeps in a hierarchy is written as its
    path (``Dog`` → ``Animals|Dog``)."""
    by: str = ""
    """The session that asked for the commit, and (``who``) as a person knows it: the write is its undo step."""
    who: str = ""


class CommitPlan:
    """One run of a commit job: its params, the vocabulary for hierarchy paths, and each item's draft until its
    ``finalize`` takes it (``make_task`` runs on the loop, ``finalize`` on the runner's thread)."""

    def __init__(self, params: CommitParams) -> None:
        self.params = params
        self.vocabulary = Vocabulary.build(hierarchical=params.hierarchy)
        self.drafts: dict[tuple[str, int], Draft] = {}


class CommitTask:
    """Nothing to ask the model: done from the start; the work happens in ``finalize``."""

    done = True

    def __init__(self, item: CommitItem, plan: CommitPlan) -> None:
        self.item = item
        plan.drafts[item.path, item.version] = item.draft

    def next_requests(self) -> list[GenRequest]:
        return []

    def feed(self, results: list[GenResult]) -> None:
        raise AssertionError("a commit task asks the model nothing")

    def record(self) -> CommitRecord:
        return CommitRecord(status="ok", path=self.item.path, version=self.item.version)


class CommitKind:
    name = "commit"
    record_type = CommitRecord
    uses_model = False

    def validate(self, items: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        try:
            msgspec.convert(items, list[CommitItem])
        except msgspec.ValidationError as exc:
            raise BadJobParams(f"commit job: bad item: {exc} (expected {{path, version, draft}})") from None
        try:
            return msgspec.to_builtins(msgspec.convert(params, CommitParams))
        except msgspec.ValidationError as exc:
            raise BadJobParams(f"commit job: bad params: {exc}") from None

    def prepare(self, params: dict[str, Any], model: dict[str, Any]) -> CommitPlan:
        return CommitPlan(msgspec.convert(params, CommitParams))

    def make_task(self, item: dict[str, Any], plan: CommitPlan) -> CommitTask:
        return CommitTask(msgspec.convert(item, CommitItem), plan)

    def finalize(self, record: CommitRecord, plan: CommitPlan, job_id: str, intents: WriteIntents) -> CommitRecord:
        """Plan the draft's commit against the file as it is now, and (unless a dry run) write it."""
        from imageworks.review.commit import commit_draft

        draft = plan.drafts.pop((record.path, record.version))
        params = plan.params
        return commit_draft(
            draft,
            params.mode,
            plan.vocabulary,
            job_id=job_id,
            dry_run=params.dry_run,
            include_pending=params.include_pending,
            at=time.time(),
            intents=intents,
            requested=(params.by, params.who),
        )
