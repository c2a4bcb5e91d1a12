"""Which fields hold what, their limits, and the modes: pure functions from (what is there, what is proposed, mode)
to the exact field changes. No I/O here; tests/test_metadata_fields.py checks these with plain asserts and hypothesis.

Where each tool reads from (Lightroom, digiKam, darktable, Photo Mechanic, Windows): caption → XMP dc:title and the
Windows XPTitle/XPSubject; description → XMP dc:description, IPTC Caption-Abstract, EXIF ImageDescription, XPComment;
keywords → XMP dc:subject, lr:hierarchicalSubject, IPTC Keywords, XPKeywords (and digiKam's TagsList when the file
already has one, because digiKam reads that first and would otherwise hide our keywords).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import msgspec

from imageworks.metadata.model import FieldChange, Mode, Proposed, Provenance, Value
from imageworks.metadata.provenance import (
    PROVENANCE_FIELDS,
    content_digest,
    provenance_values,
    read_provenance,
    still_ours,
)

XMP_TITLE = "XMP-dc:Title"
XMP_DESCRIPTION = "XMP-dc:Description"
XMP_SUBJECT = "XMP-dc:Subject"
XMP_HIERARCHICAL = "XMP-lr:HierarchicalSubject"
XMP_DIGIKAM_TAGS = "XMP-digiKam:TagsList"
IPTC_CAPTION = "IPTC:Caption-Abstract"
IPTC_KEYWORDS = "IPTC:Keywords"
IPTC_OBJECT_NAME = "IPTC:ObjectName"
IPTC_CHARSET = "IPTC:CodedCharacterSet"
EXIF_DESCRIPTION = "IFD0:ImageDescription"
XP_TITLE = "IFD0:XPTitle"
XP_SUBJECT = "IFD0:XPSubject"
XP_COMMENT = "IFD0:XPComment"
XP_KEYWORDS = "IFD0:XPKeywords"

UTF8_CHARSET = "UTF8"
"""IPTC 1:90 CodedCharacterSet for UTF-8, as exiftool prints it (stored as the ISO 2022 escape ``ESC % G``)."""

CAPTION_WRITE = (XMP_TITLE, XP_TITLE, XP_SUBJECT)
DESCRIPTION_WRITE = (XMP_DESCRIPTION, IPTC_CAPTION, EXIF_DESCRIPTION, XP_COMMENT)
KEYWORD_WRITE = (XMP_SUBJECT, IPTC_KEYWORDS, XP_KEYWORDS)
# reading looks in more places than we write: IPTC ObjectName is Photo Mechanic's title
CAPTION_READ = (XMP_TITLE, IPTC_OBJECT_NAME, XP_TITLE, XP_SUBJECT)
DESCRIPTION_READ = DESCRIPTION_WRITE
KEYWORD_READ = KEYWORD_WRITE
LIST_FIELDS = frozenset({XMP_SUBJECT, XMP_HIERARCHICAL, XMP_DIGIKAM_TAGS, IPTC_KEYWORDS, XP_KEYWORDS})

# Byte limits. IPTC's are the standard's; the others keep EXIF (one 64 KB JPEG segment shared with maker notes and
# the thumbnail) and XMP (one 64 KB segment shared with the person's own XMP) from overflowing.
TEXT_LIMITS: dict[str, tuple[int, str]] = {
    XMP_TITLE: (2000, "utf-8"),
    XMP_DESCRIPTION: (8000, "utf-8"),
    IPTC_CAPTION: (2000, "utf-8"),
    EXIF_DESCRIPTION: (2000, "utf-8"),
    XP_TITLE: (4000, "utf-16-le"),
    XP_SUBJECT: (4000, "utf-16-le"),
    XP_COMMENT: (4000, "utf-16-le"),
}
IPTC_KEYWORD_LIMIT = 64
XP_KEYWORDS_LIMIT = 4000
HIERARCHY_SEPARATOR = "|"
DIGIKAM_SEPARATOR = "/"

# What cameras put in ImageDescription by default: not a person's description.
CAMERA_DEFAULT_DESCRIPTIONS = frozenset(
    s.casefold()
    for s in (
        "OLYMPUS DIGITAL CAMERA",
        "SONY DSC",
        "DIGITAL CAMERA",
        "MINOLTA DIGITAL CAMERA",
        "KONICA MINOLTA DIGITAL CAMERA",
        "SAMSUNG DIGITAL CAMERA",
        "DCIM",
        "Default",
        "Exif_JPEG_PICTURE",
        "LEICA",
    )
)


def group_of(name: str) -> str:
    """``xmp``, ``iptc`` or ``exif``: the part of the file (and the exiv2 call) a field lives in."""
    if name.startswith("XMP-"):
        return "xmp"
    if name.startswith("IPTC:"):
        return "iptc"
    return "exif"


# --- text ------------------------------------------------------------------------------------------------------


def _joins_previous(ch: str) -> bool:
    """A character that belongs to the one before it: cutting just before it would change how that one looks."""
    code = ord(ch)
    return (
        unicodedata.combining(ch) != 0
        or ch == "\u200d"  # zero-width joiner (family and profession emoji)
        or 0xFE00 <= code <= 0xFE0F  # variation selectors (emoji presentation)
        or 0x1F3FB <= code <= 0x1F3FF  # skin-tone modifiers
        or 0xE0020 <= code <= 0xE007F  # tag characters (flag sequences)
    )


def truncate(text: str, limit: int, encoding: str = "utf-8") -> str:
    """The longest prefix of ``text`` that encodes to at most ``limit`` bytes, cut between characters (never inside
    a UTF-8 sequence or a UTF-16 surrogate pair) and not between a character and the accent or emoji modifier
    that belongs to it."""
    if len(text.encode(encoding)) <= limit:
        return text
    # characters are at most 4 bytes in both encodings: start from a safe guess, then grow or shrink by one
    unit = 4
    cut = min(len(text), limit // unit)
    while cut < len(text) and len(text[: cut + 1].encode(encoding)) <= limit:
        cut += 1
    # back off to the start of the cluster: an accent or modifier after the cut, or a ZWJ sequence across it
    while cut > 0 and (_joins_previous(text[cut]) or text[cut - 1] == "\u200d"):
        cut -= 1
    return text[:cut]


def clean_text(value: str | None) -> str | None:
    """Trim outer whitespace and drop NULs (EXIF strings end at the first NUL)."""
    if value is None:
        return None
    return value.replace("\x00", "").strip()


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def is_camera_default(text: str) -> bool:
    return _fold(text) in CAMERA_DEFAULT_DESCRIPTIONS


# --- keywords --------------------------------------------------------------------------------------------------


def split_hierarchy(keyword: str) -> list[str]:
    return [part.strip() for part in keyword.split(HIERARCHY_SEPARATOR) if part.strip()]


def normalise_keywords(keywords: Iterable[str]) -> list[str]:
    """Collapse inner whitespace, tidy ``a | b`` to ``a|b``, drop empties and case-insensitive duplicates, keep
    order. (Choosing which keywords are good is the tagger's job; this only makes them safe to store.)"""
    out: list[str] = []
    seen: set[str] = set()
    for raw in keywords:
        parts = [" ".join(p.split()) for p in split_hierarchy(raw.replace("\x00", ""))]
        keyword = HIERARCHY_SEPARATOR.join(parts)
        if keyword and _fold(keyword) not in seen:
            seen.add(_fold(keyword))
            out.append(keyword)
    return out


def flat_keywords(keywords: Iterable[str]) -> list[str]:
    """Flat fields get every level of a hierarchical keyword (Lightroom's default export): ``places|beach`` →
    ``places``, ``beach``."""
    return union([], [part for keyword in keywords for part in split_hierarchy(keyword)])


def union(existing: Iterable[str], new: Iterable[str]) -> list[str]:
    """``existing`` in its own order (duplicates and all: it is the person's), then each new keyword it lacks,
    compared case- and whitespace-insensitively."""
    out = list(existing)
    seen = {_fold(k) for k in out}
    for keyword in new:
        if _fold(keyword) not in seen:
            seen.add(_fold(keyword))
            out.append(keyword)
    return out


def split_xp_keywords(value: str) -> list[str]:
    return [k.strip() for k in value.split(";") if k.strip()]


# --- reading ---------------------------------------------------------------------------------------------------


def _first_text(fields: Mapping[str, Value], names: Iterable[str]) -> str | None:
    for name in names:
        value = fields.get(name)
        if isinstance(value, str):
            text = clean_text(value)
            if text and not (name == EXIF_DESCRIPTION and is_camera_default(text)):
                return text
    return None


def _list(fields: Mapping[str, Value], name: str) -> list[str]:
    value = fields.get(name)
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [s for s in (clean_text(i) for i in items) if s]


@dataclass(frozen=True)
class Logical:
    """What a person sees, gathered from every source (the target first, then the photo's own fields)."""

    caption: str | None
    description: str | None
    keywords: list[str]
    hierarchical: list[str]
    provenance: Provenance | None


def logical(*sources: Mapping[str, Value]) -> Logical:
    caption = next((t for s in sources if (t := _first_text(s, CAPTION_READ))), None)
    description = next((t for s in sources if (t := _first_text(s, DESCRIPTION_READ))), None)
    keywords: list[str] = []
    hierarchical: list[str] = []
    for source in sources:
        for name in KEYWORD_READ:
            keywords = union(keywords, _list(source, name))
        hierarchical = union(hierarchical, _list(source, XMP_HIERARCHICAL))
    provenance = next((p for s in sources if (p := read_provenance(s))), None)
    if provenance is not None and not still_ours(provenance, caption, description, keywords):
        provenance = None  # a person (or another tool) changed the text since we wrote it: no longer ours
    return Logical(caption, description, keywords, hierarchical, provenance)


# --- planning --------------------------------------------------------------------------------------------------


@dataclass
class Changes:
    changes: list[FieldChange] = field(default_factory=list)
    truncated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    reason: str = ""
    not_written: list[str] = field(default_factory=list)


def _asked(proposed: Proposed) -> list[str]:
    values = (("caption", proposed.caption), ("description", proposed.description), ("keywords", proposed.keywords))
    return [name for name, value in values if value is not None]


Notes = list[tuple[str, str]]
"""(field, message): a truncation note is kept only when that field is actually written."""


def _fit_text(name: str, text: str, notes: Notes) -> str:
    limit, encoding = TEXT_LIMITS[name]
    cut = truncate(text, limit, encoding)
    if cut != text:
        before, after = len(text.encode(encoding)), len(cut.encode(encoding))
        notes.append((name, f"{name}: cut from {before} to {after} bytes (limit {limit})"))
    return cut


def _fit_iptc_keywords(keywords: list[str], notes: Notes) -> list[str]:
    out: list[str] = []
    for keyword in keywords:
        cut = truncate(keyword, IPTC_KEYWORD_LIMIT)
        if cut != keyword:
            message = f"{IPTC_KEYWORDS}: {keyword!r} cut to {cut!r} ({IPTC_KEYWORD_LIMIT}-byte limit)"
            notes.append((IPTC_KEYWORDS, message))
        if cut:
            out.append(cut)
    return union([], out)


def _fit_xp_keywords(keywords: list[str], notes: Notes) -> list[str]:
    out: list[str] = []
    size = 0
    for keyword in (k.replace(";", ",") for k in keywords):  # ";" separates XPKeywords
        extra = len(keyword.encode("utf-16-le")) + (2 if out else 0)
        if size + extra > XP_KEYWORDS_LIMIT:
            dropped = len(keywords) - len(out)
            message = f"{XP_KEYWORDS}: last {dropped} keyword(s) left out ({XP_KEYWORDS_LIMIT}-byte limit)"
            notes.append((XP_KEYWORDS, message))
            break
        out.append(keyword)
        size += extra
    return out


def _same(old: Value, new: Value) -> bool:
    if isinstance(old, list) or isinstance(new, list):
        return (old or []) == (new or [])
    return (clean_text(old) or None) == (new or None)


def plan_changes(
    current: Mapping[str, Value],
    proposed: Proposed,
    mode: Mode,
    *,
    writable: frozenset[str],
    also: Mapping[str, Value] | None = None,
    iptc_legacy: bool = False,
) -> Changes:
    """The field changes that take ``current`` (the target's fields) to what ``mode`` asks for.

    ``also`` holds what the photo itself carries when the target is a sidecar: it counts as existing (for skip
    and merge) but is never written. ``writable`` lists the groups the format can hold; ``iptc_legacy`` marks IPTC
    in a non-UTF-8 character set, which we leave alone rather than garble its other fields."""
    out = Changes()
    existing = logical(current, also or {})
    if mode == "skip" and (existing.keywords or existing.caption or existing.description):
        what = "keywords" if existing.keywords else "a caption" if existing.caption else "a description"
        by = f" (by ImageWorks, model {existing.provenance.model})" if existing.provenance else ""
        out.reason = f"skip: already has {what}{by}"
        out.not_written = [f"{name}: skip leaves a tagged photo alone" for name in _asked(proposed)]
        return out

    target: dict[str, Value] = {}
    notes: Notes = []
    overwrite = mode != "merge"  # skip on an untagged file writes like overwrite

    def set_text(label: str, names: Iterable[str], value: str | None, present: str | None) -> None:
        if value is None:
            return
        text = clean_text(value) or ""
        if not overwrite and (present or not text):
            if present and present != text:  # merge fills only what is empty, and never clears
                out.not_written.append(f"{label}: merge keeps the existing {label} (--mode overwrite replaces it)")
            return
        for name in names:
            target[name] = _fit_text(name, text, notes) if text else None

    set_text("caption", CAPTION_WRITE, proposed.caption, existing.caption)
    set_text("description", DESCRIPTION_WRITE, proposed.description, existing.description)

    if proposed.keywords is not None:
        new = normalise_keywords(proposed.keywords)
        refused = [k for k in new if any(p.startswith("type=") for p in split_hierarchy(k))]
        if refused:  # exiv2 reads a leading "type=" as an array declaration
            msg = f"keywords left out (a value cannot start with 'type='): {', '.join(refused)}"
            notes.append(("keywords", msg))
            new = [k for k in new if k not in refused]
        if overwrite:
            flat, hierarchy = flat_keywords(new), new
            tags = [k.replace(HIERARCHY_SEPARATOR, DIGIKAM_SEPARATOR) for k in new]
        else:
            flat = union(existing.keywords, flat_keywords(new))
            # digiKam reads lr:hierarchicalSubject before dc:subject: seed it with the person's own keywords
            base = existing.hierarchical or existing.keywords
            hierarchy = union(base, new)
            tags = union(
                _list(current, XMP_DIGIKAM_TAGS), (k.replace(HIERARCHY_SEPARATOR, DIGIKAM_SEPARATOR) for k in new)
            )
            if len(flat) == len(existing.keywords) and len(hierarchy) == len(base):
                new = []  # nothing to add: merge leaves the person's keyword fields exactly as they are
        if overwrite or new:
            target[XMP_SUBJECT] = flat or None
            target[XMP_HIERARCHICAL] = hierarchy or None
            if current.get(XMP_DIGIKAM_TAGS):
                target[XMP_DIGIKAM_TAGS] = tags or None
            target[IPTC_KEYWORDS] = _fit_iptc_keywords(flat, notes) or None
            target[XP_KEYWORDS] = _fit_xp_keywords(flat, notes) or None

    for name in list(target):
        group = group_of(name)
        if group not in writable or (group == "iptc" and iptc_legacy):
            del target[name]
    changes = [FieldChange(name, current.get(name), value) for name, value in target.items()]
    changes = [c for c in changes if not _same(c.old, c.new)]
    if any(group_of(c.field) == "iptc" for c in changes) and current.get(IPTC_CHARSET) != UTF8_CHARSET:
        changes.append(FieldChange(IPTC_CHARSET, current.get(IPTC_CHARSET), UTF8_CHARSET))
    if changes and proposed.provenance is not None:
        after = {**current, **{c.field: c.new for c in changes}}
        seen = logical({k: v for k, v in after.items() if v is not None}, also or {})
        p = msgspec.structs.replace(
            proposed.provenance, digest=content_digest(seen.caption, seen.description, seen.keywords)
        )
        for name, value in zip(PROVENANCE_FIELDS, provenance_values(p), strict=True):
            if current.get(name) != (value or None):  # all together: no stale profile next to a new model
                changes.append(FieldChange(name, current.get(name), value or None))

    out.changes = changes
    written = {c.field for c in changes} | {"keywords"}
    out.truncated = [message for name, message in notes if name in written]
    for group in sorted({"xmp", "iptc", "exif"} - set(writable)):
        out.skipped.append(_skip_note(group))
    if iptc_legacy and "iptc" in writable:
        out.skipped.append("IPTC (its existing fields are not UTF-8; rewriting them would garble them)")
    if not changes:
        out.reason = "nothing to change" + (" (merge keeps existing text and keywords)" if mode == "merge" else "")
    return out


def _skip_note(group: str) -> str:
    names = {"iptc": "IPTC Keywords and Caption-Abstract", "exif": "EXIF ImageDescription and XP* fields"}
    return f"{names.get(group, group.upper())} (this format cannot hold {group.upper()})"
