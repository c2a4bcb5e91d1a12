"""The narrator's pure logic: only the object comes from the model; colour words in its answer are removed, and
those contradicting the measured colour are counted; the sentence says the measured colour, strength, location."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imageworks.mono import narrate
from imageworks.mono.result import Region


def region(colour: str = "red", strength: str = "noticeable", location: str = "top left", area: float = 0.4) -> Region:
    return Region(
        reason="spot_colour",
        level="fail",
        area_pct=area,
        bbox=(0, 0, 10, 10),
        centroid=(5, 5),
        hue=40.0,
        chroma=12.0,
        lightness=50.0,
        residual=12.0,
        colour=colour,
        strength=strength,
        location=location,
    )


@pytest.mark.parametrize(
    ("answer", "colour", "obj", "dropped"),
    [
        ("A red scarf.", "red", "scarf", []),
        ("the blue car", "red", "car", ["blue"]),
        ("Brown leather bag", "orange", "leather bag", []),
        ("black coat", "red", "coat", ["black"]),
        ("a grey stone wall", "neutral", "stone wall", []),
        ("crimson rose petals\nand more text", "pink", "rose petals", []),
        ("green", "blue", "", ["green"]),
        ("", "red", "", []),
        ("It is the umbrella of a man walking in the rain", "blue", "umbrella of a man walking", []),
        ('{"keywords": ["black", "A green triangle", "triangle"]}', "red", "triangle", ["black", "green"]),
        ('{"caption": "A red car"}', "red", "car", []),
    ],
)
def test_the_answer_gives_the_object_and_contradicting_colours(answer, colour, obj, dropped) -> None:
    assert narrate.read_answer(answer, region(colour)) == (obj, dropped)


def test_the_sentence_is_measured_and_only_the_object_is_the_models() -> None:
    assert narrate.sentence(region(), "scarf") == "a noticeable red on the scarf (top left, 0.4 % of the frame)"
    untoned = region("neutral", "noticeable", "centre right", 12.5)
    assert narrate.sentence(untoned, "") == "an untoned patch on the marked area (centre right, 12.5 % of the frame)"
    text = narrate.narration_text([narrate.sentence(region(), "scarf"), narrate.sentence(region("blue"), "sky")])
    assert text == (
        "Colour: a noticeable red on the scarf (top left, 0.4 % of the frame); "
        "a noticeable blue on the sky (top left, 0.4 % of the frame)."
    )


@given(st.text(max_size=120), st.sampled_from(["red", "orange", "blue", "green", "neutral", "purple"]))
def test_no_colour_word_survives_into_the_object(answer: str, colour: str) -> None:
    obj, dropped = narrate.read_answer(answer, region(colour))
    assert not set(obj.split()) & set(narrate.COLOUR_WORDS)
    assert len(obj.split()) <= narrate.MAX_OBJECT_WORDS
    assert all(word in narrate.COLOUR_WORDS for word in dropped)


def test_the_question_asks_for_the_object_only() -> None:
    asked = narrate.question(region(location="bottom right"))
    assert "bottom right" in asked and "no colour words" in asked
