"""Keyword cleanup: pure functions from what a model listed to the keywords a photo library gets.

The pipeline (``clean_keywords``), one documented function per rule:

1. ``normalise``: Unicode NFKC, lowercase, punctuation trimmed (inner hyphens, apostrophes and ``&`` kept),
   leading articles ("a", "an", "the") dropped, whitespace collapsed.
2. ``split_and``: "boats and harbour" becomes "boats", "harbour"; fixed phrases ("black and white") stay whole.
3. at most ``max_words`` words (3) and ``MAX_KEYWORD_BYTES`` bytes (the IPTC limit): longer ones are dropped,
   never truncated into nonsense.
4. ``is_banned``: a keyword holding a banned word (or phrase) as a *whole word* is dropped ("photo", "image").
   ``is_generic``: a keyword that is *only* a generic word is dropped ("light"), but "evening light" stays.
5. ``merge_key``: keywords that differ only by the plural of their last word merge ("tree", "trees"): the
   first form the model gave stays, with the best score. Whole words only, so "tree" and "street" both stay:
   nothing is ever dropped because another keyword contains it as a substring.
6. exact de-duplication (a special case of 5), then order by the model's order or by score, then cut to
   ``max_keywords``.

``clean_keywords`` is idempotent: cleaning its output again changes nothing.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

KeywordOrder = Literal["model", "score"]
ORDERS: tuple[str, ...] = ("model", "score")

MAX_WORDS = 3
MAX_KEYWORD_BYTES = 64
"""IPTC-IIM Keywords hold 64 bytes each; a longer keyword would be cut when written, so it is dropped here."""

DEFAULT_BANNED_WORDS: tuple[str, ...] = (
    "activities",
    "actions",
    "appearance",
    "category",
    "composition",
    "elements",
    "identify",
    "image",
    "item",
    "no",
    "objects",
    "photo",
    "photograph",
    "photographic",
    "photography",
    "picture",
    "professions",
    "relationships",
    "setting",
    "standard",
    "unidentified",
    "unknown",
    "unspecified",
    "various",
    "visual",
)
"""Words that say nothing about a photo's content (the original ImageWorks' list, less its oddities)."""

DEFAULT_GENERIC_WORDS: tuple[str, ...] = (
    "angle",
    "color",
    "colour",
    "contrast",
    "focus",
    "light",
    "lighting",
    "sharpness",
    "shot",
)
"""Words too vague to be a keyword alone; fine inside a phrase ("evening light")."""

AND_PHRASES: frozenset[str] = frozenset(
    {
        "arts and crafts",
        "bed and breakfast",
        "black and white",
        "bread and butter",
        "fish and chips",
        "give and take",
        "hide and seek",
        "pros and cons",
        "rock and roll",
        "salt and pepper",
        "spick and span",
        "ups and downs",
    }
)
"""Fixed phrases that ``split_and`` keeps whole."""

INVARIANT_WORDS: frozenset[str] = frozenset(
    {
        "alias", "analysis", "apparatus", "asbestos", "atlas", "axis", "basis", "bias", "billiards", "bonus",
        "bus", "business", "bypass", "canvas", "chaos", "chassis", "circus", "class", "corps", "cosmos",
        "crisis", "customs", "debris", "diabetes", "diagnosis", "ethos", "focus", "fungus", "gas", "glass",
        "glasses", "goods", "headquarters", "jeans", "kudos", "lens", "mathematics", "news", "octopus",
        "pants", "pathos", "pelvis", "physics", "pliers", "plus", "process", "progress", "scissors", "series",
        "shorts", "species", "status", "surplus", "thanks", "thesis", "tongs", "trousers", "virus", "woods",
    }
)  # fmt: skip
"""Words whose final "s" is not a plural (or whose plural means something else: glasses, woods)."""

_ARTICLES = frozenset({"a", "an", "the"})
_NOT_KEPT = re.compile(r"[^\w\s'&-]")
_EDGE = "'-&"


@dataclass(frozen=True)
class Keyword:
    """One keyword; ``score`` is the model's confidence when it gave one, else None (never invented)."""

    keyword: str
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"keyword": self.keyword, "score": self.score}


def normalise(text: str) -> str:
    """Lowercase, NFKC, punctuation trimmed, leading articles dropped, single spaces.

    Inside words, hyphens, apostrophes and ``&`` stay ("t-shirt", "children's", "r&b"); every other
    punctuation mark becomes a space, and words lose them at their edges ("'tree'" -> "tree"). A lone
    ``&`` becomes "and" (so "salt & pepper" is the phrase "salt and pepper").
    """
    text = unicodedata.normalize("NFKC", text)
    # lower() can un-normalise a few characters: repeat to a fixed point (twice in practice) for idempotence
    for _ in range(4):
        lowered = unicodedata.normalize("NFKC", text.lower())
        if lowered == text:
            break
        text = lowered
    text = text.replace("’", "'").replace("‘", "'").replace("_", " ")
    words = ["and" if word == "&" else word.strip(_EDGE) for word in _NOT_KEPT.sub(" ", text).split()]
    words = [word for word in words if word]
    while words and words[0] in _ARTICLES:
        words.pop(0)
    return " ".join(words)


def split_and(keyword: str, phrases: frozenset[str] = AND_PHRASES) -> list[str]:
    """Split a normalised keyword on the word "and" (or "&"): "boats and harbour" -> ["boats", "harbour"].

    A keyword holding a fixed phrase of ``phrases`` stays whole ("black and white dog"); empty parts
    ("and", "x and") vanish; each part is normalised again ("the dog and the cat" gives "dog", "cat").
    """
    padded = f" {keyword} "
    if any(f" {phrase} " in padded for phrase in phrases):
        return [keyword]
    parts: list[list[str]] = [[]]
    for word in keyword.split():
        if word in ("and", "&"):
            parts.append([])
        else:
            parts[-1].append(word)
    if len(parts) == 1:
        return [keyword] if keyword else []
    return [part for part in (normalise(" ".join(words)) for words in parts) if part]


def singular(word: str) -> str:
    """A conservative singular form of one English word, used only to compare keywords.

    "trees" -> "tree", "berries" -> "berry", "churches" -> "church", "glasses" stays (see INVARIANT_WORDS);
    words of three letters or fewer and words ending in "ss", "us" or "is" are left alone.
    """
    if len(word) <= 3 or word in INVARIANT_WORDS:
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes", "zzes")):
        return word[:-2]
    if word.endswith(("ss", "us", "is", "'s")):
        return word
    if word.endswith("s"):
        return word[:-1]
    return word


def merge_key(keyword: str) -> str:
    """What two keywords must share to be merged: every word equal, the last one compared in singular.

    "red car" and "red cars" share a key; "tree" and "street" do not (whole words only).
    """
    words = keyword.split()
    if not words:
        return ""
    words[-1] = singular(words[-1])
    return " ".join(words)


def prepare_words(words: Iterable[str]) -> frozenset[str]:
    """Normalise a banned or generic list (entries may be phrases) into the form the checks compare."""
    return frozenset(merge_key(n) for n in (normalise(w) for w in words) if n)


def is_banned(keyword: str, banned: frozenset[str]) -> bool:
    """True if some banned entry (from ``prepare_words``) occurs in ``keyword`` as whole word(s).

    Words are compared in singular, so banning "photo" also bans "photos" and "old photos".
    """
    if not banned:
        return False
    words = [singular(w) for w in keyword.split()]
    for size in range(1, len(words) + 1):
        for start in range(len(words) - size + 1):
            if " ".join(words[start : start + size]) in banned:
                return True
    return False


def is_generic(keyword: str, generic: frozenset[str]) -> bool:
    """True if the whole keyword is a generic word (from ``prepare_words``): "light", "lights"; not "evening light"."""
    return merge_key(keyword) in generic


def score_or_none(value: Any) -> float | None:
    """A finite float score, or None (bools, non-numbers, NaN, infinities, integers too big for a float)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        value = float(value)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def _unpack(item: Any) -> tuple[str, float | None] | None:
    if isinstance(item, str):
        return item, None
    if isinstance(item, Keyword):
        return item.keyword, score_or_none(item.score)
    if isinstance(item, dict) and isinstance(item.get("keyword"), str):
        return item["keyword"], score_or_none(item.get("score"))
    return None


def order_keywords(keywords: list[Keyword], order: KeywordOrder) -> list[Keyword]:
    """``model``: as given. ``score``: highest score first, keywords without a score after those with one,
    ties in the model's order (a stable sort, so ordering twice changes nothing)."""
    if order == "model":
        return list(keywords)
    if order == "score":
        return sorted(keywords, key=lambda k: (k.score is None, -(k.score or 0.0)))
    raise ValueError(f"keyword order must be one of {', '.join(ORDERS)}, not {order!r}")


def clean_keywords(
    raw: Iterable[str | Keyword | dict[str, Any]],
    *,
    max_keywords: int = 25,
    banned: Iterable[str] = DEFAULT_BANNED_WORDS,
    generic: Iterable[str] = DEFAULT_GENERIC_WORDS,
    order: KeywordOrder = "model",
    max_words: int = MAX_WORDS,
    and_phrases: frozenset[str] = AND_PHRASES,
) -> list[Keyword]:
    """The cleaned keyword list: see the module docstring for the rules, in order.

    ``raw`` holds strings, ``Keyword``s or ``{"keyword", "score"}`` dicts (anything else is skipped).
    Returns at most ``max_keywords`` keywords, each normalised, unique by ``merge_key``.
    """
    if max_keywords < 0:
        raise ValueError(f"max_keywords must be 0 or more, not {max_keywords}")
    banned_set = prepare_words(banned)
    generic_set = prepare_words(generic)
    merged: dict[str, Keyword] = {}
    for item in raw:
        unpacked = _unpack(item)
        if unpacked is None:
            continue
        text, score = unpacked
        for part in split_and(normalise(text), and_phrases):
            if len(part.split()) > max_words or len(part.encode("utf-8")) > MAX_KEYWORD_BYTES:
                continue
            if is_banned(part, banned_set) or is_generic(part, generic_set):
                continue
            key = merge_key(part)
            kept = merged.get(key)
            if kept is None:
                merged[key] = Keyword(part, score)
            elif score is not None and (kept.score is None or score > kept.score):
                merged[key] = Keyword(kept.keyword, score)
    return order_keywords(list(merged.values()), order)[:max_keywords]
