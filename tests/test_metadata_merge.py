"""Merge in rounds (pure): a field still holding our last write is ours to replace, one changed since is kept and
named; keywords we added and the draft dropped go, new ones come, the person's own are never touched."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from imageworks.metadata import fields as F
from imageworks.metadata import merge as M
from imageworks.metadata.plan import LastWrite, Mode, Proposed, Value

ALL = frozenset({"xmp", "iptc", "exif"})


def write(current: dict[str, Value], proposed: Proposed, mode: Mode = "merge") -> tuple[dict[str, Value], M.Changes]:
    """The fields after applying the plan (as the writer would), and the plan."""
    planned = M.plan_changes(current, proposed, mode, writable=ALL)
    after = {**current, **{c.field: c.new for c in planned.changes}}
    return {k: v for k, v in after.items() if v is not None}, planned


LIBRARY: dict[str, Value] = {
    F.XMP_SUBJECT: ["Animals", "Cat"],
    F.XMP_HIERARCHICAL: ["Animals|Cat"],
    "IFD0:Artist": "Ann",
}


def test_a_corrected_caption_replaces_our_last_write_and_keeps_the_librarys_keywords() -> None:
    first, plan = write(LIBRARY, Proposed(caption="A dog", keywords=["dog", "sea"]))
    assert first[F.XMP_TITLE] == "A dog" and plan.not_written == []
    last = plan.last_write
    assert last is not None and last.caption == "A dog" and set(last.hashes) == set(F.CAPTION_WRITE)
    assert last.added_flat == ["dog", "sea"] and last.keywords == ["dog", "sea"]
    second, plan = write(first, Proposed(caption="Rex on the beach", keywords=["dog", "sea"], last=last))
    assert second[F.XMP_TITLE] == second[F.XP_TITLE] == "Rex on the beach" and plan.not_written == []
    assert second[F.XMP_HIERARCHICAL] == ["Animals|Cat", "dog", "sea"]
    assert plan.last_write is not None and plan.last_write.caption == "Rex on the beach"


def test_a_caption_changed_elsewhere_since_our_write_is_kept_and_named() -> None:
    first, plan = write({}, Proposed(caption="A dog", description="Brown."))
    changed = {**first, F.XMP_TITLE: "Their title"}  # Lightroom edits the title only
    after, plan2 = write(changed, Proposed(caption="Rex", description="Brown and white.", last=plan.last_write))
    assert after[F.XMP_TITLE] == "Their title" and after[F.XMP_DESCRIPTION] == "Brown and white."
    assert plan2.not_written == [
        "caption: changed in another program since the last write; kept (the overwrite mode, or edit the draft)"
    ]
    # the record still holds our old caption: the next round names it again, never takes it as ours
    assert plan2.last_write is not None and plan2.last_write.caption == "A dog"
    again = M.plan_changes(after, Proposed(caption="Rex", last=plan2.last_write), "merge", writable=ALL)
    assert again.changes == [] and again.not_written and "changed in another program" in again.not_written[0]
    # overwrite still writes it
    assert write(changed, Proposed(caption="Rex", last=plan.last_write), "overwrite")[0][F.XMP_TITLE] == "Rex"


def test_a_windows_only_edit_of_one_caption_field_makes_the_caption_theirs() -> None:
    first, plan = write({}, Proposed(caption="A dog"))
    _, plan2 = write({**first, F.XP_TITLE: "edited in Explorer"}, Proposed(caption="Rex", last=plan.last_write))
    assert plan2.changes == [] and "caption: changed in another program" in plan2.not_written[0]


def test_a_caption_that_was_never_ours_is_kept_as_merge_always_did() -> None:
    _, plan = write({F.XMP_TITLE: "Mine"}, Proposed(caption="Theirs", last=LastWrite(keywords=["x"])))
    assert plan.changes == [] and plan.not_written == [
        "caption: merge keeps the existing caption (the overwrite mode replaces it)"
    ]


def test_keywords_ours_dropped_go_new_ones_come_the_persons_stay() -> None:
    start: dict[str, Value] = {
        **LIBRARY,
        F.XMP_SUBJECT: ["Animals", "Cat", "beach"],
        F.XMP_HIERARCHICAL: ["Animals|Cat", "beach"],
    }
    first, plan = write(start, Proposed(keywords=["beach", "sea", "Places|Harbour"]))
    assert first[F.XMP_SUBJECT] == ["Animals", "Cat", "beach", "sea", "Places", "Harbour"]
    last = plan.last_write
    assert last is not None and last.added_flat == ["sea", "Places", "Harbour"]
    assert last.added_hierarchy == ["sea", "Places|Harbour"]
    # the person drops beach (theirs: it stays in the file), sea and Harbour (ours: they go) and adds dune
    second, plan = write(first, Proposed(keywords=["dune"], last=last))
    assert second[F.XMP_SUBJECT] == ["Animals", "Cat", "beach", "dune"]
    assert second[F.XMP_HIERARCHICAL] == ["Animals|Cat", "beach", "dune"]
    assert second[F.IPTC_KEYWORDS] == ["Animals", "Cat", "beach", "dune"] and plan.not_written == []
    assert plan.last_write is not None and plan.last_write.added_flat == ["dune"]


def test_a_keyword_removed_elsewhere_since_our_write_is_not_put_back_and_is_named() -> None:
    first, plan = write({}, Proposed(keywords=["dog", "sea"]))
    removed = {k: (["dog"] if isinstance(v, list) else v) for k, v in first.items()}
    after, plan2 = write(removed, Proposed(keywords=["dog", "sea", "sand"], last=plan.last_write))
    assert after[F.XMP_SUBJECT] == ["dog", "sand"]
    assert plan2.not_written == [
        "keywords: sea removed in another program since the last write; not put back "
        "(the overwrite mode writes them, or remove them from the draft)"
    ]


def test_a_caption_removed_elsewhere_is_not_put_back() -> None:
    first, plan = write({}, Proposed(caption="A dog"))
    cleared = {k: v for k, v in first.items() if k not in F.CAPTION_WRITE}
    _, plan2 = write(cleared, Proposed(caption="A dog", last=plan.last_write))
    assert plan2.changes == [] and plan2.not_written[0].startswith("caption: removed in another program")


words = st.lists(st.sampled_from(["dog", "Dog", "sea", "Places|Harbour", "Places|Beach", "cat", "a b"]), max_size=5)


@given(words, words, words, st.sampled_from(["A dog", "Rex", ""]), st.sampled_from(["A dog", "Rex", ""]))
@settings(max_examples=200, deadline=None)
def test_rounds_reach_the_draft_and_a_second_identical_write_changes_nothing(
    library: list[str], first: list[str], second: list[str], caption1: str, caption2: str
) -> None:
    start: dict[str, Value] = {F.XMP_SUBJECT: F.flat_keywords(library)} if library else {}
    after1, plan1 = write(start, Proposed(caption=caption1 or None, keywords=first))
    after2, plan2 = write(after1, Proposed(caption=caption2 or None, keywords=second, last=plan1.last_write))
    seen = F.logical(after2)
    folded = {k.casefold() for k in seen.keywords}
    assert {k.casefold() for k in F.flat_keywords(second)} <= folded  # every kept keyword is in the file
    assert {k.casefold() for k in F.flat_keywords(library)} <= folded  # the library's own are never taken out
    ours_dropped = {k.casefold() for k in F.flat_keywords(first)} - {k.casefold() for k in F.flat_keywords(library)}
    assert not (ours_dropped - {k.casefold() for k in F.flat_keywords(second)}) & folded  # ours the draft dropped
    if caption2:
        assert seen.caption == caption2  # ours, replaced; no one else wrote in between
    assert plan2.not_written == []
    _, plan3 = write(after2, Proposed(caption=caption2 or None, keywords=second, last=plan2.last_write))
    assert plan3.changes == [] and plan3.not_written == []


def test_keywords_that_only_add_keep_ours_and_the_record_keeps_them_all() -> None:
    first, plan = write(LIBRARY, Proposed(caption="A dog", keywords=["dog", "sea"]))
    # `metadata write --keywords harbour` in merge mode: ours stay, the new one joins them, the library's stay
    second, plan2 = write(first, Proposed(keywords=["harbour"], last=plan.last_write, adds_keywords=True))
    assert second[F.XMP_SUBJECT] == ["Animals", "Cat", "dog", "sea", "harbour"] and plan2.not_written == []
    last = plan2.last_write
    assert last is not None and last.keywords == ["dog", "sea", "harbour"] and last.caption == "A dog"
    assert last.added_flat == ["dog", "sea", "harbour"]
    # the draft's next write (its whole list) still takes out ours it dropped, the one added included
    third, _ = write(second, Proposed(keywords=["dog"], last=last))
    assert third[F.XMP_SUBJECT] == ["Animals", "Cat", "dog"]


def test_a_write_made_before_the_memory_is_adopted_only_where_the_file_holds_exactly_its_values() -> None:
    original: dict[str, Value] = {F.XMP_SUBJECT: ["Cat"], F.XMP_HIERARCHICAL: ["Cat"]}
    written, _ = write(original, Proposed(caption="A dog", description="Brown.", keywords=["dog", "sea"]))
    last = M.adopted_last_write(written, "A dog", "Brown.", ["dog", "sea"], original)
    assert last is not None and last.caption == "A dog" and set(last.hashes) == {*F.CAPTION_WRITE, *F.DESCRIPTION_WRITE}
    assert last.added_flat == ["dog", "sea"] and last.added_hierarchy == ["dog", "sea"]  # Cat was there before
    # adopted, it is a last write like any other: a corrected caption replaces it, a dropped keyword of ours goes
    after, plan = write(written, Proposed(caption="Rex", keywords=["dog"], last=last))
    assert after[F.XMP_TITLE] == "Rex" and after[F.XMP_SUBJECT] == ["Cat", "dog"] and plan.not_written == []
    # no backup: nothing proves a keyword ours, so none is taken out
    assert M.adopted_last_write(written, "A dog", "Brown.", ["dog", "sea"]).added_flat == []  # type: ignore[union-attr]
    # any value the file no longer holds exactly: not adopted (merge keeps and names what is there)
    assert M.adopted_last_write({**written, F.XP_TITLE: "A dog!"}, "A dog", "Brown.", ["dog"], original) is None
    assert M.adopted_last_write(written, "A dog", "Brown and white.", ["dog"], original) is None
    assert M.adopted_last_write(written, "A dog", "Brown.", ["dog", "dune"], original) is None
    assert M.adopted_last_write(written, "A Dog", "Brown.", ["dog"], original) is None  # byte for byte
