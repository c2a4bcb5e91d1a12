"""The typed result record of each job kind: what the runner journals per item and clients receive.

Each record is a msgspec Struct tagged by its job kind (``"kind": "tag"``), so ``protocol.ResultRecord.record``
is a tagged union decoded once, where a message enters a process. The journal stores records as JSON; rows
written before records were tagged carry no ``kind`` and are decoded by their job's kind (``RECORD_TYPES``).
Every field has a default, so a bare failure (only ``status`` and ``error``, as the runner writes for a crashed
worker) is a valid record of its kind.
"""

from __future__ import annotations

from typing import Literal

import msgspec

RECORD_SCHEMA_VERSION = 1
"""Version of ``TagRecord``'s shape (exported as ``schema_version`` in JSONL)."""


class JobRecord(msgspec.Struct, kw_only=True, tag_field="kind"):
    """What every kind's record holds: whether the item succeeded, and if not, why (one line)."""

    status: Literal["ok", "error"] = "error"
    error: str | None = None
    notes: list[str] = []
    """What the user should know about the result (cut-off answers, cleanup, a failed metadata write...)."""

    def with_backup(self, backup_id: int | None, target: str) -> JobRecord:
        """The record journaled before its write, completed with the backup that write took of ``target`` (a
        restarted daemon journals it from the write intent). A kind whose record keeps no backup link: as is."""
        return self


# ---- echo ---------------------------------------------------------------------------------------------------


class EchoRecord(JobRecord, tag="echo"):
    output: str = ""
    tokens: int = 0
    seconds: float = 0.0
    model: str | None = None


# ---- tag ----------------------------------------------------------------------------------------------------


class Fingerprint(msgspec.Struct, kw_only=True):
    """The image file as it was when the model first read it, so a later write can tell a changed file."""

    size: int = 0
    mtime_ns: int = 0


class KeywordScore(msgspec.Struct, kw_only=True):
    keyword: str
    score: float | None = None
    """The model's confidence when it gave one, else None (never invented)."""


class ModelRef(msgspec.Struct, kw_only=True):
    name: str = ""
    revision: str = ""


class ProfileRef(msgspec.Struct, kw_only=True):
    name: str = ""
    version: int = 0
    digest: str = ""


class WriteOutcome(msgspec.Struct, kw_only=True):
    """What writing the item's metadata did (``tag --write``): the planned changes, or why nothing was written."""

    mode: str
    dry_run: bool = False
    written: bool = False
    changes: list[str] = []
    reason: str = ""
    truncated: list[str] = []
    target: str = ""
    error: str = ""


class TagRecord(JobRecord, tag="tag"):
    """One image's caption, keywords and description; every value a reviewer may edit is a plain field."""

    path: str = ""
    fingerprint: Fingerprint = msgspec.field(default_factory=Fingerprint)
    caption: str = ""
    keywords: list[KeywordScore] = []
    description: str = ""
    complete: bool = False
    """Every step of the profile produced its part."""
    model: ModelRef = msgspec.field(default_factory=ModelRef)
    profile: ProfileRef = msgspec.field(default_factory=ProfileRef)
    timings: dict[str, float] = {}
    """Seconds per step, and ``total``."""
    tokens: dict[str, int] = {}
    """Generated tokens per step, and ``total``."""
    schema_version: int = RECORD_SCHEMA_VERSION
    write: WriteOutcome | None = None
    """Set when the job wrote (or planned to write) metadata for this image."""


# ---- commit (review) ------------------------------------------------------------------------------------------


class CommitRecord(JobRecord, tag="commit"):
    """Writing one reviewed draft's values into its file (``review commit``), or planning it (``dry_run``)."""

    path: str = ""
    version: int = 0
    """The draft version committed."""
    action: Literal["written", "would_write", "unchanged", "skipped", "stale", "not_approved", "error", ""] = ""
    reason: str = ""
    changes: list[str] = []
    """The per-file field diff (``Plan.describe``)."""
    mode: str = "merge"
    dry_run: bool = False
    backup_id: int | None = None
    """For ``metadata restore``."""
    backup_target: str = ""
    size: int = 0
    mtime_ns: int = 0
    head_tail: str = ""
    """The file as the commit left it (size, mtime, head/tail hash): the draft's new fingerprint."""
    at: float = 0.0

    def with_backup(self, backup_id: int | None, target: str) -> CommitRecord:
        """As ``commit_draft`` records a write's backup: the link ``metadata restore`` and the draft keep."""
        return msgspec.structs.replace(self, backup_id=backup_id, backup_target=target if backup_id is not None else "")


AnyRecord = TagRecord | EchoRecord | CommitRecord
"""The tagged union ``protocol.ResultRecord.record`` decodes into."""

RECORD_TYPES: dict[str, type[JobRecord]] = {t.__struct_config__.tag: t for t in (TagRecord, EchoRecord, CommitRecord)}  # type: ignore[misc]
"""Record type by job kind name, for rows journaled without the ``kind`` tag."""
