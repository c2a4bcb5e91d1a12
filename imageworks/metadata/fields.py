"""Which fields hold what, their limits, and what a person sees in them: pure functions, no I/O (planning the
changes is ``merge.py``); tests/test_metadata_fields.py checks these with plain asserts and hypothesis.

Where each tool reads from (Lightroom, digiKam, darktable, Photo Mechanic, Windows): caption → XMP dc:title and the
Windows XPTitle/XPSubject; description → XMP dc:description, IPTC Caption-Abstract, EXIF ImageDescription, XPComment;
keywords → XMP dc:subject, lr:hierarchicalSubject, IPTC Keywords, XPKeywords (and digiKam's TagsList when the file
already has one, because digiKam reads that first and would otherwise hide our keywords).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from imageworks.metadata.plan import Provenance, Value
from imageworks.metadata.provenance import read_provenance, still_ours

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

    @property
    def tagged(self) -> bool:
        """Keywords, a title or a description: what ``skip`` mode leaves alone and ``--skip-tagged`` leaves out."""
        return bool(self.keywords or self.caption or self.description)


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
