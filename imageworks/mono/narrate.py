"""The colour narrator's pure logic: the question the model is asked about one region, the check of its answer,
and the sentence a person reads.

Only the object comes from the model. The colour word, its strength and the location are the measurement's
(``imageworks.mono.words``): a colour word in the answer is removed from the object, and one that contradicts the
measured hue (not the measured family nor a neighbour of it) is dropped and counted.
"""

from __future__ import annotations

import re

from imageworks.mono import words
from imageworks.mono.result import Region

MAX_OBJECT_WORDS = 5
FALLBACK_OBJECT = "marked area"
"""What a sentence names when the model's answer had no usable object (empty, only colour words, an error)."""

_ALL = frozenset(words.FAMILIES)
COLOUR_WORDS: dict[str, frozenset[str]] = {
    "red": frozenset({"red"}),
    "crimson": frozenset({"red", "pink"}),
    "scarlet": frozenset({"red"}),
    "maroon": frozenset({"red"}),
    "burgundy": frozenset({"red", "purple"}),
    "pink": frozenset({"pink"}),
    "magenta": frozenset({"purple", "pink"}),
    "fuchsia": frozenset({"purple", "pink"}),
    "orange": frozenset({"orange"}),
    "brown": frozenset({"red", "orange", "amber"}),
    "tan": frozenset({"orange", "amber"}),
    "beige": frozenset({"orange", "amber"}),
    "sepia": frozenset({"orange", "amber"}),
    "gold": frozenset({"amber", "yellow"}),
    "golden": frozenset({"amber", "yellow"}),
    "yellow": frozenset({"yellow"}),
    "green": frozenset({"green"}),
    "teal": frozenset({"cyan"}),
    "turquoise": frozenset({"cyan"}),
    "aqua": frozenset({"cyan"}),
    "cyan": frozenset({"cyan"}),
    "blue": frozenset({"sky blue", "azure", "blue"}),
    "navy": frozenset({"blue", "azure"}),
    "azure": frozenset({"azure"}),
    "violet": frozenset({"blue", "purple"}),
    "purple": frozenset({"purple"}),
    "lilac": frozenset({"purple"}),
    "lavender": frozenset({"purple", "blue"}),
    "black": frozenset({words.NEUTRAL}),
    "white": frozenset({words.NEUTRAL}),
    "grey": frozenset({words.NEUTRAL}),
    "gray": frozenset({words.NEUTRAL}),
    "silver": frozenset({words.NEUTRAL}),
    "colored": _ALL,
    "coloured": _ALL,
    "colorful": _ALL,
    "colourful": _ALL,
}
"""Each colour word a model may say → the measured families it agrees with. Vague words agree with every hue.
Words that are more often things than colours (rose, lime, olive, rust, amber) are left to the object."""

_STRIP = {"a", "an", "the", "some", "of", "is", "it", "this", "that", "there", "box", "boxed", "marked", "inside"}
_WORD = re.compile(r"[a-zA-Z][a-zA-Z'-]*")


def question(region: Region) -> str:
    """The prompt for one region's picture (the photo round it, boxed, beside its residual map)."""
    return (
        "The left image is part of a photograph; the yellow box marks an area. The right image shows the same part, "
        "with the area in magenta. What object or part of the scene is inside the yellow box? "
        f"(It is at the {region.location} of the photograph.) "
        "Answer with a short noun phrase of at most four words, and no colour words."
    )


def _agrees(word: str, family: str) -> bool:
    said = COLOUR_WORDS[word]
    if said is _ALL:
        return True
    if family == words.NEUTRAL:
        return words.NEUTRAL in said
    return bool(said & words.neighbours(family))


_JSON_VALUE = re.compile(r'"((?:[^"\\]|\\.)*)"\s*(:?)')


def _phrases(answer: str) -> list[str]:
    """What the answer says, phrase by phrase: its first line, or for a model that answers in JSON (a tagging
    model's habit) each string value in order, keys left out."""
    text = answer.strip()
    if text[:1] in "{[":
        return [value for value, is_key in _JSON_VALUE.findall(text) if not is_key]
    return [text.splitlines()[0]] if text else []


def _read_phrase(phrase: str, region: Region) -> tuple[str, list[str]]:
    tokens = [t.lower().strip("'-") for t in _WORD.findall(phrase)]
    contradicting: list[str] = []
    kept: list[str] = []
    for token in tokens:
        if token in COLOUR_WORDS:
            if not _agrees(token, region.colour):
                contradicting.append(token)
            continue
        if token in _STRIP and not kept:
            continue
        kept.append(token)
    while kept and kept[-1] in _STRIP:
        kept.pop()
    return " ".join(kept[:MAX_OBJECT_WORDS]), contradicting


def read_answer(answer: str, region: Region) -> tuple[str, list[str]]:
    """The object named in ``answer`` (colour words and filler removed, at most MAX_OBJECT_WORDS words), and the
    colour words that contradicted the measured colour, from the phrases read until one names an object."""
    contradicting: list[str] = []
    for phrase in _phrases(answer):
        obj, dropped = _read_phrase(phrase, region)
        contradicting += dropped
        if obj:
            return obj, contradicting
    return "", contradicting


def sentence(region: Region, obj: str) -> str:
    """``a noticeable red on the scarf (top left, 0.4 % of the frame)``; an untoned patch says so."""
    what = "an untoned patch" if region.colour == words.NEUTRAL else f"a {region.strength} {region.colour}"
    return f"{what} on the {obj or FALLBACK_OBJECT} ({region.location}, {region.area_pct:g} % of the frame)"


def narration_text(sentences: list[str]) -> str:
    """The sentences as one text for a metadata field: ``Colour: a strong red on the scarf (...); ...``."""
    return ("Colour: " + "; ".join(sentences) + ".") if sentences else ""
