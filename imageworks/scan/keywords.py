"""The library's own keywords, as its files hold them (dc:subject / IPTC keywords, and lr:hierarchicalSubject
paths), counted over the images of the scan cache: the photographer's vocabulary for review."""

from __future__ import annotations

import msgspec


class LibraryKeywords(msgspec.Struct, frozen=True, kw_only=True):
    flat: dict[str, int] = {}
    """Keyword → images holding it (dc:subject, IPTC Keywords)."""
    hierarchical: dict[str, int] = {}
    """lr:hierarchicalSubject path (``Animals|Dog``) → images holding it."""


def library_keywords() -> LibraryKeywords:
    """Every library's keywords in the scan cache (the daemon's vocabulary source)."""
    return LibraryKeywords()
