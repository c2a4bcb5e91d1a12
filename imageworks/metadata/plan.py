"""The metadata writer's data: what a caller proposes, what a file holds, and the plan between them.

Every type is a msgspec Struct, so a plan can be stored (review drafts) or sent over the wire (daemon) as is.
Field names are exiftool's ``Group:Tag`` names (``XMP-dc:Subject``, ``IPTC:Keywords``): the names photographers
and support threads already use, and the ones `exiftool -G1` prints when checking our work.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from imageworks.errors import ImageWorksError

# the records a plan carries live in file_state (light to import: review drafts and job records hold them)
from imageworks.file_state import LastWrite as LastWrite
from imageworks.file_state import MetaSnapshot as MetaSnapshot

Mode = Literal["skip", "merge", "overwrite"]
MODES: tuple[str, ...] = ("skip", "merge", "overwrite")

Value = str | list[str] | None


class MetadataError(ImageWorksError):
    """A photo's metadata could not be read or written. ``str(err)`` is one line naming the file and the reason;
    ``code`` is a stable word for callers that count outcomes (``changed``, ``read_only``, ``corrupt``, ...)."""


class Provenance(msgspec.Struct, frozen=True, kw_only=True):
    """Who wrote the text: stored in XMP under our own namespace, so "skip files ImageWorks already tagged" works."""

    model: str
    profile: str = ""
    profile_version: str = ""
    date: str = ""
    """ISO 8601; empty = the time of planning."""
    tool: str = ""
    """Filled in by ``plan`` (``ImageWorks 0.1.0``)."""
    digest: str = ""
    """Filled in by ``plan``: the digest of the text as written (see ``metadata.provenance``)."""


class Proposed(msgspec.Struct, frozen=True, kw_only=True):
    """New values. ``None`` = no opinion (field left alone in every mode). In ``overwrite`` mode an empty string or
    an empty list clears the field; in ``merge`` mode empty values change nothing. A keyword ``a|b`` is hierarchical:
    ``lr:hierarchicalSubject`` gets ``a|b`` and the flat keyword fields get ``a`` and ``b``."""

    caption: str | None = None
    description: str | None = None
    keywords: list[str] | None = None
    provenance: Provenance | None = None
    last: LastWrite | None = None
    """What ImageWorks last wrote into this file (a review draft remembers it): in ``merge`` mode a field still
    holding it is replaced, one changed since is kept and reported; keywords it added and the draft dropped go."""
    adds_keywords: bool = False
    """``keywords`` are added to ours rather than being the whole list of them (``metadata write --keywords`` in
    ``merge`` mode): no keyword of ``last`` is taken out, and ``last_write`` keeps them all."""
    own_keyword_prefix: str = ""
    """A namespace of keywords the writer owns (``mono:``): in ``merge`` mode an existing keyword in it that
    ``keywords`` does not repeat is replaced rather than kept beside the new one (a verdict keyword changes when
    the verdict does); the plan lists each removal. Every other keyword is the person's and is kept."""


class Existing(msgspec.Struct, frozen=True, kw_only=True):
    """What a photo already holds. ``caption``, ``description`` and ``keywords`` are the values a person sees, gathered
    from every field that holds them (XMP first, then IPTC, then EXIF); ``fields`` holds each field's own value."""

    path: str
    target: str
    """The file that holds (or will hold) the metadata: the photo itself, or its ``.xmp`` sidecar."""
    format: str
    sidecar: bool
    caption: str | None = None
    description: str | None = None
    keywords: list[str] = []
    hierarchical: list[str] = []
    provenance: Provenance | None = None
    fields: dict[str, str | list[str]] = {}
    embedded: dict[str, str | list[str]] = {}
    """For a sidecar target: what the photo itself holds (read only, never written)."""
    meta: MetaSnapshot = MetaSnapshot()
    """Everything else the target holds, as a digest and the notable fields."""

    @property
    def tagged(self) -> bool:
        """True when a person (or ImageWorks) already gave the photo keywords, a title or a description."""
        return bool(self.keywords or self.caption or self.description)


class FieldChange(msgspec.Struct, frozen=True):
    field: str
    old: Value
    new: Value
    """``None`` = the field is removed."""


class Fingerprint(msgspec.Struct, frozen=True):
    """The file a plan was made against: a different size, mtime or inode means someone else wrote it since."""

    size: int
    mtime_ns: int
    ino: int


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    target: str
    format: str
    sidecar: bool
    mode: Mode
    changes: list[FieldChange] = []
    truncated: list[str] = []
    """One line per value cut to a field's limit (always at a character boundary)."""
    skipped: list[str] = []
    """Fields this format cannot hold (IPTC in WebP, everything but XMP in a sidecar)."""
    reason: str = ""
    """Why nothing changes, when nothing does (``skip: already has keywords``)."""
    not_written: list[str] = []
    """One line per asked-for value the file will not hold after this plan (``skip`` left it, ``merge`` kept the
    existing caption): a caller that was asked for an explicit edit reports these as not done."""
    last_write: LastWrite | None = None
    """What the file will hold of ours once the plan is applied (a review draft keeps it for its next write)."""
    meta: MetaSnapshot | None = None
    """The file's other metadata as planned against (``review`` shows what another program changed since)."""
    fingerprint: Fingerprint | None = None
    """The target as planned against; ``None`` = it did not exist (a new sidecar) and must still not exist."""
    keep_mtime: bool = True
    backups: bool = True

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def describe(self) -> list[str]:
        """The diff a person reads before saying yes: one header line, then one line per change and note."""
        where = f"sidecar {self.target}" if self.sidecar else "in file"
        lines = [f"{self.path} ({self.format.upper()}, {where}, mode {self.mode})"]
        if not self.changes:
            lines.append(f"  unchanged: {self.reason or 'nothing to change'}")
        for change in self.changes:
            lines.append(f"  {change.field}: {_describe_change(change.old, change.new)}")
        lines.extend(f"  truncated: {note}" for note in self.truncated)
        lines.extend(f"  not written: {note}" for note in self.skipped)
        lines.extend(f"  not written: {note}" for note in self.not_written)
        return lines


class Applied(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    target: str
    changed: list[str] = []
    """The fields written; empty when the plan had nothing to do (the file was not touched)."""
    backup_id: int | None = None
    job_id: str | None = None
    fingerprint: Fingerprint | None = None
    """The target as left behind."""
    meta: MetaSnapshot | None = None
    """Its other metadata as left behind (what a later look compares with)."""


class Restored(msgspec.Struct, frozen=True, kw_only=True):
    target: str
    photo: str
    action: Literal["restored", "removed", "unchanged", "refused"]
    """``removed``: ImageWorks had created the file (a sidecar); ``unchanged``: it already held the original;
    ``refused``: see ``reason`` (changed since we wrote it, backup missing, ...)."""
    reason: str = ""
    backup_id: int
    job_id: str | None = None


def _short(text: str, limit: int = 70) -> str:
    text = text.replace("\n", "⏎")
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _describe_change(old: Value, new: Value) -> str:
    if isinstance(old, list) or isinstance(new, list):
        before = old if isinstance(old, list) else ([] if old is None else [old])
        after = new if isinstance(new, list) else ([] if new is None else [new])
        added = [k for k in after if k not in before]
        removed = [k for k in before if k not in after]
        kept = [k for k in before if k in after]
        parts = [f"+ {k}" for k in added] + [f"- {k}" for k in removed]
        if not parts:
            parts = ["reordered"]
        text = ", ".join(parts)
        return text + (f"  (kept {len(kept)}: {', '.join(kept)})" if kept else "")
    if old is None:
        return f"(empty) → {_short(new or '')}"
    if new is None:
        return f"{_short(old)} → (removed)"
    return f"{_short(old)} → {_short(new)}"
