"""Keyword cleanup: each rule by example, and the properties it must keep (idempotent, never more than
max, never drops a keyword because another contains it as a substring)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imageworks.tagging.keywords import (
    DEFAULT_BANNED_WORDS,
    DEFAULT_GENERIC_WORDS,
    MAX_KEYWORD_BYTES,
    Keyword,
    clean_keywords,
    is_banned,
    is_generic,
    merge_key,
    normalise,
    prepare_words,
    singular,
    split_and,
)


def words(keywords: list[Keyword]) -> list[str]:
    return [k.keyword for k in keywords]


# ---- rules, by example --------------------------------------------------------------------------------------


def test_tree_and_street_both_kept_trees_merges_into_tree() -> None:
    assert words(clean_keywords(["tree", "street", "trees", "streets", "Tree"])) == ["tree", "street"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Red Bus!  ", "red bus"),
        ('"sunset"', "sunset"),
        ("The Harbour", "harbour"),
        ("a dog", "dog"),
        ("children's toy", "children's toy"),
        ("t-shirt", "t-shirt"),
        ("golden_hour", "golden hour"),
        ("#beach", "beach"),
        ("rock 'n' roll", "rock n roll"),
        ("Ｆｕｌｌｗｉｄｔｈ", "fullwidth"),
        ("CAFÉ", "café"),
        ("  ", ""),
        ("the", ""),
    ],
)
def test_normalise(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


@pytest.mark.parametrize(
    ("keyword", "expected"),
    [
        ("boats and harbour", ["boats", "harbour"]),
        ("the dog and the cat", ["dog", "cat"]),
        ("salt & pepper shaker", ["salt and pepper shaker"]),  # a fixed phrase inside stays whole
        ("fish & rice", ["fish", "rice"]),
        ("black and white", ["black and white"]),
        ("black and white dog", ["black and white dog"]),
        ("and", []),
        ("sand and sea", ["sand", "sea"]),  # whole word "and" only, not the "and" in "sand"
        ("bandstand", ["bandstand"]),
    ],
)
def test_split_and(keyword: str, expected: list[str]) -> None:
    assert split_and(normalise(keyword)) == expected


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("trees", "tree"),
        ("berries", "berry"),
        ("churches", "church"),
        ("boxes", "box"),
        ("dresses", "dress"),
        ("glass", "glass"),
        ("glasses", "glasses"),
        ("bus", "bus"),
        ("cactus", "cactus"),
        ("news", "news"),
        ("street", "street"),
        ("houses", "house"),
        ("children's", "children's"),
    ],
)
def test_singular(word: str, expected: str) -> None:
    assert singular(word) == expected


def test_merge_is_whole_words_only() -> None:
    assert merge_key("red cars") == merge_key("red car")
    assert merge_key("tree") != merge_key("street")
    assert merge_key("cars red") != merge_key("car red")  # only the last word (the head noun) is singularised


def test_and_split_happens_before_merge() -> None:
    assert words(clean_keywords(["boats and harbour", "boat", "harbours"])) == ["boats", "harbour"]


def test_more_than_three_words_dropped_not_truncated() -> None:
    assert words(clean_keywords(["old red london bus", "red london bus"])) == ["red london bus"]
    assert words(clean_keywords(["one two"], max_words=1)) == []


def test_overlong_keyword_dropped() -> None:
    long_word = "x" * (MAX_KEYWORD_BYTES + 1)
    assert clean_keywords([long_word, "é" * (MAX_KEYWORD_BYTES // 2 + 1)]) == []


def test_banned_words_whole_words_and_plurals() -> None:
    banned = prepare_words(DEFAULT_BANNED_WORDS)
    assert is_banned("photo", banned)
    assert is_banned("old photos", banned)
    assert not is_banned("photographer", banned)  # a word containing a banned word is not banned
    assert words(clean_keywords(["image", "stock image", "imagery", "unknown person", "portrait"])) == [
        "imagery",
        "portrait",
    ]


def test_banned_phrase() -> None:
    assert words(clean_keywords(["red bus", "bus", "red", "big red bus"], banned=["red bus"])) == ["bus", "red"]


def test_generic_words_only_alone() -> None:
    generic = prepare_words(DEFAULT_GENERIC_WORDS)
    assert is_generic("light", generic) and is_generic("lights", generic)
    assert not is_generic("evening light", generic)
    assert words(clean_keywords(["light", "evening light", "Colour", "lighthouse"])) == ["evening light", "lighthouse"]


def test_configurable_lists_replace_defaults() -> None:
    raw = ["photo", "light", "dog", "cat"]
    assert words(clean_keywords(raw, banned=[], generic=[])) == raw
    assert words(clean_keywords(raw, banned=["Dog"], generic=["CAT"])) == ["photo", "light"]


def test_order_model_and_score() -> None:
    raw = [Keyword("sky", 0.2), Keyword("tree", 0.9), Keyword("dog"), Keyword("Sky", 0.95), Keyword("sea", 0.9)]
    assert clean_keywords(raw) == [Keyword("sky", 0.95), Keyword("tree", 0.9), Keyword("dog"), Keyword("sea", 0.9)]
    assert clean_keywords(raw, order="score") == [
        Keyword("sky", 0.95),
        Keyword("tree", 0.9),
        Keyword("sea", 0.9),
        Keyword("dog"),
    ]
    with pytest.raises(ValueError, match="model, score"):
        clean_keywords(raw, order="alphabet")  # type: ignore[arg-type]


def test_merge_keeps_first_form_and_best_score() -> None:
    assert clean_keywords([Keyword("trees", 0.3), Keyword("tree", 0.8)]) == [Keyword("trees", 0.8)]
    assert clean_keywords([Keyword("tree"), Keyword("trees", 0.5)]) == [Keyword("tree", 0.5)]


def test_cut_to_max_keywords() -> None:
    raw = [f"thing{i}" for i in range(40)]
    assert words(clean_keywords(raw, max_keywords=5)) == raw[:5]
    assert clean_keywords(raw, max_keywords=0) == []
    with pytest.raises(ValueError):
        clean_keywords(raw, max_keywords=-1)


def test_accepts_dicts_and_skips_junk() -> None:
    raw = [{"keyword": "tree", "score": 0.5}, {"score": 1}, None, 3, {"keyword": "sky", "score": "high"}, "sea"]
    assert clean_keywords(raw) == [Keyword("tree", 0.5), Keyword("sky"), Keyword("sea")]  # type: ignore[arg-type]


def test_non_finite_and_bool_scores_become_none() -> None:
    raw = [Keyword("a1", float("nan")), Keyword("b1", float("inf")), Keyword("c1", True)]
    assert [k.score for k in clean_keywords(raw)] == [None, None, None]


def test_to_dict() -> None:
    assert Keyword("tree", 0.5).to_dict() == {"keyword": "tree", "score": 0.5}


# ---- properties ---------------------------------------------------------------------------------------------

VOCAB = [
    "tree", "trees", "street", "Streets", "and", "the", "a", "black and white", "photo", "light", "evening light",
    "red bus", "buses", "glass", "glasses", "sea", "seas", "harbour", "boats and harbour", "children's", "&",
    "St. Ives", "T-Shirt", "café", "CAFÉ", "  ", "!!", "one two three four", "lights", "fish & chips",
]  # fmt: skip
raw_texts = st.lists(
    st.one_of(
        st.sampled_from(VOCAB),
        st.text(max_size=30),
        st.lists(st.sampled_from(VOCAB), min_size=1, max_size=4).map(" ".join),
    ),
    max_size=40,
)
scores = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5))
raw_keywords = st.lists(
    st.builds(Keyword, st.one_of(st.sampled_from(VOCAB), st.text(max_size=20)), scores), max_size=30
)
orders = st.sampled_from(["model", "score"])


@given(raw_texts, st.integers(0, 30), orders)
def test_idempotent(raw: list[str], max_keywords: int, order: str) -> None:
    once = clean_keywords(raw, max_keywords=max_keywords, order=order)  # type: ignore[arg-type]
    assert clean_keywords(once, max_keywords=max_keywords, order=order) == once  # type: ignore[arg-type]


@given(raw_keywords, st.integers(0, 30), orders)
def test_idempotent_with_scores(raw: list[Keyword], max_keywords: int, order: str) -> None:
    once = clean_keywords(raw, max_keywords=max_keywords, order=order)  # type: ignore[arg-type]
    assert clean_keywords(once, max_keywords=max_keywords, order=order) == once  # type: ignore[arg-type]


@given(st.text())
def test_normalise_idempotent(text: str) -> None:
    assert normalise(normalise(text)) == normalise(text)


@given(raw_texts, st.integers(0, 30))
def test_never_more_than_max(raw: list[str], max_keywords: int) -> None:
    assert len(clean_keywords(raw, max_keywords=max_keywords)) <= max_keywords


@given(raw_texts)
def test_output_is_clean(raw: list[str]) -> None:
    banned = prepare_words(DEFAULT_BANNED_WORDS)
    generic = prepare_words(DEFAULT_GENERIC_WORDS)
    out = words(clean_keywords(raw, max_keywords=100))
    assert len({merge_key(k) for k in out}) == len(out)
    for k in out:
        assert k and normalise(k) == k and k == k.lower()
        assert len(k.split()) <= 3 and len(k.encode()) <= MAX_KEYWORD_BYTES
        assert not is_banned(k, banned) and not is_generic(k, generic)


_RESERVED = {"and", "a", "an", "the", *DEFAULT_BANNED_WORDS, *DEFAULT_GENERIC_WORDS}
plain_word = st.from_regex(r"[a-z]{2,9}", fullmatch=True).filter(
    lambda w: w not in _RESERVED and singular(w) not in _RESERVED
)
clean_phrase = st.lists(plain_word, min_size=1, max_size=3).map(" ".join)


@given(st.lists(clean_phrase, max_size=25, unique_by=merge_key))
def test_clean_lists_pass_through_unchanged(keywords: list[str]) -> None:
    # nothing is dropped, reordered or rewritten when there is nothing to clean: so in particular no keyword
    # is ever dropped because another one contains it as a substring
    assert words(clean_keywords(keywords)) == keywords


@given(plain_word, st.lists(st.from_regex(r"[a-z]{1,4}", fullmatch=True), min_size=1, max_size=6))
def test_never_drops_a_keyword_contained_in_another(word: str, affixes: list[str]) -> None:
    candidates = [word]
    for i, affix in enumerate(affixes):
        candidates.append(affix + word if i % 2 else word + affix)  # "tree" -> "street", "treetop", ...
        candidates.append(f"{affix} {word}")  # and as a word of a phrase
    keep: list[str] = []
    for c in candidates:
        if merge_key(c) not in {merge_key(k) for k in keep} and not set(c.split()) & _RESERVED:
            keep.append(c)
    out = words(clean_keywords(keep, max_keywords=100, banned=[], generic=[]))
    assert out == keep
    assert word in out
