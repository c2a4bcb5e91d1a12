"""Writing a tagged image's results into its metadata, from the daemon, as soon as the image is done.

Runs in the daemon (``TagKind.finalize``, in a worker thread) so that ``--write`` works for detached jobs too.
What happened is recorded on the item's result (``TagRecord.write``): the fields written, or why nothing was
(``skip: already has keywords``, the file changed since it was tagged, read-only, ...). A failure to write never
turns the tagging result into an error: the caption and keywords stay in the journal for review.
"""

from __future__ import annotations

import os
from typing import Any

import msgspec

from imageworks.jobs.base import WriteIntents
from imageworks.jobs.records import TagRecord, WriteOutcome
from imageworks.review.rounds import with_memory

WRITE_MODES = ("none", "skip", "merge", "overwrite")


def proposed_from_record(record: TagRecord) -> Any:
    """The metadata writer's ``Proposed`` for a tag record (caption → title, keywords, description)."""
    from imageworks import metadata as md

    return md.Proposed(
        caption=record.caption or None,
        description=record.description or None,
        keywords=[k.keyword for k in record.keywords] or None,
        provenance=md.Provenance(
            model=record.model.name,
            profile=record.profile.name,
            profile_version=str(record.profile.version),
        ),
    )


def write_record(
    record: TagRecord, mode: str, *, dry_run: bool, job_id: str, intents: WriteIntents | None = None
) -> TagRecord:
    """Plan (and unless ``dry_run``, apply) the record's metadata; return the record with ``write`` filled in.
    With ``intents``, the journal learns the write before it happens (the record it will journal, then the
    bytes and backup just before the rename); a failure to journal it stops the write and propagates."""
    if mode == "none" or record.status != "ok":
        return record
    from imageworks import metadata as md
    from imageworks.scan.records import mtime_ns_of

    path = record.path
    outcome = WriteOutcome(mode=mode, dry_run=dry_run)
    notes = list(record.notes)
    try:
        st = os.stat(path)
        # the scan cache stores mtime at the precision both its walkers agree on: compare the same way
        if (st.st_size, mtime_ns_of(st)) != (record.fingerprint.size, record.fingerprint.mtime_ns):
            raise md.MetadataError(
                f"{path}: changed on disk since it was tagged; not written (review and write it again)",
                code="changed",
            )
        recalled = intents.recall(path) if intents is not None else None
        outcome.version = recalled.version if recalled is not None else 0
        plan = md.plan(path, with_memory(proposed_from_record(record), recalled), mode)  # type: ignore[arg-type]
        outcome.changes = plan.describe()
        outcome.reason = plan.reason
        outcome.truncated = list(plan.truncated)
        outcome.last = plan.last_write  # kept by the draft only when the write happens (``written``)
        outcome.target = plan.target
        if mode != "skip":  # skip leaving a tagged photo alone is its policy, not a value kept out
            outcome.not_written = list(plan.not_written)
        if plan.has_changes and not dry_run:
            if intents is not None:
                planned = WriteOutcome(**{**msgspec.structs.asdict(outcome), "written": True})
                intents.planned(plan.target, msgspec.structs.replace(record, write=planned, notes=notes))
            applied = md.apply(plan, job_id=job_id, before_replace=intents.ready if intents is not None else None)
            outcome.written = bool(applied.changed)
            outcome.backup_id = applied.backup_id
    except (md.MetadataError, OSError) as exc:
        outcome.error = str(exc)
        notes.append(f"metadata not written: {exc}")
    notes.extend(f"metadata not written: {line}" for line in outcome.not_written)  # `jobs export` says it too
    return msgspec.structs.replace(record, write=outcome, notes=notes)
