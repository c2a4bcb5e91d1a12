"""Planning a commit: what writing an approved draft would change in its file, and whether the file is still the
one the person reviewed. Nothing here writes a file or calls the model; the daemon's commit step takes a
``CommitPlan`` with action ``write`` to ``metadata.apply`` and records the outcome with ``DraftStore.record_commit``.

What is written is exactly the person's edited values: the kept (not rejected) keywords, as hierarchy paths where
the library keeps one, the edited caption and description. An empty caption or description is "no opinion":
review never clears a field.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import msgspec

from imageworks import metadata as md
from imageworks.config import MetadataConfig
from imageworks.jobs.records import CommitRecord
from imageworks.metadata import fields as F
from imageworks.review.fingerprint import file_fingerprint
from imageworks.review.model import Draft, FileFingerprint
from imageworks.review.vocabulary import Vocabulary, writer_keywords

Action = Literal["write", "unchanged", "skipped", "stale", "not_approved", "error"]
"""What planning decides; a ``CommitRecord`` then says ``written`` (or ``would_write`` in a dry run)."""


class CommitPlan(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    version: int
    """The draft version planned: ``record_commit`` refuses if the draft moved on meanwhile."""
    action: Action
    """``write``: apply ``plan``; ``unchanged``: the file already holds these values (a rerun after a crash lands
    here); ``skipped``: mode skip and the file already has other keywords or text; ``stale``: the file changed
    since preview (``reason``: the daemon marks the draft stale); ``not_approved``, ``error``: nothing done."""
    reason: str = ""
    plan: md.Plan | None = None
    fingerprint: FileFingerprint | None = None
    """The file as planned against."""

    def describe(self) -> list[str]:
        """The per-file diff for ``--dry-run`` and the confirmation dialog."""
        if self.plan is not None and self.action in ("write", "unchanged"):
            return self.plan.describe()
        return [f"{self.path}: {self.action.replace('_', ' ')}: {self.reason}"]


def staleness(reviewed: FileFingerprint, now: FileFingerprint | None) -> str | None:
    """Why the file is no longer the one the model looked at, or None when it still is."""
    if now is None:
        return "the file is gone"
    if now.size != reviewed.size:
        return f"its size changed ({reviewed.size} → {now.size} bytes)"
    if reviewed.head_tail and now.head_tail and reviewed.head_tail != now.head_tail:
        return "its content changed"
    if now.mtime_ns != reviewed.mtime_ns:
        return "it was modified (new mtime)"
    return None


def proposed_values(draft: Draft, vocabulary: Vocabulary | None = None) -> md.Proposed:
    """The metadata writer's input for the draft's edited values, stamped with the model that proposed them."""
    edited, origin = draft.edited, draft.origin
    keywords = writer_keywords(edited.kept_keywords, vocabulary)
    return md.Proposed(
        caption=edited.caption or None,
        description=edited.description or None,
        keywords=keywords or None,
        provenance=md.Provenance(model=origin.model, profile=origin.profile, profile_version=origin.profile_version),
    )


def field_changes(
    draft: Draft,
    current: Mapping[str, F.Value],
    mode: md.Mode,
    *,
    writable: frozenset[str] = frozenset({"xmp", "iptc", "exif"}),
    embedded: Mapping[str, F.Value] | None = None,
    vocabulary: Vocabulary | None = None,
) -> list[md.FieldChange]:
    """Pure: the field changes writing ``draft`` onto a file holding ``current`` (``Existing.fields``; for a
    sidecar, ``embedded`` is what the photo itself holds) would make in ``mode``: the content fields only (the
    provenance stamp, dated at planning, is left out)."""
    proposed = msgspec.structs.replace(proposed_values(draft, vocabulary), provenance=None)
    return F.plan_changes(current, proposed, mode, writable=writable, also=embedded).changes


def plan_commit(
    draft: Draft,
    mode: md.Mode = "merge",
    *,
    vocabulary: Vocabulary | None = None,
    options: MetadataConfig | None = None,
    include_pending: bool = False,
) -> CommitPlan:
    """Read the file (never write it) and plan the draft's commit. A stale file is reported, not planned,
    unless it already holds the draft's values (a commit interrupted after writing: ``unchanged``). Only an
    approved (or stale) draft is planned; a pending one too with ``include_pending``."""

    def out(
        action: Action, reason: str = "", plan: md.Plan | None = None, fingerprint: FileFingerprint | None = None
    ) -> CommitPlan:
        return CommitPlan(
            path=draft.path, version=draft.version, action=action, reason=reason, plan=plan, fingerprint=fingerprint
        )

    if draft.status not in ("approved", "stale", *(("pending",) if include_pending else ())):
        return out("not_approved", f"status {draft.status}")
    try:
        now: FileFingerprint | None = file_fingerprint(draft.path)
    except FileNotFoundError:
        now = None
    except OSError as exc:
        return out("error", f"cannot read it ({exc.strerror})")
    stale = draft.stale_reason if draft.status == "stale" else staleness(draft.fingerprint, now)
    if now is None:
        return out("stale", stale or "the file is gone")
    proposed = proposed_values(draft, vocabulary)
    try:
        plan = md.plan(draft.path, proposed, mode, options=options)
        # skip leaves a tagged file alone; it may be tagged with these very values (a rerun): merge tells which
        if mode == "skip" and not plan.has_changes and md.plan(draft.path, proposed, "merge", options=options).changes:
            return out("skipped", plan.reason, fingerprint=now)
    except md.MetadataError as exc:
        return out("error", str(exc))
    if not plan.has_changes:
        return out("unchanged", plan.reason, plan=plan, fingerprint=now)
    if stale:
        return out("stale", stale, fingerprint=now)
    return out("write", plan=plan, fingerprint=now)


def commit_draft(
    draft: Draft,
    mode: md.Mode,
    vocabulary: Vocabulary | None,
    *,
    job_id: str,
    dry_run: bool = False,
    include_pending: bool = False,
    at: float = 0.0,
) -> CommitRecord:
    """Plan the draft's commit and, unless ``dry_run``, write it (with a backup): the commit job's per-file step.
    The record carries the outcome, the field diff, the backup and the file as left (its new fingerprint)."""
    planned = plan_commit(draft, mode, vocabulary=vocabulary, include_pending=include_pending)
    outcome = {"write": "would_write" if dry_run else "written"}.get(planned.action, planned.action)
    record = CommitRecord(
        status="ok",
        path=draft.path,
        version=draft.version,
        action=outcome,  # type: ignore[arg-type]
        reason=planned.reason,
        changes=planned.describe(),
        mode=mode,
        dry_run=dry_run,
        at=at,
    )
    if planned.action == "error":
        record = msgspec.structs.replace(record, status="error", error=planned.reason)
    if planned.action not in ("write", "unchanged") or dry_run:
        return record
    assert planned.plan is not None
    backup_id, target = None, planned.plan.target
    if planned.action == "write":
        try:
            backup_id = md.apply(planned.plan, job_id=job_id).backup_id
        except (md.MetadataError, OSError) as exc:
            return msgspec.structs.replace(record, status="error", action="error", reason=str(exc), error=str(exc))
    else:  # already written (a commit cut short after its write): link the backup that write made
        backup_id = _backup_of_current(target)
    try:
        left = file_fingerprint(draft.path)
    except OSError as exc:
        return msgspec.structs.replace(record, status="error", action="error", reason=str(exc), error=str(exc))
    return msgspec.structs.replace(
        record,
        backup_id=backup_id,
        backup_target=target if backup_id is not None else "",
        size=left.size,
        mtime_ns=left.mtime_ns,
        head_tail=left.head_tail,
    )


def _backup_of_current(target: str) -> int | None:
    """The backup made by the write that left ``target`` as it is now, if ImageWorks made that write."""
    from imageworks.metadata.atomic import fingerprint

    try:
        now = fingerprint(os.stat(target))
    except OSError:
        return None
    entries = md.BackupStore().entries(path=Path(target))
    return next((e.id for e in reversed(entries) if e.after == now), None)
