"""The file reads behind ``review.rounds``: what a write left for the desk to record (``file_written``), and the last
write adopted from a draft committed before ImageWorks remembered its writes (``adopted``)."""

from __future__ import annotations

from imageworks import metadata as md
from imageworks.file_state import LastWrite
from imageworks.metadata.core import backed_up_fields
from imageworks.metadata.merge import adopted_last_write
from imageworks.review.drafts import BackupLink, Draft, FileWrite
from imageworks.review.fingerprint import file_fingerprint
from imageworks.review.rounds import Asked, FileWritten, Recalled


def file_written(recalled: Recalled, plan: md.Plan, applied: md.Applied | None, asked: Asked | None) -> FileWritten:
    """What to tell the desk after ``plan`` was applied (``applied``), or found to need no change (None)."""
    backup = None
    if applied is not None and applied.backup_id is not None:
        backup = BackupLink(backup_id=applied.backup_id, target=applied.target, job_id=applied.job_id)
    write = FileWrite(
        fingerprint=file_fingerprint(plan.path),
        backup=backup,
        written=plan.last_write,
        file_meta=applied.meta if applied is not None else plan.meta,
        not_written=tuple(plan.not_written),
    )
    return FileWritten(path=recalled.path or plan.path, version=recalled.version, write=write, asked=asked)


def adopted(committed: Draft) -> LastWrite | None:
    """Our last write as a draft committed before ImageWorks remembered its writes left it (``committed``: the
    draft as that commit left it), where its file still holds exactly those values; None otherwise. Its backup, if
    kept, tells the keywords that write added (ours to take out again)."""
    try:
        now = md.read(committed.path)
    except (md.MetadataError, OSError):
        return None
    link = committed.backup
    original = backed_up_fields(link.backup_id, link.target) if link is not None and link.backup_id else None
    edited = committed.edited
    return adopted_last_write(now.fields, edited.caption, edited.description, edited.kept_keywords, original)
