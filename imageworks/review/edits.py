"""Edits as data, and the pure functions that apply them to a draft.

Every edit is a msgspec Struct with a tag, so a client can send it in a protocol request as is; ``apply_edit`` is
pure (``Draft`` in, ``Draft`` out) and leaves version, sequence and timestamps to the store. A batch edit names a
``Selection`` (paths, or a root and a filter) and ``expand``s to one single-draft edit per draft; the store
applies all of them as one undo step.

Keyword rules: removing a keyword the model proposed rejects it (so it is remembered and never proposed again
for that image); removing one the person added drops it. Keywords are compared by ``keyword_key`` (case, spacing
and a plural last word ignored). An edit that changes nothing returns the draft unchanged (``is`` the same).
"""

from __future__ import annotations

from typing import Literal

import msgspec

from imageworks.review.drafts import (
    Draft,
    DraftKeyword,
    FileFingerprint,
    Generated,
    KeywordState,
    Proposal,
    ReviewError,
    Values,
    keyword_key,
)


class _Edit(msgspec.Struct, frozen=True, kw_only=True, tag_field="op"):
    """Every edit is tagged by its ``op`` on the wire (``{"op": "add_keyword", "path": ..., "keyword": ...}``)."""


class SetCaption(_Edit, frozen=True, tag="set_caption"):
    path: str
    caption: str


class SetDescription(_Edit, frozen=True, tag="set_description"):
    path: str
    description: str


class AddKeyword(_Edit, frozen=True, tag="add_keyword"):
    path: str
    keyword: str


class RemoveKeyword(_Edit, frozen=True, tag="remove_keyword"):
    path: str
    keyword: str


class AcceptKeyword(_Edit, frozen=True, tag="accept_keyword"):
    path: str
    keyword: str


class RejectKeyword(_Edit, frozen=True, tag="reject_keyword"):
    path: str
    keyword: str


class RenameKeyword(_Edit, frozen=True, tag="rename_keyword"):
    path: str
    old: str
    new: str


class Approve(_Edit, frozen=True, tag="approve"):
    path: str
    fingerprint: FileFingerprint | None = None
    """The file as it is now, for approving a ``stale`` draft again (the daemon fills it in)."""


class Reject(_Edit, frozen=True, tag="reject"):
    path: str


class ResetToPending(_Edit, frozen=True, tag="reset"):
    path: str


class TakeProposal(_Edit, frozen=True, tag="take_proposal"):
    """Adopt a re-tag's values; keywords the person added or accepted stay, keywords they rejected stay rejected."""

    path: str


class DismissProposal(_Edit, frozen=True, tag="dismiss_proposal"):
    path: str


class SetValues(_Edit, frozen=True, tag="set_values"):
    """Several values at once, as one step (``review import``: edits made in another tool). None = leave as is;
    ``keywords`` is the whole kept list: a model keyword missing from it is rejected, a new one added."""

    path: str
    caption: str | None = None
    description: str | None = None
    keywords: tuple[str, ...] | None = None
    status: Literal["pending", "approved", "rejected"] | None = None


DraftEdit = (
    SetCaption
    | SetDescription
    | AddKeyword
    | RemoveKeyword
    | AcceptKeyword
    | RejectKeyword
    | RenameKeyword
    | Approve
    | Reject
    | ResetToPending
    | TakeProposal
    | DismissProposal
    | SetValues
)


class Selection(msgspec.Struct, frozen=True, kw_only=True):
    """The drafts a batch edit applies to: ``paths`` when given, else every draft under ``root`` matching ``query``
    (the filter language of ``review.query``; empty = all)."""

    paths: tuple[str, ...] = ()
    root: str = ""
    query: str = ""


class ApproveAll(_Edit, frozen=True, tag="approve_all"):
    selection: Selection


class RejectAll(_Edit, frozen=True, tag="reject_all"):
    selection: Selection


class AddKeywordEverywhere(_Edit, frozen=True, tag="add_keyword_all"):
    selection: Selection
    keyword: str


class RemoveKeywordEverywhere(_Edit, frozen=True, tag="remove_keyword_all"):
    selection: Selection
    keyword: str


class RenameKeywordEverywhere(_Edit, frozen=True, tag="rename_keyword_all"):
    """TagGUI's find-and-replace: ``old`` becomes ``new`` on every selected draft that has it."""

    selection: Selection
    old: str
    new: str


BatchEdit = ApproveAll | RejectAll | AddKeywordEverywhere | RemoveKeywordEverywhere | RenameKeywordEverywhere
Edit = DraftEdit | BatchEdit


def expand(batch: BatchEdit, path: str) -> DraftEdit:
    """The single-draft edit a batch edit makes to the draft at ``path``."""
    if isinstance(batch, ApproveAll):
        return Approve(path=path)
    if isinstance(batch, RejectAll):
        return Reject(path=path)
    if isinstance(batch, AddKeywordEverywhere):
        return AddKeyword(path=path, keyword=batch.keyword)
    if isinstance(batch, RemoveKeywordEverywhere):
        return RemoveKeyword(path=path, keyword=batch.keyword)
    return RenameKeyword(path=path, old=batch.old, new=batch.new)


def describe_edit(edit: Edit) -> str:
    """A few words for a person (``Conflict`` messages, the undo list): ``add keyword beach``."""
    op = str(type(edit).__struct_config__.tag).replace("_", " ")
    if isinstance(edit, RenameKeyword | RenameKeywordEverywhere):
        return f"{op} {edit.old} → {edit.new}"
    keyword = getattr(edit, "keyword", None)
    return f"{op} {keyword}" if keyword else op


def _tidy(keyword: str) -> str:
    """Spacing collapsed, ``a | b`` as ``a|b`` (the metadata writer's own rule); an empty keyword is an error."""
    # here, not at the top: the protocol imports these edit types, and a client must not pay for pyexiv2
    from imageworks.metadata.fields import normalise_keywords

    tidy = normalise_keywords([keyword])
    if not tidy:
        raise ReviewError(f"empty keyword {keyword!r}")
    return tidy[0]


def _find(values: Values, keyword: str) -> int | None:
    key = keyword_key(keyword)
    return next((i for i, k in enumerate(values.keywords) if keyword_key(k.keyword) == key), None)


def _with_keywords(values: Values, keywords: list[DraftKeyword]) -> Values:
    return msgspec.structs.replace(values, keywords=tuple(keywords))


def _set_state(values: Values, keyword: str, state: KeywordState) -> Values:
    """Accept or reject ``keyword``; one the draft lacks is added by the person in that state."""
    keyword = _tidy(keyword)
    index = _find(values, keyword)
    keywords = list(values.keywords)
    if index is None:
        keywords.append(DraftKeyword(keyword=keyword, state=state, source="person"))
    elif keywords[index].state == state:
        return values
    else:
        keywords[index] = msgspec.structs.replace(keywords[index], state=state)
    return _with_keywords(values, keywords)


def _remove(values: Values, keyword: str) -> Values:
    index = _find(values, _tidy(keyword))
    if index is None:
        return values
    found = values.keywords[index]
    if found.source == "person":
        return _with_keywords(values, [k for i, k in enumerate(values.keywords) if i != index])
    return _set_state(values, found.keyword, "rejected")  # remembered: never proposed again


def _rename(values: Values, old: str, new: str) -> Values:
    index, new = _find(values, _tidy(old)), _tidy(new)
    if index is None or values.keywords[index].state == "rejected":
        return values
    found = values.keywords[index]
    renamed = msgspec.structs.replace(found, keyword=new, state="accepted", source="person", new=False)
    if renamed == found:
        return values
    keywords = list(values.keywords)
    target = _find(values, new)
    if target is not None and target != index:  # already there: the two become one, accepted
        keywords[target] = msgspec.structs.replace(keywords[target], state="accepted")
        del keywords[index]
    else:
        keywords[index] = renamed
    return _with_keywords(values, keywords)


def _edit_values(draft: Draft, values: Values) -> Draft:
    if values == draft.edited:
        return draft
    status = "pending" if draft.status == "committed" else draft.status  # changed after writing: approve again
    return msgspec.structs.replace(draft, edited=values, status=status)


def _take_proposal(draft: Draft) -> Draft:
    proposal = draft.proposal
    if proposal is None:
        return draft
    person = [k for k in draft.edited.keywords if k.source == "person" or k.state != "suggested"]
    have = {keyword_key(k.keyword) for k in person}
    fresh = [k for k in proposal.values.keywords if keyword_key(k.keyword) not in have]
    edited = msgspec.structs.replace(proposal.values, keywords=(*fresh, *person))
    return msgspec.structs.replace(
        draft,
        origin=proposal.origin,
        generated=proposal.values,
        edited=edited,
        fingerprint=proposal.fingerprint,
        proposal=None,
        status="pending",
        stale_reason="",
    )


def _keep_exactly(values: Values, keywords: tuple[str, ...]) -> Values:
    """The kept keywords become ``keywords``: the others removed (a model's one rejected), missing ones added."""
    wanted = {keyword_key(_tidy(k)) for k in keywords}
    for keyword in values.keywords:
        if keyword.state != "rejected" and keyword_key(keyword.keyword) not in wanted:
            values = _remove(values, keyword.keyword)
    for wanted_keyword in keywords:
        index = _find(values, wanted_keyword)
        if index is None or values.keywords[index].state == "rejected":
            values = _set_state(values, wanted_keyword, "accepted")
    return values


def _set_values(draft: Draft, edit: SetValues) -> Draft:
    values = draft.edited
    if edit.caption is not None:
        values = msgspec.structs.replace(values, caption=edit.caption.strip())
    if edit.description is not None:
        values = msgspec.structs.replace(values, description=edit.description.strip())
    if edit.keywords is not None:
        values = _keep_exactly(values, edit.keywords)
    draft = _edit_values(draft, values)
    if edit.status == "approved":
        return apply_edit(draft, Approve(path=draft.path))
    if edit.status is not None:
        return apply_edit(
            draft, Reject(path=draft.path) if edit.status == "rejected" else ResetToPending(path=draft.path)
        )
    return draft


def apply_edit(draft: Draft, edit: DraftEdit) -> Draft:
    """The draft after ``edit`` (pure). Raises ``ReviewError`` for an edit that cannot be made (an empty keyword,
    approving a stale draft without the file's current fingerprint, resetting a stale draft)."""
    if edit.path != draft.path:
        raise ReviewError(f"edit for {edit.path} applied to the draft of {draft.path}")
    values = draft.edited
    if isinstance(edit, SetCaption):
        return _edit_values(draft, msgspec.structs.replace(values, caption=edit.caption.strip()))
    if isinstance(edit, SetDescription):
        return _edit_values(draft, msgspec.structs.replace(values, description=edit.description.strip()))
    if isinstance(edit, AddKeyword | AcceptKeyword):
        return _edit_values(draft, _set_state(values, edit.keyword, "accepted"))
    if isinstance(edit, RejectKeyword):
        return _edit_values(draft, _set_state(values, edit.keyword, "rejected"))
    if isinstance(edit, RemoveKeyword):
        return _edit_values(draft, _remove(values, edit.keyword))
    if isinstance(edit, RenameKeyword):
        return _edit_values(draft, _rename(values, edit.old, edit.new))
    if isinstance(edit, Approve):
        if draft.status == "stale" and edit.fingerprint is None:
            raise ReviewError(f"{draft.path}: the file changed since preview ({draft.stale_reason}); look again")
        fingerprint = edit.fingerprint or draft.fingerprint
        if draft.status == "approved" and fingerprint == draft.fingerprint:
            return draft
        return msgspec.structs.replace(draft, status="approved", stale_reason="", fingerprint=fingerprint)
    if isinstance(edit, Reject | ResetToPending):
        if draft.status == "stale":
            raise ReviewError(f"{draft.path}: the file changed since preview; re-tag it or approve it again")
        status = "rejected" if isinstance(edit, Reject) else "pending"
        return draft if draft.status == status else msgspec.structs.replace(draft, status=status)
    if isinstance(edit, TakeProposal):
        return _take_proposal(draft)
    if isinstance(edit, SetValues):
        return _set_values(draft, edit)
    return draft if draft.proposal is None else msgspec.structs.replace(draft, proposal=None)


def offered(values: Values, draft: Draft | None) -> Values:
    """``values`` as offered for review: one keyword per key, and none the person rejected on ``draft`` (a
    rejected keyword never comes back)."""
    seen = {keyword_key(k.keyword) for k in draft.edited.keywords if k.state == "rejected"} if draft else set()
    keywords = []
    for keyword in values.keywords:
        key = keyword_key(keyword.keyword)
        if key and key not in seen:
            seen.add(key)
            keywords.append(keyword)
    return values if len(keywords) == len(values.keywords) else _with_keywords(values, keywords)


def merge_generated(draft: Draft | None, generated: Generated, now: float) -> Draft:
    """A finished tag result onto an image's draft: a new draft; an unedited pending (or stale) draft takes the
    new values; an edited one keeps its edits and gets the new values as ``proposal``."""
    values = offered(generated.values, draft)
    if draft is None:
        return Draft(
            version=0,  # not stored yet: the store saves it as version 1
            path=generated.path,
            origin=generated.origin,
            generated=values,
            edited=values,
            fingerprint=generated.fingerprint,
            file_meta=generated.file_meta,
            written=generated.written,
            created=now,
            updated=now,
        )
    written = generated.written or draft.written  # `tag --write` wrote the file: that is ours in it now
    unedited = draft.edited == draft.generated and draft.status in ("pending", "stale")
    if unedited:
        return msgspec.structs.replace(
            draft,
            origin=generated.origin,
            generated=values,
            edited=values,
            fingerprint=generated.fingerprint,
            file_meta=generated.file_meta or draft.file_meta,
            written=written,
            status="pending",
            stale_reason="",
            proposal=None,
        )
    proposal = Proposal(origin=generated.origin, values=values, fingerprint=generated.fingerprint, at=now)
    return msgspec.structs.replace(draft, proposal=proposal, written=written)
