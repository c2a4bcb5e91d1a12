"""Planning: pure functions from (what a file holds, what is proposed, the mode, what ImageWorks wrote there last)
to the exact field changes. No I/O here; tests/test_metadata_fields.py and tests/test_metadata_merge.py check them
with plain asserts and hypothesis.

``merge`` works in rounds (Lightroom's "metadata was changed externally", git's fast-forward): a text field that
still holds exactly what ImageWorks wrote there last is ours to replace; one that someone changed since is theirs,
kept and named in ``not_written``. Keywords: those the draft gained since the last write are added, those ImageWorks
added and the draft dropped are taken out, and no keyword ImageWorks did not put in is ever touched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import msgspec

from imageworks.metadata import fields as F
from imageworks.metadata.plan import FieldChange, LastWrite, Mode, Proposed, Value
from imageworks.metadata.provenance import PROVENANCE_FIELDS, content_digest, provenance_values


@dataclass
class Changes:
    changes: list[FieldChange] = field(default_factory=list)
    truncated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    reason: str = ""
    not_written: list[str] = field(default_factory=list)
    last_write: LastWrite | None = None
    """What the file holds of ours once ``changes`` are applied (None when nothing was proposed)."""


def value_hash(value: Value) -> str:
    """The hash a ``LastWrite`` keeps of a text field's value, as a reader sees it (outer space and NULs dropped)."""
    text = F.clean_text(value) if isinstance(value, str) else None
    return hashlib.sha256((text or "").encode("utf-8")).hexdigest()[:32]


def _asked(proposed: Proposed) -> list[str]:
    values = (("caption", proposed.caption), ("description", proposed.description), ("keywords", proposed.keywords))
    return [name for name, value in values if value is not None]


Notes = list[tuple[str, str]]
"""(field, message): a truncation note is kept only when that field is actually written."""


def _fit_text(name: str, text: str, notes: Notes) -> str:
    limit, encoding = F.TEXT_LIMITS[name]
    cut = F.truncate(text, limit, encoding)
    if cut != text:
        before, after = len(text.encode(encoding)), len(cut.encode(encoding))
        notes.append((name, f"{name}: cut from {before} to {after} bytes (limit {limit})"))
    return cut


def _fit_iptc_keywords(keywords: list[str], notes: Notes) -> list[str]:
    out: list[str] = []
    for keyword in keywords:
        cut = F.truncate(keyword, F.IPTC_KEYWORD_LIMIT)
        if cut != keyword:
            message = f"{F.IPTC_KEYWORDS}: {keyword!r} cut to {cut!r} ({F.IPTC_KEYWORD_LIMIT}-byte limit)"
            notes.append((F.IPTC_KEYWORDS, message))
        if cut:
            out.append(cut)
    return F.union([], out)


def _fit_xp_keywords(keywords: list[str], notes: Notes) -> list[str]:
    out: list[str] = []
    size = 0
    for keyword in (k.replace(";", ",") for k in keywords):  # ";" separates XPKeywords
        extra = len(keyword.encode("utf-16-le")) + (2 if out else 0)
        if size + extra > F.XP_KEYWORDS_LIMIT:
            dropped = len(keywords) - len(out)
            message = f"{F.XP_KEYWORDS}: last {dropped} keyword(s) left out ({F.XP_KEYWORDS_LIMIT}-byte limit)"
            notes.append((F.XP_KEYWORDS, message))
            break
        out.append(keyword)
        size += extra
    return out


def _same(old: Value, new: Value) -> bool:
    if isinstance(old, list) or isinstance(new, list):
        return (old or []) == (new or [])
    return (F.clean_text(old) or None) == (new or None)


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def _still_ours(last: LastWrite | None, label: str, names: tuple[str, ...], current: Mapping[str, Value]) -> bool:
    """Whether every field of ``names`` that our last write filled still holds exactly what it left there."""
    if last is None or getattr(last, label) is None:
        return False
    written = [name for name in names if name in last.hashes]
    return bool(written) and all(value_hash(current.get(name)) == last.hashes[name] for name in written)


@dataclass
class _Keywords:
    """The keyword fields' new values, and what of them ImageWorks put in."""

    flat: list[str]
    hierarchy: list[str]
    tags: list[str]
    added_flat: list[str]
    added_hierarchy: list[str]
    changed: bool = True
    """False: the keyword fields stay exactly as they are."""


def _merge_keywords(
    current: Mapping[str, Value],
    existing: F.Logical,
    new: list[str],
    last: LastWrite | None,
    out: Changes,
    *,
    adds: bool = False,
    own_prefix: str = "",
) -> _Keywords:
    """Keywords new since the last write are added; ours the draft dropped are taken out (unless ``adds``: ``new``
    only adds to ours); a keyword the draft kept that someone removed from the file since is not put back (named in
    ``out.not_written``). Keywords in the writer's own namespace (``own_prefix``) that ``new`` does not repeat are
    taken out too."""
    before = {_fold(k) for k in last.keywords} if last else set()
    wanted = {_fold(k) for k in new}
    implied = {_fold(k) for k in F.flat_keywords(new)}
    drop_flat = {_fold(k) for k in last.added_flat} - implied if last and not adds else set()
    drop_hierarchy = {_fold(k) for k in last.added_hierarchy} - wanted if last and not adds else set()
    if own_prefix:
        held = {_fold(k) for k in (*existing.keywords, *existing.hierarchical)}
        replaced = {k for k in held if k.startswith(_fold(own_prefix))} - wanted
        drop_flat, drop_hierarchy = drop_flat | replaced, drop_hierarchy | replaced
    have = {_fold(k) for k in (*existing.keywords, *existing.hierarchical)}
    gone = [k for k in new if _fold(k) in before and not {_fold(k), _fold(F.split_hierarchy(k)[-1])} & have]
    if gone:
        out.not_written.append(
            f"keywords: {', '.join(gone)} removed in another program since the last write; not put back "
            "(the overwrite mode writes them, or remove them from the draft)"
        )
    fresh = [k for k in new if _fold(k) not in before]
    # digiKam reads lr:hierarchicalSubject before dc:subject: seed it with the person's own keywords
    hierarchy_had = existing.hierarchical or existing.keywords
    flat = F.union([k for k in existing.keywords if _fold(k) not in drop_flat], F.flat_keywords(fresh))
    hierarchy = F.union([k for k in hierarchy_had if _fold(k) not in drop_hierarchy], fresh)
    dropped_tags = {_fold(k.replace(F.HIERARCHY_SEPARATOR, F.DIGIKAM_SEPARATOR)) for k in drop_hierarchy}
    tags = F.union(
        [t for t in F._list(current, F.XMP_DIGIKAM_TAGS) if _fold(t) not in dropped_tags],
        (k.replace(F.HIERARCHY_SEPARATOR, F.DIGIKAM_SEPARATOR) for k in fresh),
    )
    had_flat, had_hierarchy = {_fold(k) for k in existing.keywords}, {_fold(k) for k in hierarchy_had}
    kept_flat = [k for k in (last.added_flat if last else []) if _fold(k) not in drop_flat]
    kept_hierarchy = [k for k in (last.added_hierarchy if last else []) if _fold(k) not in drop_hierarchy]
    return _Keywords(
        flat,
        hierarchy,
        tags,
        added_flat=F.union(kept_flat, [k for k in flat if _fold(k) not in had_flat]),
        added_hierarchy=F.union(kept_hierarchy, [k for k in hierarchy if _fold(k) not in had_hierarchy]),
        # nothing to add or take out: the person's keyword fields stay exactly as they are
        changed=flat != existing.keywords or hierarchy != hierarchy_had,
    )


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
    in a non-UTF-8 character set, which we leave alone rather than garble its other fields. ``proposed.last`` is
    what ImageWorks wrote into the file last (see the module docstring)."""
    out = Changes()
    existing = F.logical(current, also or {})
    last = proposed.last
    if mode == "skip" and (existing.keywords or existing.caption or existing.description):
        what = "keywords" if existing.keywords else "a caption" if existing.caption else "a description"
        by = f" (by ImageWorks, model {existing.provenance.model})" if existing.provenance else ""
        out.reason = f"skip: already has {what}{by}"
        out.not_written = [f"{name}: skip leaves a tagged photo alone" for name in _asked(proposed)]
        out.last_write = last
        return out

    target: dict[str, Value] = {}
    notes: Notes = []
    overwrite = mode != "merge"  # skip on an untagged file writes like overwrite

    def set_text(label: str, names: tuple[str, ...], value: str | None, present: str | None) -> None:
        if value is None:
            return
        text = F.clean_text(value) or ""
        if not overwrite:  # merge fills what is empty and replaces what is still ours; it never clears
            if not text or present == text:
                return
            wrote = last is not None and getattr(last, label) is not None
            if (present or wrote) and not _still_ours(last, label, names, current):
                out.not_written.append(_kept_note(label, wrote, present))
                return
        for name in names:
            target[name] = _fit_text(name, text, notes) if text else None

    set_text("caption", F.CAPTION_WRITE, proposed.caption, existing.caption)
    set_text("description", F.DESCRIPTION_WRITE, proposed.description, existing.description)

    keywords: _Keywords | None = None
    new: list[str] | None = None
    if proposed.keywords is not None:
        new = F.normalise_keywords(proposed.keywords)
        refused = [k for k in new if any(p.startswith("type=") for p in F.split_hierarchy(k))]
        if refused:  # exiv2 reads a leading "type=" as an array declaration
            msg = f"keywords left out (a value cannot start with 'type='): {', '.join(refused)}"
            notes.append(("keywords", msg))
            new = [k for k in new if k not in refused]
        if overwrite:
            flat = F.flat_keywords(new)
            tags = [k.replace(F.HIERARCHY_SEPARATOR, F.DIGIKAM_SEPARATOR) for k in new]
            keywords = _Keywords(flat, new, tags, flat, new)
        else:
            keywords = _merge_keywords(
                current, existing, new, last, out, adds=proposed.adds_keywords, own_prefix=proposed.own_keyword_prefix
            )
        if keywords.changed:
            target[F.XMP_SUBJECT] = keywords.flat or None
            target[F.XMP_HIERARCHICAL] = keywords.hierarchy or None
            if current.get(F.XMP_DIGIKAM_TAGS):
                target[F.XMP_DIGIKAM_TAGS] = keywords.tags or None
            target[F.IPTC_KEYWORDS] = _fit_iptc_keywords(keywords.flat, notes) or None
            target[F.XP_KEYWORDS] = _fit_xp_keywords(keywords.flat, notes) or None

    for name in list(target):
        group = F.group_of(name)
        if group not in writable or (group == "iptc" and iptc_legacy):
            del target[name]
    changes = [FieldChange(name, current.get(name), value) for name, value in target.items()]
    changes = [c for c in changes if not _same(c.old, c.new)]
    if any(F.group_of(c.field) == "iptc" for c in changes) and current.get(F.IPTC_CHARSET) != F.UTF8_CHARSET:
        changes.append(FieldChange(F.IPTC_CHARSET, current.get(F.IPTC_CHARSET), F.UTF8_CHARSET))
    if changes and proposed.provenance is not None:
        after = {**current, **{c.field: c.new for c in changes}}
        seen = F.logical({k: v for k, v in after.items() if v is not None}, also or {})
        p = msgspec.structs.replace(
            proposed.provenance, digest=content_digest(seen.caption, seen.description, seen.keywords)
        )
        for name, value in zip(PROVENANCE_FIELDS, provenance_values(p), strict=True):
            if current.get(name) != (value or None):  # all together: no stale profile next to a new model
                changes.append(FieldChange(name, current.get(name), value or None))

    out.changes = changes
    out.last_write = _last_write(last, proposed, target, keywords, new)
    written = {c.field for c in changes} | {"keywords"}
    out.truncated = [message for name, message in notes if name in written]
    for group in sorted({"xmp", "iptc", "exif"} - set(writable)):
        out.skipped.append(_skip_note(group))
    if iptc_legacy and "iptc" in writable:
        out.skipped.append("IPTC (its existing fields are not UTF-8; rewriting them would garble them)")
    if not changes:
        out.reason = "nothing to change" + (" (merge keeps existing text and keywords)" if mode == "merge" else "")
    return out


def _kept_note(label: str, wrote: bool, present: str | None) -> str:
    """Why merge left a text field as the file holds it."""
    if not wrote:
        return f"{label}: merge keeps the existing {label} (the overwrite mode replaces it)"
    what = "changed" if present else "removed"
    return f"{label}: {what} in another program since the last write; kept (the overwrite mode, or edit the draft)"


def _last_write(
    last: LastWrite | None,
    proposed: Proposed,
    target: Mapping[str, Value],
    keywords: _Keywords | None,
    new: list[str] | None,
) -> LastWrite | None:
    """What the file holds of ours after ``target`` is written: the text fields written now, the rest as before."""
    if last is None and not _asked(proposed):
        return None
    before = last or LastWrite()
    hashes = dict(before.hashes)
    values: dict[str, str | None] = {"caption": before.caption, "description": before.description}
    for label, names in (("caption", F.CAPTION_WRITE), ("description", F.DESCRIPTION_WRITE)):
        filled = [name for name in names if name in target]
        if not filled:
            continue
        for name in names:
            hashes.pop(name, None)
        for name in filled:
            if target[name] is not None:
                hashes[name] = value_hash(target[name])
        first = target[filled[0]]
        values[label] = F.clean_text(first) if isinstance(first, str) else None
    if new is None:
        ours = list(before.keywords)
    else:  # keywords that only add to ours leave ours in the record too
        ours = F.union(before.keywords, new) if proposed.adds_keywords else list(new)
        if proposed.own_keyword_prefix:  # the writer's own old keyword was replaced: no longer ours in the file
            own, wanted = _fold(proposed.own_keyword_prefix), {_fold(k) for k in new}
            ours = [k for k in ours if not _fold(k).startswith(own) or _fold(k) in wanted]
    return LastWrite(
        caption=values["caption"],
        description=values["description"],
        hashes=hashes,
        keywords=ours,
        added_flat=keywords.added_flat if keywords is not None else list(before.added_flat),
        added_hierarchy=keywords.added_hierarchy if keywords is not None else list(before.added_hierarchy),
    )


def adopted_last_write(
    current: Mapping[str, Value],
    caption: str,
    description: str,
    keywords: list[str],
    original: Mapping[str, Value] | None = None,
) -> LastWrite | None:
    """What a write made before ImageWorks kept a record of its writes left, taken as our last write where the file
    still holds exactly the values it wrote: every caption and description field that holds text holds exactly
    ``caption`` and ``description`` (review never cleared one: an empty value was not written), and every keyword is
    there. None when any of them differs (someone changed it since: a merge keeps it, and says so).

    ``original`` is the file's fields before that write (its backup): the keywords it lacked are the ones we added,
    ours to take out again. Without it none is: a keyword we cannot prove we put in is never taken out."""
    hashes: dict[str, str] = {}
    for value, names in ((caption, F.CAPTION_WRITE), (description, F.DESCRIPTION_WRITE)):
        if not value:
            continue
        held = [name for name in names if F.clean_text(_text(current.get(name)))]
        if not held or any(F.clean_text(_text(current.get(name))) != value for name in held):
            return None
        hashes.update((name, value_hash(current.get(name))) for name in held)
    now = F.logical(current)
    flat_now = {_fold(k) for k in now.keywords}
    if any(_fold(part) not in flat_now for part in F.flat_keywords(keywords)):
        return None
    ours_flat = {_fold(k) for k in F.flat_keywords(keywords)}
    ours_hierarchy = {_fold(k) for k in keywords}
    added_flat: list[str] = []
    added_hierarchy: list[str] = []
    if original is not None:
        before = F.logical(original)
        had_flat = {_fold(k) for k in before.keywords}
        had_hierarchy = {_fold(k) for k in (before.hierarchical or before.keywords)}
        added_flat = [k for k in now.keywords if _fold(k) in ours_flat and _fold(k) not in had_flat]
        added_hierarchy = [k for k in now.hierarchical if _fold(k) in ours_hierarchy and _fold(k) not in had_hierarchy]
    return LastWrite(
        caption=caption or None,
        description=description or None,
        hashes=hashes,
        keywords=list(keywords),
        added_flat=added_flat,
        added_hierarchy=added_hierarchy,
    )


def _text(value: Value) -> str | None:
    return value if isinstance(value, str) else None


def _skip_note(group: str) -> str:
    names = {"iptc": "IPTC Keywords and Caption-Abstract", "exif": "EXIF ImageDescription and XP* fields"}
    return f"{names.get(group, group.upper())} (this format cannot hold {group.upper()})"
