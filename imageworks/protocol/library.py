"""Library messages: what a client asks of the daemon's library stores (the scan cache, the similarity cache and the
keep/reject marks), which the daemon alone writes. Walks, hashing, searches and moves are jobs (``scan``,
``similar``, ``move``), followed like any job; these requests answer at once."""

from __future__ import annotations

import msgspec


class Pair(msgspec.Struct, frozen=True, kw_only=True):
    """Two images and their score (0..1); in a group, ``a`` is the reference and ``b`` a member."""

    a: str
    b: str
    score: float
    verdict: str


class Group(msgspec.Struct, frozen=True, kw_only=True):
    """A reference photo and the photos within the threshold **of it** (never of one another: groups do not chain).

    The reference is the group's best photo (``imageworks.similarity.quality``: the largest, then the sharpest) and
    comes first in ``paths``; the members follow by their score to it, best first, each with its ``Pair``."""

    paths: list[str]
    """The reference, then the members."""
    reference: str = ""
    dimensions: list[tuple[int, int]] = []
    """Width and height of each of ``paths`` ((0, 0): it could not be read when the search ran)."""
    best: float
    """The strongest member's score to the reference."""
    weakest: float = 0.0
    """The weakest member's score to the reference: the group's label (every member scores at least this)."""
    verdict: str
    """The band of ``weakest``: ``duplicate`` only when every member is a duplicate of the reference."""
    pairs: list[Pair]
    """Each member with the reference (``a``), in the order of ``paths``."""


class Links(msgspec.Struct, frozen=True, kw_only=True):
    """Every stored link at or above a threshold, between the images of ``ranked`` (by index), which is in the order
    references are chosen (best first): what the groups at that threshold or any higher one are made from, by the
    daemon or by a client re-grouping on its own (``imageworks.similarity.groups.groups_from_links``)."""

    ranked: list[str] = []
    dimensions: list[tuple[int, int]] = []
    """Width and height of each of ``ranked``."""
    sharpness: list[float] = []
    """What ranks each of ``ranked`` under another reference rule: its sharpness (-1: not measured), ..."""
    file_bytes: list[int] = []
    """... its file's size and ..."""
    modified_ns: list[int] = []
    """... its modification time (empty lists: the ``ranked`` order, whatever the rule)."""
    a: list[int] = []
    b: list[int] = []
    score: list[float] = []


class ScanClear(msgspec.Struct, kw_only=True):
    """Forget the cached listing of ``root`` ("" = of every root)."""

    root: str = ""


class ScanCleared(msgspec.Struct, kw_only=True):
    roots: int
    """Cached listings dropped."""
    warnings: list[str] = []


class SimilarGroups(msgspec.Struct, kw_only=True):
    """The groups a finished ``similar`` job's search makes at ``threshold`` (at or above its floor), from the stored
    neighbours: no hashing, no search (milliseconds)."""

    job_id: str
    threshold: float
    reference: str = "largest"
    """How each group's reference is chosen: a name of ``imageworks.similarity.quality.REFERENCE_RULES``."""


class SkippedImage(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    problem: str


class PathMark(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    mark: str
    """keep or reject."""


class SimilarGroupsReply(msgspec.Struct, kw_only=True):
    job_id: str
    method: str
    threshold: float
    floor: float
    """The threshold the neighbours were searched at: a lower one needs another similar job."""
    images: int
    groups: list[Group]
    skipped: list[SkippedImage]
    """Images left out (unreadable), one line each."""
    marks: list[PathMark]
    """keep/reject of the images in ``groups`` that have a mark."""
    bands: dict[str, float]
    """The verdict bands the job used (duplicate, similar)."""
    links: Links = Links()
    """The links at or above ``threshold`` the groups were made from: a client re-groups at a higher threshold from
    these alone."""
    reference_rule: str = ""
    """How each group's reference was chosen ("largest, then sharpest")."""
    reference: str = "largest"
    """The rule's name (``SimilarGroups.reference``)."""
    step: float = 0.01
    """The smallest threshold change that can change the groups: one hash bit (``1/64`` with 64-bit hashes) for the
    hash method, whose scores move in those steps; 0.01 for scores from embeddings."""


class SimilarMark(msgspec.Struct, kw_only=True):
    """Mark ``paths`` keep or reject (None clears their marks): the daemon keeps them (the state dir) for every
    client. (Lists, not a dict keyed by path: a non-UTF-8 file name travels as a string value, never as a key.)"""

    paths: list[str]
    mark: str | None


class SimilarMarks(msgspec.Struct, kw_only=True):
    marks: list[PathMark]
    """The marks of the paths asked about, as they are now (a cleared one is absent)."""


LIBRARY_TOPIC = b"library"
"""Every change a library watcher applied to the scan cache is published here (``LibraryChanged``)."""
CHANGED_PATHS_SHOWN = 100
"""Paths an event names per kind of change; the counts are whole."""


class LibraryWatch(msgspec.Struct, frozen=True, kw_only=True):
    """One library root as the daemon watches it (``daemon status``)."""

    root: str
    state: str
    """``watching`` (changes update the cache; a refresh is answered from it), ``starting`` (setting up the watch or
    catching up with a walk), ``refresh needed`` (watched, but files may have changed while it was not: the next scan
    walks it) or ``not watched`` (see ``reason``: every refresh walks the root)."""
    reason: str = ""
    """Why the root is not watched, or why it needs a refresh."""
    directories: int = 0
    """Directories under the root when the watch was set up (0: no watch)."""
    changes: int = 0
    """Files added, changed or removed that the watch has applied to the cache."""
    walks: int = 0
    """Walks the watch ran to be sure of the rows: once after it was set up, and after each burst big enough to
    have overflowed the kernel's event queue (whose losses watchfiles does not report)."""


class LibraryChanged(msgspec.Struct, kw_only=True):
    """Files under ``root`` changed on disk and the scan cache now says so (a new photo, one rewritten in place: its
    probe results were dropped, one removed or renamed: removed here, added under its new name)."""

    root: str
    added: int = 0
    changed: int = 0
    removed: int = 0
    paths: list[str] = []
    """Absolute paths of the files concerned, at most ``CHANGED_PATHS_SHOWN`` of each kind."""
    more: bool = False
    """Some paths were left out of ``paths``."""


LIBRARY_EVENT_TYPES: dict[str, type[msgspec.Struct]] = {"event.library": LibraryChanged}

LIBRARY_REQUEST_TYPES: dict[str, type[msgspec.Struct]] = {
    "scan.clear": ScanClear,
    "similar.groups": SimilarGroups,
    "similar.mark": SimilarMark,
}
LIBRARY_REPLY_TYPES: dict[str, type[msgspec.Struct]] = {
    "scan.cleared": ScanCleared,
    "similar.groups.reply": SimilarGroupsReply,
    "similar.marks": SimilarMarks,
}
