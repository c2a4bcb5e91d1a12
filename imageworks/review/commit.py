"""Planning a commit: what writing an approved draft would change in its file, and whether the file is still the
one the person reviewed. Nothing here writes a file or calls the model; the daemon's commit step takes a
``CommitPlan`` with action ``write`` to ``metadata.apply`` and records the outcome with ``DraftStore.record_commit``.

What is written is exactly the person's edited values: the kept (not rejected) keywords, as hierarchy paths where
the library keeps one, the edited caption and description. An empty caption or description is "no opinion":
review never clears a field. A draft remembers what its last write left in the file (``Draft.written``), so a
second round replaces what is still ours and keeps (and names) what another program changed since
(``metadata.merge``). A file is stale only when its pixels changed: a metadata change by another program is merged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import msgspec

from imageworks import metadata as md
from imageworks.config import MetadataConfig
from imageworks.jobs.base import WriteIntents
from imageworks.jobs.records import NOT_WRITTEN_ACTIONS, CommitRecord
from imageworks.metadata import fields as F
from imageworks.metadata import merge
from imageworks.review.drafts import Draft, FileFingerprint
from imageworks.review.fingerprint import file_fingerprint
from imageworks.review.vocabulary import Vocabulary, writer_keywords

Action = Literal["write", "unchanged", "kept", "skipped", "stale", "not_approved", "error"]
"""What planning decides; a ``CommitRecord`` then says ``written`` (or ``would_write`` in a dry run)."""


class CommitPlan(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    version: int
    """The draft version planned: ``record_commit`` refuses if the draft moved on meanwhile."""
    action: Action
    """``write``: apply ``plan`` (its ``not_written`` may still keep some values out); ``unchanged``: the file
    already holds these values (a rerun after a crash lands here); ``kept``: nothing to write, but values of the
    draft are kept out (``plan.not_written``); ``skipped``: mode skip and the file already has other keywords or
    text; ``stale``: the photo's pixels changed since preview (``reason``: the daemon marks the draft stale);
    ``not_approved``, ``error``: nothing done."""
    reason: str = ""
    plan: md.Plan | None = None
    fingerprint: FileFingerprint | None = None
    """The file as planned against."""

    def describe(self) -> list[str]:
        """The per-file diff for ``--dry-run`` and the confirmation dialog."""
        if self.plan is not None and self.action in ("write", "unchanged", "kept"):
            return self.plan.describe()
        return [f"{self.path}: {self.action.replace('_', ' ')}: {self.reason}"]

    @property
    def not_written(self) -> list[str]:
        """The draft's values this commit leaves out of the file, and why (mode skip's are the mode's policy)."""
        return list(self.plan.not_written) if self.plan is not None and self.action != "skipped" else []


PIXELS_CHANGED = "its pixels changed (the photo was edited since the model saw it)"


def staleness(reviewed: FileFingerprint, now: FileFingerprint | None) -> str | None:
    """Why the photo is no longer the one the model looked at, or None when it still is: its pixels changed (a
    metadata change by another program is not a reason). A draft made before pixel hashes is judged by the whole
    file, as it was then."""
    if now is None:
        return "the file is gone"
    if reviewed.pixels:
        return PIXELS_CHANGED if now.pixels and now.pixels != reviewed.pixels else None
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
        # an empty list once we wrote some: the draft dropped them all, ours leave the file (the person's stay)
        keywords=keywords or ([] if draft.written and draft.written.added_flat else None),
        provenance=md.Provenance(model=origin.model, profile=origin.profile, profile_version=origin.profile_version),
        last=draft.written,
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
    return merge.plan_changes(current, proposed, mode, writable=writable, also=embedded).changes


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
        now: FileFingerprint | None = file_fingerprint(draft.path, whole=not draft.fingerprint.pixels)
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
        if mode == "skip" and not plan.has_changes:
            # skip leaves a tagged file alone; it may be tagged with these very values (a rerun): merge tells which
            merged = md.plan(draft.path, proposed, "merge", options=options)
            if merged.changes or merged.not_written:
                return out("skipped", plan.reason, fingerprint=now)
            plan = merged
    except md.MetadataError as exc:
        return out("error", str(exc))
    if not plan.has_changes and not plan.not_written:
        return out("unchanged", plan.reason, plan=plan, fingerprint=now)
    if stale:
        return out("stale", stale, fingerprint=now)
    return out("write" if plan.has_changes else "kept", "; ".join(plan.not_written), plan=plan, fingerprint=now)


def commit_draft(
    draft: Draft,
    mode: md.Mode,
    vocabulary: Vocabulary | None,
    *,
    job_id: str,
    dry_run: bool = False,
    include_pending: bool = False,
    at: float = 0.0,
    intents: WriteIntents | None = None,
    requested: tuple[str, str] = ("", ""),
) -> CommitRecord:
    """Plan the draft's commit and, unless ``dry_run``, write it (with a backup): the commit job's per-file step.
    The record carries the outcome, the field diff, the backup and the file as left (its new fingerprint, what
    is ours in it now). With ``intents`` the journal learns the write before it happens (journal first, then the
    file), and the plan is made against what the review remembers of our writes now (another writer may have
    written the file since the draft was read). ``requested``: the session that asked, and its name (the write
    becomes its undo step)."""
    if intents is not None:
        draft = msgspec.structs.replace(draft, written=intents.recall(draft.path).last)
    planned = plan_commit(draft, mode, vocabulary=vocabulary, include_pending=include_pending)
    action = {"write": "would_write" if dry_run else "partly_written" if planned.not_written else "written"}
    record = CommitRecord(
        status="ok",
        path=draft.path,
        version=draft.version,
        action=action.get(planned.action, planned.action),  # type: ignore[arg-type]
        reason=planned.reason,
        changes=planned.describe(),
        not_written=planned.not_written,
        mode=mode,
        dry_run=dry_run,
        by=requested[0],
        who=requested[1],
        at=at,
    )
    if record.action in NOT_WRITTEN_ACTIONS:  # the job counts it as failed, as the command's summary does
        record = msgspec.structs.replace(record, status="error", error=planned.reason)
    if planned.action not in ("write", "unchanged", "kept") or dry_run:
        return record
    assert planned.plan is not None
    record = msgspec.structs.replace(record, written=planned.plan.last_write, meta=planned.plan.meta)
    backup_id, target = None, planned.plan.target
    if planned.action == "write":
        if intents is not None:
            intents.planned(target, record)
        try:
            ready = intents.ready if intents is not None else None
            applied = md.apply(planned.plan, job_id=job_id, before_replace=ready)
        except (md.MetadataError, OSError) as exc:
            return msgspec.structs.replace(record, status="error", action="error", reason=str(exc), error=str(exc))
        backup_id = applied.backup_id
        record = msgspec.structs.replace(record, meta=applied.meta or record.meta)
    elif planned.action == "unchanged":  # already written (a commit cut short after its write): link that backup
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
        pixels=left.pixels,
    )


def file_holds(draft: Draft, vocabulary: Vocabulary | None = None) -> bool:
    """Whether the draft's file holds every value of it: a merge commit of it would change nothing and keep nothing
    out (what makes a draft ``committed`` after another writer wrote its file)."""
    proposed = msgspec.structs.replace(proposed_values(draft, vocabulary), provenance=None)
    try:
        plan = md.plan(draft.path, proposed, "merge")
    except (md.MetadataError, OSError):
        return False
    return not plan.changes and not plan.not_written


def _backup_of_current(target: str) -> int | None:
    """The backup made by the write that left ``target`` as it is now, if ImageWorks made that write."""
    from imageworks.metadata.atomic import fingerprint

    try:
        now = fingerprint(os.stat(target))
    except OSError:
        return None
    with md.BackupStore() as store:
        entries = store.entries(path=Path(target))
    return next((e.id for e in reversed(entries) if e.after == now), None)
