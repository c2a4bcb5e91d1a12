"""What a photo file holds, as far as review keeps track of it across rounds: what ImageWorks last wrote into its
text fields (``LastWrite``) and a snapshot of its other metadata (``MetaSnapshot``).

Plain records, no I/O: the metadata writer makes them, review drafts keep them and commit records carry them, so
they live here, where a client imports them without loading the metadata writer (pyexiv2, the config).
"""

from __future__ import annotations

import msgspec


class LastWrite(msgspec.Struct, frozen=True, kw_only=True):
    """What ImageWorks' last write left in one file's text fields (per review draft and file). A later merge tells
    by it what is still ours (a field that holds exactly our last write: ours to replace) from what someone changed
    since (theirs: kept, and named), and which keywords it may take out again (only ones it put in)."""

    caption: str | None = None
    """The caption as written; None = none written yet."""
    description: str | None = None
    hashes: dict[str, str] = {}
    """Each text field written (``XMP-dc:Title``, ``IPTC:Caption-Abstract``, ...) → the hash of the value left in it
    (``merge.value_hash``)."""
    keywords: list[str] = []
    """The keywords the writer was given (a draft's kept keywords, as written: ``Animals|Dog``)."""
    added_flat: list[str] = []
    """Flat keyword values (dc:subject, IPTC, XPKeywords) that ImageWorks put into the file: it held none such."""
    added_hierarchy: list[str] = []
    """lr:hierarchicalSubject values that ImageWorks put into the file."""


class MetaSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """A file's metadata other than the text ImageWorks writes: a digest of every tag, and the values of the notable
    ones a person sets in other programs (``Rating``, ``Label``, ``Copyright``...), to say what changed since."""

    digest: str = ""
    notable: dict[str, str] = {}


def changes_since(before: MetaSnapshot | None, now: MetaSnapshot | None) -> list[str]:
    """What another program changed between two snapshots, for a person: ``Rating 3 added``, ``Label Red → Blue``,
    ``Copyright removed``, or ``other metadata changed``. Empty when nothing did (or a snapshot is missing)."""
    if before is None or now is None or not before.digest or not now.digest or before.digest == now.digest:
        return []
    out = []
    for name in dict.fromkeys([*before.notable, *now.notable]):
        old, new = before.notable.get(name), now.notable.get(name)
        if old == new:
            continue
        if old is None:
            out.append(f"{name} {new} added")
        elif new is None:
            out.append(f"{name} removed")
        else:
            out.append(f"{name} {old} → {new}")
    return out or ["other metadata changed"]
