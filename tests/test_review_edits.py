"""Edits as data and the pure apply_edit / merge_generated: plain asserts and hypothesis."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imageworks.review import edits as E
from imageworks.review.drafts import Draft, FileFingerprint, ReviewError, keyword_key
from imageworks.review.edits import apply_edit, merge_generated
from tests.test_review_support import generated

P = "/lib/a.jpg"


def new_draft(keywords: list[str] = ["beach", "sea"]) -> Draft:  # noqa: B006
    return merge_generated(None, generated(P, keywords), now=1.0)


def states(draft: Draft) -> dict[str, tuple[str, str]]:
    return {k.keyword: (k.state, k.source) for k in draft.edited.keywords}


def test_a_new_draft_is_pending_with_the_generated_values_and_unedited() -> None:
    draft = new_draft()
    assert draft.status == "pending" and draft.edited == draft.generated and not draft.is_edited
    assert draft.edited.kept_keywords == ["beach", "sea"]


def test_edits_travel_as_tagged_structs() -> None:
    edit = E.RenameKeywordEverywhere(selection=E.Selection(root="/lib", query="kw:puppy"), old="puppy", new="dog")
    wire = msgspec.json.encode(edit)
    assert b'"op":"rename_keyword_all"' in wire
    assert msgspec.json.decode(wire, type=E.Edit) == edit
    assert E.describe_edit(E.AddKeyword(path=P, keyword="beach")) == "add keyword beach"


def test_caption_description_and_status_edits() -> None:
    draft = apply_edit(new_draft(), E.SetCaption(path=P, caption="  Evening walk  "))
    assert draft.edited.caption == "Evening walk" and draft.generated.caption == "a beach at dusk"
    draft = apply_edit(draft, E.SetDescription(path=P, description="Two people."))
    assert draft.edited.description == "Two people." and draft.is_edited
    assert apply_edit(draft, E.Approve(path=P)).status == "approved"
    assert apply_edit(draft, E.Reject(path=P)).status == "rejected"
    assert apply_edit(apply_edit(draft, E.Reject(path=P)), E.ResetToPending(path=P)).status == "pending"


def test_an_edit_that_changes_nothing_returns_the_same_draft() -> None:
    draft = apply_edit(new_draft(), E.AcceptKeyword(path=P, keyword="beach"))
    assert apply_edit(draft, E.AddKeyword(path=P, keyword="Beaches")) is draft  # same key: already accepted
    assert apply_edit(draft, E.RemoveKeyword(path=P, keyword="mountain")) is draft
    assert apply_edit(draft, E.SetCaption(path=P, caption="a beach at dusk")) is draft
    assert apply_edit(draft, E.DismissProposal(path=P)) is draft


def test_keyword_states_and_sources() -> None:
    draft = apply_edit(new_draft(), E.AddKeyword(path=P, keyword="  sunset   sky "))
    draft = apply_edit(draft, E.AcceptKeyword(path=P, keyword="BEACH"))
    draft = apply_edit(draft, E.RemoveKeyword(path=P, keyword="sea"))
    assert states(draft) == {
        "beach": ("accepted", "model"),
        "sea": ("rejected", "model"),  # a model keyword removed is remembered as rejected
        "sunset sky": ("accepted", "person"),
    }
    assert draft.edited.kept_keywords == ["beach", "sunset sky"]
    draft = apply_edit(draft, E.RemoveKeyword(path=P, keyword="sunset sky"))
    assert "sunset sky" not in states(draft)  # the person's own keyword is simply dropped
    with pytest.raises(ReviewError, match="empty keyword"):
        apply_edit(draft, E.AddKeyword(path=P, keyword=" | "))


def test_rename_keeps_one_keyword_and_marks_it_the_persons() -> None:
    draft = apply_edit(new_draft(["puppy", "grass"]), E.RenameKeyword(path=P, old="Puppies", new="dog"))
    assert states(draft) == {"dog": ("accepted", "person"), "grass": ("suggested", "model")}
    merged = apply_edit(draft, E.RenameKeyword(path=P, old="grass", new="Dogs"))
    assert states(merged) == {"dog": ("accepted", "person")}


def test_a_committed_draft_edited_again_needs_a_new_approval() -> None:
    draft = msgspec.structs.replace(new_draft(), status="committed")
    assert apply_edit(draft, E.AddKeyword(path=P, keyword="dune")).status == "pending"


def test_a_stale_draft_is_approved_again_only_with_the_files_current_fingerprint() -> None:
    draft = msgspec.structs.replace(new_draft(), status="stale", stale_reason="its content changed")
    with pytest.raises(ReviewError, match="changed since preview"):
        apply_edit(draft, E.Approve(path=P))
    with pytest.raises(ReviewError):
        apply_edit(draft, E.Reject(path=P))
    now = FileFingerprint(size=2000, mtime_ns=5, head_tail="cd" * 16)
    approved = apply_edit(draft, E.Approve(path=P, fingerprint=now))
    assert approved.status == "approved" and approved.fingerprint == now and not approved.stale_reason


def test_batch_edits_expand_to_one_edit_per_draft() -> None:
    selection = E.Selection(paths=("/x",))
    assert E.expand(E.ApproveAll(selection=selection), "/x") == E.Approve(path="/x")
    assert E.expand(E.RejectAll(selection=selection), "/x") == E.Reject(path="/x")
    assert E.expand(E.AddKeywordEverywhere(selection=selection, keyword="k"), "/x") == E.AddKeyword(
        path="/x", keyword="k"
    )
    assert E.expand(E.RemoveKeywordEverywhere(selection=selection, keyword="k"), "/x") == E.RemoveKeyword(
        path="/x", keyword="k"
    )
    assert E.expand(E.RenameKeywordEverywhere(selection=selection, old="a", new="b"), "/x") == E.RenameKeyword(
        path="/x", old="a", new="b"
    )


def test_retag_of_an_unedited_pending_draft_takes_the_new_values() -> None:
    draft = new_draft()
    again = merge_generated(draft, generated(P, ["harbour"], caption="a harbour", job_id="job2"), now=2.0)
    assert again.edited.kept_keywords == ["harbour"] and again.edited.caption == "a harbour"
    assert again.origin.job_id == "job2" and again.proposal is None


def test_retag_of_an_edited_draft_keeps_the_edits_and_puts_the_new_values_beside_them() -> None:
    draft = apply_edit(new_draft(), E.SetCaption(path=P, caption="My caption"))
    draft = apply_edit(draft, E.AddKeyword(path=P, keyword="holiday"))
    draft = apply_edit(draft, E.RejectKeyword(path=P, keyword="sea"))
    draft = apply_edit(draft, E.AcceptKeyword(path=P, keyword="beach"))
    again = merge_generated(draft, generated(P, ["Sea", "dune"], caption="sand", job_id="job2"), now=2.0)
    assert again.edited == draft.edited and again.origin.job_id == "job1"
    assert again.proposal is not None and again.proposal.origin.job_id == "job2"
    assert [k.keyword for k in again.proposal.values.keywords] == ["dune"]  # "Sea" was rejected here: dropped
    taken = apply_edit(again, E.TakeProposal(path=P))
    assert taken.edited.caption == "sand" and taken.proposal is None and taken.origin.job_id == "job2"
    assert states(taken) == {
        "beach": ("accepted", "model"),  # accepted before: the person's decision stays
        "dune": ("suggested", "model"),
        "holiday": ("accepted", "person"),
        "sea": ("rejected", "model"),
    }


KEYWORD = st.text(alphabet="abcdeSs |", min_size=1, max_size=8).filter(lambda k: keyword_key(k) != "")
OPS = st.lists(
    st.one_of(
        st.builds(lambda k: E.AddKeyword(path=P, keyword=k), KEYWORD),
        st.builds(lambda k: E.RemoveKeyword(path=P, keyword=k), KEYWORD),
        st.builds(lambda k: E.AcceptKeyword(path=P, keyword=k), KEYWORD),
        st.builds(lambda k: E.RejectKeyword(path=P, keyword=k), KEYWORD),
        st.builds(lambda a, b: E.RenameKeyword(path=P, old=a, new=b), KEYWORD, KEYWORD),
        st.just(E.Approve(path=P)),
    ),
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(start=st.lists(KEYWORD, max_size=5), ops=OPS, later=st.lists(KEYWORD, max_size=6))
def test_a_rejected_keyword_never_comes_back_and_keys_stay_unique(
    start: list[str], ops: list[E.DraftEdit], later: list[str]
) -> None:
    draft = merge_generated(None, generated(P, start), now=1.0)
    for op in ops:
        draft = apply_edit(draft, op)
        keys = [keyword_key(k.keyword) for k in draft.edited.keywords]
        assert len(keys) == len(set(keys))
    rejected = {keyword_key(k.keyword) for k in draft.edited.keywords if k.state == "rejected"}
    again = merge_generated(draft, generated(P, later, job_id="job2"), now=2.0)
    offered = again.proposal.values if again.proposal else again.edited
    assert not rejected & {keyword_key(k.keyword) for k in offered.keywords}
    if draft.is_edited:
        assert again.edited == draft.edited  # a re-tag never overwrites the person's edits


def test_set_values_makes_the_kept_list_exactly_the_one_given_in_one_step() -> None:
    draft = apply_edit(new_draft(["beach", "sea", "people"]), E.AddKeyword(path=P, keyword="mine"))
    draft = apply_edit(draft, E.RemoveKeyword(path=P, keyword="people"))
    edit = E.SetValues(path=P, caption="New", keywords=("Beach", "people", "Anna"), status="approved")
    after = apply_edit(draft, edit)
    assert after.edited.caption == "New" and after.status == "approved"
    assert after.edited.kept_keywords == ["beach", "people", "Anna"]
    assert states(after)["sea"] == ("rejected", "model")  # the model's word left out: rejected, remembered
    assert "mine" not in states(after)  # the person's own word left out: gone
    assert apply_edit(after, msgspec.structs.replace(edit, status=None)) is after  # the same values: no change
    with pytest.raises(ReviewError):
        apply_edit(draft, E.SetValues(path=P, keywords=("  ",)))
