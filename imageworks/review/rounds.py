"""One memory of what ImageWorks wrote into a photo, shared by every way it writes one (the tag job's ``--write``,
``review commit``, ``metadata write``, ``mono --write``), and the photo's draft kept in step with the file after.

A writer goes through the same three steps, whoever it is:

    recalled = recall(path)                                   # the draft's version, our last write there
    plan = md.plan(path, with_memory(proposed, recalled), mode); md.apply(plan)
    told = memory.file_written(recalled, plan, applied, asked)  # the daemon records it on the draft

The daemon owns the drafts: inside it the review desk answers ``recall`` (in order after the draft changes it has
queued; a job kind's ``finalize`` asks through ``WriteIntents.recall``) and records what a job's result says it
wrote; a writer outside it asks it (``review.recall``) and tells it after (``review.written``), as
``cli.review_memory.ReviewMemory`` does. The draft then shows what the file holds: ``committed`` when the file holds
every value of it, or the values kept out named in ``not_written``. Keywords a writer adds to ours rather than
listing them all (``metadata write``, ``mono --write``) are planned with ``with_memory(..., adds_keywords=True)``.

A draft committed before the memory existed has none: ``recall`` adopts its last committed values as our last
write where the file still holds exactly them (``memory.adopted``).

Plain records and pure functions (they cross the wire: no metadata writer here); ``review.memory`` reads files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from imageworks.file_state import LastWrite
from imageworks.review.drafts import Draft, DraftKeyword, FileWrite, Generated, Values, keyword_key
from imageworks.review.edits import offered

if TYPE_CHECKING:
    from imageworks import metadata as md


class Recalled(msgspec.Struct, frozen=True, kw_only=True):
    """What a writer knows of a photo before it writes it."""

    path: str
    version: int = 0
    """The draft's version when it was read (0: the photo has no draft)."""
    last: LastWrite | None = None
    """What ImageWorks last wrote there (``Draft.written``, or adopted: see ``adopted``)."""
    adopted: bool = False
    """``last`` was taken from a draft committed before ImageWorks remembered its writes."""


class Asked(msgspec.Struct, frozen=True, kw_only=True):
    """The values a writer was given (``metadata write``'s flags), as the photo's draft takes them: a caption or
    description replaces the draft's; keywords are added to its own, or (``replace_keywords``) are the whole list."""

    caption: str | None = None
    description: str | None = None
    keywords: list[str] | None = None
    replace_keywords: bool = False
    own_prefix: str = ""
    """The writer's own keyword namespace (``mono:``): a draft keyword in it that ``keywords`` does not repeat was
    replaced in the file, and leaves the draft too."""


class FileWritten(msgspec.Struct, frozen=True, kw_only=True):
    """One write of a photo that has a draft, as the desk records it on the draft."""

    path: str
    version: int
    """The draft version the writer recalled: a draft changed since keeps its values (only the file facts move)."""
    write: FileWrite
    """The file as left, its backup, what is ours in it now, and the values kept out (``not_written``)."""
    asked: Asked | None = None
    """The writer's values; None for a tag result (its values are the record's)."""


def with_memory(proposed: md.Proposed, recalled: Recalled | None, *, adds_keywords: bool = False) -> md.Proposed:
    """``proposed`` planned against our last write of the file (``adds_keywords``: its keywords add to ours)."""
    last = recalled.last if recalled is not None else None
    return msgspec.structs.replace(proposed, last=last, adds_keywords=adds_keywords and last is not None)


def taken(draft: Draft, asked: Asked | None, generated: Generated | None) -> Draft:
    """The draft's values as a write leaves them: a tag result (``generated``, as offered for review) replaces them,
    keeping the keywords the person rejected as rejected (what they decided stays); ``asked`` values update them (a
    keyword given is accepted, one the person had rejected included)."""
    if generated is not None:
        values = offered(generated.values, draft)
        return msgspec.structs.replace(
            draft, origin=generated.origin, generated=values, edited=_written(draft.edited, values), proposal=None
        )
    if asked is None:
        return draft
    edited = draft.edited
    if asked.caption is not None:
        edited = msgspec.structs.replace(edited, caption=asked.caption.strip())
    if asked.description is not None:
        edited = msgspec.structs.replace(edited, description=asked.description.strip())
    if asked.keywords is not None:
        edited = msgspec.structs.replace(edited, keywords=_keywords(edited.keywords, asked))
    return msgspec.structs.replace(draft, edited=edited)


def _written(edited: Values, result: Values) -> Values:
    """A draft's values once a tag result was written over them: the result's, where it had any (an empty part is
    no opinion: the writer left that field as it was, and so does the draft); the keywords the person rejected stay
    rejected."""
    fresh = {keyword_key(k.keyword) for k in result.keywords}
    rejected = tuple(k for k in edited.keywords if k.state == "rejected" and keyword_key(k.keyword) not in fresh)
    return Values(
        caption=result.caption or edited.caption,
        description=result.description or edited.description,
        keywords=result.keywords + rejected if result.keywords else edited.keywords,
    )


def _keywords(have: tuple[DraftKeyword, ...], asked: Asked) -> tuple[DraftKeyword, ...]:
    given = {keyword_key(k): k for k in asked.keywords or () if keyword_key(k)}
    out = []
    for keyword in have:
        key = keyword_key(keyword.keyword)
        if key in given:
            out.append(msgspec.structs.replace(keyword, state="accepted"))
            given.pop(key)
        elif not asked.replace_keywords and not _owned(keyword.keyword, asked.own_prefix):
            out.append(keyword)
    out.extend(DraftKeyword(keyword=k, state="accepted", source="person") for k in given.values())
    return tuple(out)


def _owned(keyword: str, prefix: str) -> bool:
    return bool(prefix) and keyword.casefold().startswith(prefix.casefold())


def settled(before: Draft | None, after: Draft, *, holds: bool, fresh: bool) -> Draft:
    """``after``'s status once written: ``committed`` when its file holds every value of it; otherwise approved
    (values a person approved, or asked a write for, still wait for one), or as it was (``fresh``: a tag result
    waits for review)."""
    was = before.status if before is not None else "pending"
    if holds:
        return msgspec.structs.replace(after, status="committed", stale_reason="", not_written=())
    if was in ("approved", "committed"):
        return msgspec.structs.replace(after, status="approved", stale_reason="")
    if fresh:
        return msgspec.structs.replace(after, status="pending", stale_reason="")
    return msgspec.structs.replace(after, status=was)
