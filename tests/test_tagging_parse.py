"""Output parsing: what real VLMs answer is read, anything else gives a note; never a crash, never an empty
success. Plus the caption rules (two sentences, 200 characters)."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from imageworks.tagging.keywords import Keyword
from imageworks.tagging.lenient_json import find_structured, unfence
from imageworks.tagging.parse import (
    MAX_PARSE_CHARS,
    parse_all,
    parse_caption,
    parse_description,
    parse_keywords,
    split_sentences,
    tidy_caption,
    tidy_description,
)


def kws(text: str) -> list[str]:
    return [k.keyword for k in parse_keywords(text).keywords]


# ---- keywords -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        '{"keywords": ["tree", "street", "red bus"]}',
        '```json\n{"keywords": ["tree", "street", "red bus"]}\n```',
        '```\n["tree", "street", "red bus"]\n```\nThese keywords describe the scene.',
        'Sure! Here are the keywords: {"keywords": ["tree", "street", "red bus"]} Let me know if you need more.',
        "{'keywords': ['tree', 'street', 'red bus']}",
        "{'keywords': ['tree', 'street', 'red bus',],}",
        '["tree", "street", "red bus"]',
        "tree, street, red bus",
        "Keywords: tree, street, red bus.",
        "tree; street; red bus",
        "Here are the keywords:\n1. Tree\n2. Street\n3. **Red bus**\n\nI hope these help you catalogue the photo.",
        "- tree\n- street\n- red bus",
        "* tree\n* street\n* red bus",
        "tree\nstreet\nred bus",
        "1) tree\n2) street\n3) red bus",
        "tree, street, red bus. These keywords capture the scene, its mood and the overall light.",
        '{"keywords": "tree, street, red bus"}',
        '{"Keywords": [["tree", 0.9], ["street", 0.5], ["red bus", 0.4]]}',
        '{"tree": 0.9, "street": 0.5, "red bus": 0.4}',
        '{"tags": [{"tag": "tree"}, {"name": "street"}, {"label": "red bus"}]}',
    ],
)
def test_keyword_formats(answer: str) -> None:
    result = parse_keywords(answer)
    assert [k.keyword.lower() for k in result.keywords] == ["tree", "street", "red bus"]
    assert result.ok and result.notes == ()


def test_keyword_scores() -> None:
    answer = '[{"keyword": "tree", "score": 0.9}, {"keyword": "sky", "confidence": "0.5"}, {"keyword": "sea"}]'
    assert parse_keywords(answer).keywords == (Keyword("tree", 0.9), Keyword("sky", 0.5), Keyword("sea"))
    assert parse_keywords("- tree (0.8)\n- sky: 0.3\n- route 66").keywords == (
        Keyword("tree", 0.8),
        Keyword("sky", 0.3),
        Keyword("route 66"),
    )
    assert parse_keywords('{"keywords": [{"keyword": "tree", "score": true}]}').keywords == (Keyword("tree"),)


def test_apostrophes_inside_single_quoted_json() -> None:
    assert kws("""{'keywords': ['tree', "children's toy"]}""") == ["tree", "children's toy"]


def test_cut_off_json_keeps_complete_items_with_a_note() -> None:
    result = parse_keywords('{"keywords": ["tree", "sky", "stre')
    assert [k.keyword for k in result.keywords] == ["tree", "sky"]
    assert "cut off" in result.notes[0]
    result = parse_keywords('[{"keyword": "tree", "score": 0.9}, {"keyword": "sk')
    assert [k.keyword for k in result.keywords] == ["tree"]


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ("", "empty answer"),
        ("   \n ", "empty answer"),
        ("I'm sorry, I cannot see the image clearly enough to help you with that request.", "no keyword list"),
        ('{"keywords": []}', "empty"),
        ('{"caption": "A bus"}', "no keyword list"),
        ('{"keywords": [', "could not read"),
    ],
)
def test_unusable_keyword_answers_give_a_note(answer: str, why: str) -> None:
    result = parse_keywords(answer)
    assert not result.ok and result.keywords == ()
    assert len(result.notes) == 1 and result.notes[0].startswith("keywords: ") and why in result.notes[0]


def test_incidental_brackets_do_not_hide_a_plain_list() -> None:
    # "[1]" is valid JSON, but the answer is a plain list: read as one (the bracketed number as a score)
    assert parse_keywords("tree, sky [1], street").keywords == (Keyword("tree"), Keyword("sky", 1.0), Keyword("street"))


def test_find_structured_and_unfence() -> None:
    assert unfence("prose\n```json\n{}\n```\nmore") == "{}"
    assert unfence("```python\n[1, 2]") == "[1, 2]"  # a fence cut off at the token limit
    assert unfence("no fence") == "no fence"
    assert unfence("```\n```") == "" and unfence("Caption: x\n```json\n```") == "Caption: x"
    assert find_structured("text {bad} then [1, 2] end") == [1, 2]
    assert find_structured("{'a': None, 'b': true}") == {"a": None, "b": True}
    assert find_structured("nothing here") is None
    assert find_structured("[" * 5000 + "]" * 5000) is None  # deep nesting is refused, not a crash


# ---- captions and descriptions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        "A red bus on a rainy street.",
        '"A red bus on a rainy street."',
        "Caption: A red bus on a rainy street.",
        "**Caption:** A red bus on a rainy street.",
        "Here is a caption for the photo:\n\nA red bus on a rainy street.",
        '```json\n{"caption": "A red bus on a rainy street."}\n```',
        'Sure! {"caption": "A red bus on a rainy street."} Hope that helps.',
        "{'caption': 'A red bus on a rainy street.'}",
        '{"title": "A red bus on a rainy street."}',
        "  A red bus\n on a rainy   street.  ",
    ],
)
def test_caption_formats(answer: str) -> None:
    assert parse_caption(answer) == parse_caption("A red bus on a rainy street.")
    assert parse_caption(answer).text == "A red bus on a rainy street."


def test_caption_cut_off_json_keeps_complete_sentences() -> None:
    result = parse_caption('{"caption": "A red bus on a street. It is rai')
    assert result.text == "A red bus on a street." and "cut off" in result.notes[0]


@pytest.mark.parametrize("answer", ["", '{"description": "x"}', '{"caption": ', '""'])
def test_unusable_caption_gives_a_note(answer: str) -> None:
    result = parse_caption(answer)
    assert not result.ok and result.notes and result.notes[0].startswith("caption: ")


def test_description() -> None:
    text = "A red bus drives down a wet street.\n\nPeople wait under umbrellas. The light is grey."
    assert parse_description(text).text == " ".join(text.split())
    assert parse_description('{"description": "Two sentences. Here."}').text == "Two sentences. Here."
    assert parse_description("Description: It rains.").text == "It rains."
    assert not parse_description("").ok
    assert tidy_description("  a \n b  ") == "a b"


# ---- the caption rules --------------------------------------------------------------------------------------


def test_caption_keeps_two_sentences_with_a_note() -> None:
    result = tidy_caption("A red bus. Rain falls. A man waits.")
    assert result.text == "A red bus. Rain falls."
    assert result.notes == ("caption: kept the first 2 of 3 sentences",)


def test_caption_keeps_whole_sentences_that_fit() -> None:
    first = "A red double-decker bus drives down a wet street in central London at dusk."
    result = tidy_caption(first + " " + "Rain falls on the umbrellas of the passers-by " * 4 + ".")
    assert result.text == first and "shortened" in result.notes[0]


def test_caption_cut_at_a_word_boundary() -> None:
    result = tidy_caption("word " * 60)
    assert len(result.text) <= 200 and result.text.endswith("word…")
    assert "shortened from 299" in result.notes[0]


def test_caption_within_rules_is_untouched() -> None:
    assert tidy_caption("A red bus. Rain falls.") == tidy_caption("A red bus. Rain falls.", max_chars=22)
    assert tidy_caption("A red bus. Rain falls.").notes == ()


def test_split_sentences() -> None:
    assert split_sentences("Boats at St. Ives harbour. Sunset, e.g. orange light! Done? yes.") == [
        "Boats at St. Ives harbour.",
        "Sunset, e.g. orange light!",
        "Done? yes.",
    ]
    assert split_sentences('He said "Stop." Then left.') == ['He said "Stop."', "Then left."]
    assert split_sentences("") == []


caption_text = st.text(alphabet=st.sampled_from("Aab .!?,\"'…\nSt"), max_size=400)


@given(caption_text, st.integers(2, 250), st.integers(1, 4))
def test_caption_rules_hold_and_are_idempotent(text: str, max_chars: int, max_sentences: int) -> None:
    once = tidy_caption(text, max_chars=max_chars, max_sentences=max_sentences)
    assert len(once.text) <= max_chars
    assert len(split_sentences(once.text)) <= max_sentences
    assert once.ok or once.notes
    if once.ok:
        again = tidy_caption(once.text, max_chars=max_chars, max_sentences=max_sentences)
        assert again.text == once.text and again.notes == ()


def test_caption_rule_limits_are_checked() -> None:
    with pytest.raises(ValueError):
        tidy_caption("x", max_chars=1)


# ---- single pass --------------------------------------------------------------------------------------------

FULL = {"caption": "A red bus.", "keywords": ["bus", "street"], "description": "A red bus drives. It rains."}


@pytest.mark.parametrize(
    "answer",
    [
        json.dumps(FULL),
        "```json\n" + json.dumps(FULL, indent=2) + "\n```\nI hope this helps!",
        "Here is the JSON you asked for: " + json.dumps(FULL) + " Enjoy.",
        repr(FULL),
        '{"caption": "A red bus.", "keywords": "bus, street", "description": "A red bus drives. It rains.",}',
        "Caption: A red bus.\nKeywords: bus, street\nDescription: A red bus drives. It rains.",
        "**Caption:** A red bus.\n**Keywords:**\n- bus\n- street\n**Description:** A red bus drives.\nIt rains.",
        "Title: A red bus.\nTags: bus, street\nSummary: A red bus drives. It rains.",
    ],
)
def test_single_pass_formats(answer: str) -> None:
    result = parse_all(answer)
    assert result.caption == "A red bus."
    assert [k.keyword for k in result.keywords] == ["bus", "street"]
    assert result.description == "A red bus drives. It rains."
    assert result.ok and result.notes == ()


def test_single_pass_cut_off_keeps_what_is_complete() -> None:
    result = parse_all('{"caption": "A bus.", "keywords": ["bus", "street"], "description": "A red bus. It rains on')
    assert (result.caption, result.description) == ("A bus.", "A red bus.")
    assert [k.keyword for k in result.keywords] == ["bus", "street"]
    assert result.notes and "cut off" in result.notes[0]


def test_single_pass_missing_parts_are_noted() -> None:
    result = parse_all('{"caption": "A bus.", "keywords": []}')
    assert result.ok and result.caption == "A bus."
    assert [n.split(":")[0] for n in result.notes] == ["keywords", "description"]


@pytest.mark.parametrize("answer", ["", "A lovely photo of a bus.", "{", '{"other": 1}', "[1, 2, 3]"])
def test_single_pass_garbage_gives_notes(answer: str) -> None:
    result = parse_all(answer)
    assert not result.ok and result.notes


# ---- never a crash, never an empty success ------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=15),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=15,
)
json_keys = st.sampled_from(["keywords", "caption", "description", "keyword", "score", "tags", "title"])
answers = st.one_of(
    st.text(),
    json_values.map(json.dumps),
    st.dictionaries(json_keys, json_values, max_size=4).map(json.dumps),
    st.dictionaries(json_keys, json_values, max_size=4).map(repr),
    st.tuples(st.text(max_size=20), st.dictionaries(json_keys, json_values).map(json.dumps), st.text(max_size=20)).map(
        lambda t: f"{t[0]}\n```json\n{t[1]}\n```\n{t[2]}"
    ),
    st.tuples(st.dictionaries(json_keys, json_values).map(json.dumps), st.integers(0, 200)).map(lambda t: t[0][: t[1]]),
)


@given(answers)
@example('[""]')
@example('[[""]]')
@example('{"": 1}')
@example('{"tree": 1' + "0" * 400 + "}")
@example('[["tree", 1' + "0" * 400 + "]]")
@example("tree (1" + "0" * 400 + ")")
def test_parsers_never_raise_and_never_return_an_empty_success(answer: str) -> None:
    for result in (parse_keywords(answer), parse_caption(answer), parse_description(answer), parse_all(answer)):
        assert result.ok or result.notes
        assert all(isinstance(n, str) and n for n in result.notes)
    for keyword in parse_keywords(answer).keywords:
        assert isinstance(keyword.keyword, str) and keyword.keyword.strip()
        assert keyword.score is None or isinstance(keyword.score, float)


keyword_lists = st.lists(st.from_regex(r"[a-z]{2,8}( [a-z]{2,8})?", fullmatch=True), min_size=1, max_size=12)


@given(keyword_lists, st.sampled_from(["json", "fenced", "python", "comma", "numbered", "bullets", "scored"]))
def test_keyword_lists_read_back_in_every_format(words: list[str], style: str) -> None:
    answer = {
        "json": json.dumps({"keywords": words}),
        "fenced": "Sure:\n```json\n" + json.dumps(words) + "\n```\nThose are all.",
        "python": repr({"keywords": words}),
        "comma": ", ".join(words),
        "numbered": "\n".join(f"{i + 1}. {w}" for i, w in enumerate(words)),
        "bullets": "\n".join(f"- {w}" for w in words),
        "scored": json.dumps([{"keyword": w, "score": 0.5} for w in words]),
    }[style]
    assert kws(answer) == words


@given(keyword_lists, st.data())
def test_cut_off_json_never_invents_keywords(words: list[str], data: st.DataObject) -> None:
    full = json.dumps({"keywords": words})
    cut = full[: data.draw(st.integers(0, len(full)))]
    result = parse_keywords(cut)
    assert result.ok or result.notes
    assert set(k.keyword for k in result.keywords) <= set(words)


def test_runaway_answers_are_cut_before_parsing() -> None:
    result = parse_keywords("tree, " * (MAX_PARSE_CHARS // 3))
    assert result.ok and len(result.keywords) <= MAX_PARSE_CHARS // 6 + 1
