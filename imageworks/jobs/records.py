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

from imageworks.file_state import LastWrite, MetaSnapshot
from imageworks.mono.result import Numbers, Overlays, Region, Tone

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
    last: LastWrite | None = None
    """What the write left in the file of ours (the image's review draft keeps it for its next write)."""
    not_written: list[str] = []
    """One line per value the file did not take, and why (the caption was changed in another program since our
    last write...); empty in mode ``skip``, whose leaving a tagged photo alone is its policy."""
    backup_id: int | None = None
    """The backup the write took (``metadata restore``; the draft links it)."""
    version: int = 0
    """The version of the image's review draft the write planned against (0: it had none)."""


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

    def with_backup(self, backup_id: int | None, target: str) -> TagRecord:
        """The record journaled before its write, with the backup that write took (its draft links it)."""
        if self.write is None:
            return self
        return msgspec.structs.replace(self, write=msgspec.structs.replace(self.write, backup_id=backup_id))


# ---- commit (review) ------------------------------------------------------------------------------------------


CommitAction = Literal[
    "written", "partly_written", "kept", "would_write", "unchanged", "skipped", "stale", "not_approved", "error", ""
]
NOT_WRITTEN_ACTIONS = ("partly_written", "kept", "stale", "error")
"""Outcomes that leave an approved value out of its file: the record's status is ``error`` (the job counts it as
failed, as ``review commit`` does), and ``reason`` or ``not_written`` says why."""


class CommitRecord(JobRecord, tag="commit"):
    """Writing one reviewed draft's values into its file (``review commit``), or planning it (``dry_run``).

    ``action``: ``written`` every value reached the file; ``partly_written`` the file was written but some values
    were kept out (``not_written`` says which and why: changed in another program since the last write...);
    ``kept`` nothing was written for the same reasons; ``unchanged`` the file already held the draft's values;
    ``would_write`` (a dry run); ``skipped`` (mode skip on a tagged file), ``stale`` (its pixels changed since
    the model saw it), ``not_approved`` (no longer approved when its turn came), ``error``."""

    path: str = ""
    version: int = 0
    """The draft version committed."""
    action: CommitAction = ""
    reason: str = ""
    changes: list[str] = []
    """The per-file field diff (``Plan.describe``)."""
    not_written: list[str] = []
    """One line per value of the draft that did not (or in a dry run, would not) reach the file, and why."""
    mode: str = "merge"
    dry_run: bool = False
    backup_id: int | None = None
    """For ``metadata restore``."""
    backup_target: str = ""
    size: int = 0
    mtime_ns: int = 0
    head_tail: str = ""
    pixels: str = ""
    """The file as the commit left it (size, mtime, pixel hash): the draft's new fingerprint."""
    written: LastWrite | None = None
    """What the file holds of ours after this commit (the draft keeps it for its next write)."""
    meta: MetaSnapshot | None = None
    """The file's other metadata as the commit left it."""
    by: str = ""
    """The session that asked for the commit (the write is its step in the review's history)."""
    who: str = ""
    """That session as a person knows it (``tui (pid 4242)``)."""
    at: float = 0.0

    def with_backup(self, backup_id: int | None, target: str) -> CommitRecord:
        """As ``commit_draft`` records a write's backup: the link ``metadata restore`` and the draft keep."""
        return msgspec.structs.replace(self, backup_id=backup_id, backup_target=target if backup_id is not None else "")


# ---- CPU kinds (imageworks/jobs/cpu.py) ---------------------------------------------------------------------


class HashRecord(JobRecord, tag="hash"):
    """One file's perceptual hash (``hash`` and ``similar`` jobs), as the similarity cache keeps it. A file that
    cannot be read is a result too (``problem``, cached until the file changes), not a failed item."""

    path: str = ""
    size: int = 0
    mtime_ns: int = 0
    algorithm: str = ""
    hash_size: int = 0
    digest: bytes | None = None
    problem: str = ""


class ScanRecord(JobRecord, tag="scan"):
    """One library walk (``scan`` jobs; the daemon is the scan cache's one writer): the listing's counts as the cache
    now holds them, what this walk changed, and the metadata probe when one was asked for. The fields up to
    ``follow_symlinks`` are ``imageworks.scan.ScanResult``'s (``scan.job.scan_result`` makes one of them)."""

    root: str = ""
    files: int = 0
    bytes: int = 0
    from_cache: bool = False
    seconds: float = 0.0
    scanned_at: float = 0.0
    age_seconds: float = 0.0
    walk_seconds: float = 0.0
    added: int = 0
    removed: int = 0
    changed: int = 0
    skipped_dirs: int = 0
    symlinks_skipped: int = 0
    empty_files: int = 0
    error_count: int = 0
    errors: list[str] = []
    follow_symlinks: bool = False
    probed: int | None = None
    """Files whose metadata this job read (None: no probe was asked for)."""
    probe_cached: int = 0
    probe_errors: list[str] = []
    warnings: list[str] = []
    """About the cache file itself (corrupt, rebuilt)."""


class MovedFile(msgspec.Struct, frozen=True, kw_only=True):
    """One file a move took along (a sidecar), and how it was just after: an undo refuses a file changed since."""

    src: str
    """Where it was."""
    dst: str
    """Where it is now."""
    size: int = 0
    mtime_ns: int = 0


class MoveRecord(JobRecord, tag="move"):
    """One photo moved into a folder (``move`` jobs: the rejects of a similarity review), never replacing a file; or
    put back where it was (a ``move`` job undoing one: ``path`` is then where it had been moved to)."""

    path: str = ""
    """Where the photo was."""
    to: str = ""
    """Where it is now (a ``-2`` name when its own was taken there; the sidecars get the same new stem)."""
    size: int = 0
    mtime_ns: int = 0
    """The photo at ``to`` just after the move (an undo refuses a photo that changed since)."""
    sidecars: list[MovedFile] = []
    """Every sidecar that went with it (``photo.jpg.xmp``, ``photo.xmp``, upper-case ``.XMP``)."""
    problems: list[str] = []
    """What stayed behind though the photo moved (a sidecar that could not be moved), one line each."""


class MonoRecord(JobRecord, tag="mono"):
    """One photo's mono check (``imageworks mono``): the verdict by the competition rules, why, the tone, the numbers
    behind it and the regions of colour (for ``query`` and ``not_mono``), as ``imageworks.mono.result`` defines them.
    A file that cannot be read is an error record with its one-line reason."""

    path: str = ""
    fingerprint: Fingerprint = msgspec.field(default_factory=Fingerprint)
    """The file as it was checked: a later write refuses a file that changed since."""
    verdict: str = ""
    """``neutral_mono``, ``toned_mono``, ``query`` or ``not_mono`` (empty on error)."""
    reasons: list[str] = []
    tone: Tone | None = None
    numbers: Numbers = msgspec.field(default_factory=Numbers)
    regions: list[Region] = []
    summary: str = ""
    rules: str = "fiap"
    colour_space: str = ""
    dimensions: tuple[int, int] = (0, 0)
    """The photo's width and height (after its EXIF orientation)."""
    analysed: tuple[int, int] = (0, 0)
    overlays: Overlays = msgspec.field(default_factory=Overlays)
    cached: bool = False
    """Read back from the mono cache (the file had not changed since it was last checked)."""


# ---- the mono desk: narration and verdict writing (model runner) ---------------------------------------------------


class Narration(msgspec.Struct, kw_only=True):
    """One region in words: the colour, its strength and location come from measurement, only ``object`` from the
    model."""

    object: str = ""
    colour: str = ""
    strength: str = ""
    location: str = ""
    area_pct: float = 0.0
    sentence: str = ""
    answer: str = ""
    """The model's answer as it came (for review), before colour words were removed."""
    dropped: list[str] = []
    """Colour words in the answer that contradicted the measured colour (dropped and counted)."""


class NarrateRecord(JobRecord, tag="narrate"):
    """The colour narrator's account of one photo's regions (``imageworks mono --narrate``)."""

    path: str = ""
    fingerprint: Fingerprint = msgspec.field(default_factory=Fingerprint)
    verdict: str = ""
    regions: list[Narration] = []
    text: str = ""
    """The sentences, one per region, as written into a field when asked."""
    contradictions: int = 0
    """Colour words the model gave that contradicted the measurement (dropped)."""
    model: ModelRef = msgspec.field(default_factory=ModelRef)
    seconds: float = 0.0


class MonoWriteRecord(JobRecord, tag="mono-write"):
    """Writing one photo's mono verdict (``mono:*`` keyword, and the narration into a chosen field) into its file."""

    path: str = ""
    verdict: str = ""
    keyword: str = ""
    field: str = "none"
    narration: str = ""
    """What the write was asked to put into ``field`` (the photo's review draft takes it, as the file does)."""
    write: WriteOutcome | None = None

    def with_backup(self, backup_id: int | None, target: str) -> MonoWriteRecord:
        """The record journaled before its write, with the backup that write took (the photo's draft links it)."""
        if self.write is None:
            return self
        return msgspec.structs.replace(self, write=msgspec.structs.replace(self.write, backup_id=backup_id))


AnyRecord = (
    TagRecord
    | EchoRecord
    | CommitRecord
    | HashRecord
    | ScanRecord
    | MoveRecord
    | MonoRecord
    | NarrateRecord
    | MonoWriteRecord
)
"""The tagged union ``protocol.ResultRecord.record`` decodes into."""

RECORD_TYPES: dict[str, type[JobRecord]] = {
    t.__struct_config__.tag: t  # type: ignore[misc]
    for t in (
        TagRecord,
        EchoRecord,
        CommitRecord,
        HashRecord,
        ScanRecord,
        MoveRecord,
        MonoRecord,
        NarrateRecord,
        MonoWriteRecord,
    )
}
"""Record type by job kind name, for rows journaled without the ``kind`` tag (and kinds whose records are another
kind's: a ``similar`` job journals ``HashRecord``s)."""
RECORD_TYPES["similar"] = HashRecord


# ---- job outcomes: what a job-level step (``CpuKind.conclude``) leaves on the job ---------------------------------


class JobOutcome(msgspec.Struct, kw_only=True, tag_field="kind"):
    """Base of the typed outcomes kept on a job (``JobInfo.outcome``), tagged by kind like records."""


class SimilarOutcome(JobOutcome, tag="similar"):
    """A ``similar`` job's search: the groups themselves come from ``similar.groups`` at any threshold at or above
    ``floor`` (from the stored neighbours: no hashing, no search)."""

    method: str = "hash"
    floor: float = 0.0
    """The threshold the neighbours were searched at."""
    images: int = 0
    """Images compared (skipped ones not counted)."""
    skipped: int = 0
    raw_left_out: int = 0
    """RAW files of the folders (no decoder for their pixels)."""
    hashed: int = 0
    """Files hashed by the search step itself (changed since the job listed them; the job's items are the rest)."""
    embedded: int = 0
    searched: bool = False
    """False when the neighbours came from the stored search of the same files."""
    search_key: str = ""
    """The stored search's key in the similarity cache."""


AnyOutcome = SimilarOutcome
"""The tagged union ``JobInfo.outcome`` decodes into (one member per kind that concludes)."""
