"""Review messages: the requests a client edits drafts with, their replies, and the ``review`` event.

Drafts live in the daemon (one ``DraftStore``); a client reads pages of them, sends edits as the tagged edit
Structs of ``imageworks.review.edits`` with the version it saw (a stale one gets the error code ``conflict``),
and follows every change on the ``review`` topic: each ``ReviewEvent`` carries the changed drafts, each with the
store's ``seq`` of its change. A client that missed events asks ``review.changes`` for every draft changed after
the last seq it saw (the Clone pattern, as jobs do).
"""

from __future__ import annotations

from typing import Literal

import msgspec

from imageworks.review.drafts import Draft
from imageworks.review.edits import BatchEdit, DraftEdit, SetValues
from imageworks.review.history import HistoryState
from imageworks.review.rounds import FileWritten, Recalled
from imageworks.review.vocabulary import Suggestion

REVIEW_TOPIC = b"review"
"""Every change of a draft is published here."""
PAGE_LIMIT = 2000
"""The most drafts one ``review.list`` or ``review.changes`` reply holds."""

# ---- requests -------------------------------------------------------------------------------------------------


WriteMode = Literal["merge", "skip", "overwrite"]
"""How a commit treats values a file already holds (``metadata.mode``; ``imageworks.metadata``)."""


class ReviewList(msgspec.Struct, kw_only=True):
    """One page of the drafts under ``root`` ("" = every library) matching ``query`` (the filter language:
    ``kw:beach status:pending -kw:people caption:"sunset"``), in path order, after the path ``after``."""

    root: str = ""
    query: str = ""
    after: str | None = None
    limit: int = 200


class ReviewGet(msgspec.Struct, kw_only=True):
    path: str


class ReviewEdit(msgspec.Struct, kw_only=True):
    """One edit of one draft (the edit names its path), made against ``base_version``."""

    edit: DraftEdit
    base_version: int


class ReviewBatch(msgspec.Struct, kw_only=True):
    """An edit of every draft of a selection (paths, or a root and a query) as it is now: one undo step."""

    edit: BatchEdit


class ReviewUndo(msgspec.Struct, kw_only=True):
    pass


class ReviewRedo(msgspec.Struct, kw_only=True):
    pass


class ReviewChanges(msgspec.Struct, kw_only=True):
    after_seq: int
    limit: int = 1000


class ReviewKeywords(msgspec.Struct, kw_only=True):
    """The all-keywords pane: every kept keyword of the drafts under ``root`` matching ``query``, with counts."""

    root: str = ""
    query: str = ""
    limit: int = 0
    """0 = all."""


class ReviewComplete(msgspec.Struct, kw_only=True):
    """Autocomplete: keywords starting with ``prefix``, ranked by use in the library and its approved drafts."""

    prefix: str
    limit: int = 10


class ReviewCommit(msgspec.Struct, kw_only=True):
    """Write drafts' edited values into their files, as a ``commit`` job (no model): the approved drafts of
    ``paths`` (or under ``root`` matching ``query``); with ``approved_only=False`` the pending ones too.
    ``dry_run`` plans and reports each file's field diff without writing."""

    root: str = ""
    query: str = ""
    paths: list[str] = []
    mode: WriteMode = "merge"
    dry_run: bool = False
    approved_only: bool = True


class ImportLine(msgspec.Struct, kw_only=True):
    """One line of a ``review import``: the values it sets, made against the draft's ``base_version`` (the
    export's ``version``; None: as the draft is now, ``--force``)."""

    line: int
    edit: SetValues
    base_version: int | None = None


class ReviewImport(msgspec.Struct, kw_only=True):
    """Apply edits made elsewhere as one undo step: a line whose draft moved on since its version (or that cannot
    be applied) is refused; with any refused, nothing is applied unless ``partial``."""

    lines: list[ImportLine]
    partial: bool = False
    check_only: bool = False
    """Refuse what would be refused, apply nothing (the client already found a bad line of its own)."""


class ReviewRestored(msgspec.Struct, kw_only=True):
    """``metadata restore`` put these files back as they were before ImageWorks wrote them: their drafts are
    approved-not-written again (committed → approved, the backup consumed, the fingerprint read anew)."""

    paths: list[str]


class ReviewRecall(msgspec.Struct, kw_only=True):
    """A writer outside the daemon (``metadata write``) asks what ImageWorks last wrote into these files, to plan
    its write against it as every writer does (``review.rounds``)."""

    paths: list[str]


class ReviewWritten(msgspec.Struct, kw_only=True):
    """That writer tells what it wrote: each file's draft then shows what the file holds (one undo step per
    ``job``)."""

    files: list[FileWritten]
    job: str = ""


# ---- replies and the event ------------------------------------------------------------------------------------


class ReviewPage(msgspec.Struct, kw_only=True):
    drafts: list[Draft]
    total: int
    """Drafts matching, on every page."""
    next_after: str | None
    """``after`` for the next page; None on the last."""
    seq: int
    """The store's last change seq when the page was read: follow ``review.changes(after_seq=seq)`` from here."""
    history: HistoryState


class ReviewDraft(msgspec.Struct, kw_only=True):
    draft: Draft
    seq: int


class ReviewEdited(msgspec.Struct, kw_only=True):
    """The drafts an edit, batch, undo or redo changed, as saved (empty: nothing changed, or nothing to undo)."""

    drafts: list[Draft]
    seq: int
    history: HistoryState
    label: str = ""
    """What was done, in a few words (``add keyword beach``, ``undo approve``)."""
    step_by: str = ""
    """For an undo or redo: the session whose step it moved (compare with your own), ``step_who`` as a person
    knows it (``tui (pid 4242)``, ``the daemon``), ``step_paths`` the drafts of that step."""
    step_who: str = ""
    step_paths: list[str] = []


class LineRefusal(msgspec.Struct, kw_only=True):
    line: int
    path: str
    code: str
    """``conflict`` (the draft moved on since the line's version), ``unknown_draft``, ``bad_request``."""
    message: str


class ReviewImported(msgspec.Struct, kw_only=True):
    drafts: list[Draft]
    """The drafts the import changed (none when a line was refused and the import was not ``partial``)."""
    refused: list[LineRefusal]
    unchanged: int
    """Lines applied that changed nothing (their drafts already held those values)."""
    seq: int
    history: HistoryState


class ReviewRecalled(msgspec.Struct, kw_only=True):
    files: list[Recalled]
    """One per path asked, in order (``version`` 0: the file has no draft)."""


class ReviewChangesPage(msgspec.Struct, kw_only=True):
    drafts: list[Draft]
    last_seq: int
    more: bool


class KeywordCount(msgspec.Struct, frozen=True, kw_only=True):
    keyword: str
    count: int


class ReviewKeywordList(msgspec.Struct, kw_only=True):
    keywords: list[KeywordCount]
    """Most used first."""
    drafts: int
    """How many drafts were counted."""


class ReviewCompletions(msgspec.Struct, kw_only=True):
    suggestions: list[Suggestion]


class ReviewEvent(msgspec.Struct, kw_only=True):
    """Drafts changed (a big batch comes as several events). ``by`` is the session that changed them (``daemon``
    for a tag result, a commit, a file found changed), ``label`` what was done."""

    drafts: list[Draft]
    seq: int
    """The highest ``seq`` among ``drafts``."""
    by: str = ""
    label: str = ""
    history: HistoryState | None = None
    """The undo/redo state after a person's change (None for the daemon's own)."""


REVIEW_REQUEST_TYPES: dict[str, type[msgspec.Struct]] = {
    "review.list": ReviewList,
    "review.get": ReviewGet,
    "review.edit": ReviewEdit,
    "review.batch": ReviewBatch,
    "review.undo": ReviewUndo,
    "review.redo": ReviewRedo,
    "review.changes": ReviewChanges,
    "review.keywords": ReviewKeywords,
    "review.complete": ReviewComplete,
    "review.commit": ReviewCommit,
    "review.import": ReviewImport,
    "review.restored": ReviewRestored,
    "review.recall": ReviewRecall,
    "review.written": ReviewWritten,
}

REVIEW_REPLY_TYPES: dict[str, type[msgspec.Struct]] = {
    "review.page": ReviewPage,
    "review.draft": ReviewDraft,
    "review.edited": ReviewEdited,
    "review.changes.page": ReviewChangesPage,
    "review.keywords.reply": ReviewKeywordList,
    "review.completions": ReviewCompletions,
    "review.imported": ReviewImported,
    "review.recalled": ReviewRecalled,
}

REVIEW_EVENT_TYPES: dict[str, type[msgspec.Struct]] = {"event.review": ReviewEvent}
