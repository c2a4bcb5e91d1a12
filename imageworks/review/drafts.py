"""Review drafts as data: what the model proposed for one image, what the person made of it, and where it stands.

A ``Draft`` is one image's review. ``generated`` is the model's values (after mapping onto the photographer's
vocabulary), ``edited`` what the person has made of them (a copy of ``generated`` until they edit), ``proposal`` a
re-tag's new values kept beside the person's edits (never over them). Every keyword carries its own state
(suggested / accepted / rejected) and source (model / person / mapped), so a rejected keyword is remembered and
never proposed again for that image. All types are msgspec Structs: they are stored as is and travel over the wire.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from imageworks.errors import ImageWorksError
from imageworks.file_state import LastWrite, MetaSnapshot
from imageworks.tagging.keywords import merge_key

Status = Literal["pending", "approved", "rejected", "committed", "stale"]
STATUSES: tuple[str, ...] = ("pending", "approved", "rejected", "committed", "stale")
KeywordState = Literal["suggested", "accepted", "rejected"]
KeywordSource = Literal["model", "person", "mapped"]
HIERARCHY_SEPARATOR = "|"
"""As in lr:hierarchicalSubject and the metadata writer: ``Animals|Dog``."""
FILE_FACTS = ("fingerprint", "written", "file_meta", "backup", "not_written")
"""What a draft knows about its file rather than what the person decided: undo and redo leave them as they are
(undoing a step never changes the file: the file changes only at the next write)."""


class ReviewError(ImageWorksError):
    """A review request cannot be done (no such draft, an empty keyword, a bad query). ``str(err)`` is one line."""

    code = "bad_request"


class UnknownDraft(ReviewError):
    """The image has no draft (it was never tagged, or not under that path)."""

    code = "unknown_draft"


class Conflict(ReviewError):
    """An edit was made against an older version of a draft: nothing was changed. The message names the current
    version and who changed it last, so a client can reload and let the person decide. ``changed_by`` is the
    session that did; the daemon names it as a person knows it (``naming``)."""

    code = "conflict"

    def __init__(self, path: str, base_version: int, current_version: int, changed_by: str, last_change: str):
        self.path = path
        self.base_version = base_version
        self.current_version = current_version
        self.changed_by = changed_by
        self.last_change = last_change
        super().__init__(self.naming(changed_by))

    def naming(self, who: str, *, since: str = "you loaded it", had: str = "you had", then: str = "") -> str:
        """The message, with the one who changed the draft named ``who`` (``tui (pid 1234)``); an import says
        ``since="this export"``, ``had="the line has"`` and what ``then`` (``--force applies it anyway``)."""
        by = f" by {who}" if who else ""
        what = f" ({self.last_change})" if self.last_change else ""
        return (
            f"{self.path}: changed{by}{what} since {since} ({had} version {self.base_version}, it is now "
            f"{self.current_version}); {then or 'reload and try again'}"
        )


class FileFingerprint(msgspec.Struct, frozen=True, kw_only=True):
    """The image as it was when the model looked at it: ``pixels`` is a hash of its image data (``fingerprint``),
    which a metadata change by any program leaves as it is; empty = not hashed. ``size`` and ``mtime_ns`` (at the
    scan cache's precision) are the file's then. ``head_tail`` (the whole file's first and last MiB) is what drafts
    made before pixel hashes kept: such a draft is judged by it until it gets a pixel hash."""

    size: int
    mtime_ns: int
    head_tail: str = ""
    pixels: str = ""


class DraftKeyword(msgspec.Struct, frozen=True, kw_only=True):
    keyword: str
    """As shown and written; ``a|b`` is a hierarchical keyword."""
    state: KeywordState = "suggested"
    source: KeywordSource = "model"
    mapped_from: str | None = None
    """For ``source="mapped"``: the model's own word (``puppy`` mapped to ``dog``)."""
    score: float | None = None
    new: bool = False
    """A word the photographer's library does not hold yet."""


class Values(msgspec.Struct, frozen=True, kw_only=True):
    caption: str = ""
    description: str = ""
    keywords: tuple[DraftKeyword, ...] = ()

    @property
    def kept_keywords(self) -> list[str]:
        """The keywords a commit writes: every one the person has not rejected."""
        return [k.keyword for k in self.keywords if k.state != "rejected"]


class Origin(msgspec.Struct, frozen=True, kw_only=True):
    """The tag result a draft's values came from (the journal addresses it by job and item index)."""

    job_id: str
    item: int
    model: str = ""
    profile: str = ""
    profile_version: str = ""


class Generated(msgspec.Struct, frozen=True, kw_only=True):
    """A finished tag result, as the daemon hands it to ``DraftStore.upsert_generated``."""

    path: str
    origin: Origin
    values: Values
    fingerprint: FileFingerprint
    file_meta: MetaSnapshot | None = None
    """The file's other metadata when the model looked at it."""
    written: LastWrite | None = None
    """What ``tag --write`` left in the file, when it wrote there."""


class Proposal(msgspec.Struct, frozen=True, kw_only=True):
    """A re-tag's values for an image whose draft the person already edited: shown beside the edits."""

    origin: Origin
    values: Values
    fingerprint: FileFingerprint
    at: float


class BackupLink(msgspec.Struct, frozen=True, kw_only=True):
    """Where a commit's backup is: ``metadata restore`` takes ``backup_id`` (or the job id)."""

    backup_id: int | None
    target: str
    job_id: str | None = None
    at: float = 0.0


class FileWrite(msgspec.Struct, frozen=True, kw_only=True):
    """What a commit left in a draft's file, for ``DraftStore.record_commit``."""

    fingerprint: FileFingerprint
    """The file as left."""
    backup: BackupLink | None = None
    written: LastWrite | None = None
    file_meta: MetaSnapshot | None = None
    not_written: tuple[str, ...] = ()
    """The draft's values that did not reach the file, and why (empty: every one did)."""


class Draft(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    origin: Origin
    generated: Values
    edited: Values
    fingerprint: FileFingerprint
    status: Status = "pending"
    stale_reason: str = ""
    proposal: Proposal | None = None
    backup: BackupLink | None = None
    version: int = 0
    """Bumped by every save (the first makes it 1); an edit names the version it was made against (optimistic
    concurrency)."""
    seq: int = 0
    """The store's change sequence number of this draft's last change (Clone pattern: catch up with ``seq > n``)."""
    created: float = 0.0
    updated: float = 0.0
    changed_by: str = ""
    """The client (session) that made the last change; ``daemon`` for generation, commit and staleness."""
    last_change: str = ""
    """What that change was, in a few words (``approve``, ``add keyword beach``, ``re-tag``)."""
    written: LastWrite | None = None
    """What ImageWorks' last write left in the file's text fields (value and hash per field, the keywords it put
    in): the next write replaces what still holds it and keeps what someone changed since."""
    file_meta: MetaSnapshot | None = None
    """The file's other metadata when the model looked at it or ImageWorks last wrote it: what another program
    changed since is shown, never a reason to call the draft stale."""
    not_written: tuple[str, ...] = ()
    """What the last write left out of the file, and why (a caption changed elsewhere since...): the draft stays
    approved until a write gets every value in."""

    @property
    def is_edited(self) -> bool:
        """True once the person changed the values or the status: a re-tag then goes to ``proposal``."""
        return self.edited != self.generated or self.status != "pending"

    @property
    def has_new_keywords(self) -> bool:
        return any(k.new and k.state != "rejected" for k in self.edited.keywords)


def keyword_key(keyword: str) -> str:
    """What two keywords must share to count as one: case, spacing and a plural last word ignored, per level of
    a hierarchy (``Animals|Dogs`` and ``animals | dog`` share a key; ``tree`` and ``street`` do not)."""
    levels = (" ".join(level.split()).casefold() for level in keyword.split(HIERARCHY_SEPARATOR))
    return HIERARCHY_SEPARATOR.join(merge_key(level) for level in levels if level)


def leaf(keyword: str) -> str:
    """The last level of a hierarchical keyword (``Animals|Dog`` → ``Dog``), stripped."""
    return keyword.rsplit(HIERARCHY_SEPARATOR, 1)[-1].strip()


def keyword_keys(keyword: str) -> list[str]:
    """The keys a filter ``kw:X`` matches a keyword by: the whole keyword and each level of a hierarchy."""
    key = keyword_key(keyword)
    levels = key.split(HIERARCHY_SEPARATOR)
    return [key] if len(levels) == 1 else [key, *dict.fromkeys(levels)]
