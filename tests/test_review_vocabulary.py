"""The photographer's vocabulary: autocomplete, mapping proposals onto it, rename memory, hierarchy paths."""

from __future__ import annotations

from imageworks import metadata as md
from imageworks.metadata import fields as F
from imageworks.metadata import merge as M
from imageworks.review.drafts import DraftKeyword, Values
from imageworks.review.vocabulary import Vocabulary, keep_rate, writer_keywords

LIBRARY = Vocabulary.build(
    library={"Beach": 40, "tree": 12, "dogwood": 3, "hot dog": 5, "Dog": 30, "Animals": 30},
    hierarchical={"Animals|Dog": 30, "Plants|Trees|Dogwood": 3},
    approved={"sunset": 7, "Beach": 2},
)


def model(keyword: str) -> DraftKeyword:
    return DraftKeyword(keyword=keyword)


def test_autocomplete_ranks_by_use_in_this_library() -> None:
    assert [s.keyword for s in LIBRARY.complete("do")] == ["Dog", "hot dog", "dogwood"]
    assert [s.keyword for s in LIBRARY.complete("")][:3] == ["Beach", "Animals", "Dog"]
    first = LIBRARY.complete("dog", limit=1)[0]
    assert (first.keyword, first.count, first.path) == ("Dog", 30, "Animals|Dog")
    assert LIBRARY.count("beaches") == 42 and LIBRARY.count("sunset") == 7 and "Sunsets" in LIBRARY


def test_proposals_are_mapped_onto_the_librarys_words_and_new_ones_marked_new() -> None:
    assert LIBRARY.map_keyword(model("tree")) == DraftKeyword(keyword="tree")  # exact: untouched
    assert LIBRARY.map_keyword(model("beach")) == DraftKeyword(
        keyword="Beach", source="mapped", mapped_from="beach"
    )  # case
    assert LIBRARY.map_keyword(model("Trees")) == DraftKeyword(keyword="tree", source="mapped", mapped_from="Trees")
    assert LIBRARY.map_keyword(model("lighthouse")).new is True
    mine = DraftKeyword(keyword="lighthouse", source="person", state="accepted")
    assert LIBRARY.map_keyword(mine) is mine  # the person's own words are theirs


def test_mapping_merges_two_proposals_of_one_word() -> None:
    values = Values(keywords=(DraftKeyword(keyword="trees", score=0.2), DraftKeyword(keyword="Tree", score=0.9)))
    mapped = LIBRARY.map_values(values)
    assert [(k.keyword, k.score) for k in mapped.keywords] == [("tree", 0.9)]


def test_rename_memory_needs_two_renames_and_takes_the_most_frequent() -> None:
    once = Vocabulary.build(renames={("puppy", "dog"): 1})
    assert once.map_keyword(model("puppy")).keyword == "puppy"
    twice = Vocabulary.build(library={"Dog": 3}, renames={("puppy", "dog"): 2, ("puppy", "hound"): 3})
    assert twice.map_keyword(model("Puppies")) == DraftKeyword(
        keyword="hound", source="mapped", mapped_from="Puppies", new=True
    )
    settled = Vocabulary.build(library={"Dog": 3}, renames={("puppy", "dog"): 4})
    assert settled.map_keyword(model("puppy")) == DraftKeyword(keyword="Dog", source="mapped", mapped_from="puppy")


def test_a_hierarchical_keyword_lands_in_both_keyword_fields() -> None:
    assert writer_keywords(["Dog", "dogs", "sunset", "Places|Beach"], LIBRARY) == [
        "Animals|Dog",
        "sunset",
        "Places|Beach",
    ]
    assert writer_keywords(["Dog"]) == ["Dog"]
    planned = M.plan_changes(
        {}, md.Proposed(keywords=writer_keywords(["Dog"], LIBRARY)), "merge", writable=frozenset({"xmp", "iptc"})
    )
    new = {c.field: c.new for c in planned.changes}
    assert new[F.XMP_HIERARCHICAL] == ["Animals|Dog"]
    subject, iptc = new[F.XMP_SUBJECT], new[F.IPTC_KEYWORDS]
    assert isinstance(subject, list) and "Dog" in subject
    assert isinstance(iptc, list) and "Dog" in iptc


def test_keep_rate_is_the_share_of_proposed_keywords_kept() -> None:
    assert keep_rate(["beach", "sea", "sky", "dog"], ["Beaches", "dog", "holiday"]) == 0.5
    assert keep_rate([], ["x"]) == 0.0
