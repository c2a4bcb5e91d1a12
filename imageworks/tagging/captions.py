"""Captions and descriptions as ImageWorks keeps them, whoever wrote them (a model's answer read by parse.py):
``TextResult``, sentence splitting that knows common abbreviations, the caption rules (``tidy_caption``: at most
two sentences and 200 characters, trimmed at a sentence or word boundary, with a note) and ``tidy_description``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CAPTION_MAX_CHARS = 200
CAPTION_MAX_SENTENCES = 2

_ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "st", "mt", "jr", "sr", "vs", "etc", "no", "e.g", "i.e", "approx"})
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*\s+")


@dataclass(frozen=True)
class TextResult:
    """A caption or description; ``text`` empty means nothing usable, and then ``notes`` say why."""

    text: str
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return bool(self.text)


def split_sentences(text: str) -> list[str]:
    """Sentences of one paragraph: split after ``.``, ``!``, ``?`` or ``…`` followed by space, unless the
    word before is a common abbreviation ("St.") or the next word starts in lowercase."""
    text = " ".join(text.split())
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        if end >= len(text) or text[end].islower():
            continue
        word = text[start : match.start()].rsplit(" ", 1)[-1].lower()
        if word in _ABBREVIATIONS:
            continue
        sentences.append(text[start:end].strip())
        start = end
    if text[start:].strip():
        sentences.append(text[start:].strip())
    return sentences


def tidy_caption(
    text: str, *, max_chars: int = CAPTION_MAX_CHARS, max_sentences: int = CAPTION_MAX_SENTENCES
) -> TextResult:
    """Hold a caption to the rules: at most ``max_sentences`` sentences and ``max_chars`` characters.

    Extra sentences are dropped; a caption still too long keeps the whole sentences that fit, or else is cut
    at a word boundary and ends with "…". Each change adds a note. Idempotent.
    """
    if max_chars < 2 or max_sentences < 1:
        raise ValueError("a caption needs max_chars >= 2 and max_sentences >= 1")
    caption = " ".join(text.split())
    notes: list[str] = []
    sentences = split_sentences(caption)
    if len(sentences) > max_sentences:
        caption = " ".join(sentences[:max_sentences])
        notes.append(f"caption: kept the first {max_sentences} of {len(sentences)} sentences")
    if len(caption) > max_chars:
        before = len(caption)
        kept = ""
        for sentence in split_sentences(caption):
            longer = f"{kept} {sentence}".strip()
            if len(longer) > max_chars:
                break
            kept = longer
        if not kept:
            cut = caption[: max_chars - 1]
            if " " in cut:
                cut = cut[: cut.rfind(" ")]
            kept = cut.rstrip(" ,;:-–—") + "…"
        caption = kept
        notes.append(f"caption: shortened from {before} to {len(caption)} characters (limit {max_chars})")
    if not caption:
        return TextResult("", ("caption: the caption is empty",))
    return TextResult(caption, tuple(notes))


def tidy_description(text: str) -> str:
    """A description on one line: whitespace collapsed (the 3–4 sentences are the prompt's job, not cut)."""
    return " ".join(text.split())
