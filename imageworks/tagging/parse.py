"""Reading what a vision-language model answered: captions, keyword lists, descriptions, single-pass JSON.

Real models wrap JSON in code fences, add prose before or after it, use single quotes, answer with a plain
comma list or a numbered list instead of the JSON they were asked for, or stop mid-answer at the token limit.
Every parser here accepts all of that, never raises on model output, and never returns an empty success:
a result with nothing usable carries a note saying why (``result.ok`` is False and ``result.notes`` is not
empty). Notes start with the step they are about ("keywords: ...") so they read well in a per-image list.

The caption rules (``tidy_caption``, ``tidy_description``) and ``TextResult`` live in captions.py; they are
importable from here too, beside the parsers whose results they hold to those rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from imageworks.tagging.captions import (
    TextResult,
    split_sentences,
    tidy_caption,
    tidy_description,
)
from imageworks.tagging.keywords import Keyword, score_or_none
from imageworks.tagging.lenient_json import (
    NO_VALUE,
    find_structured,
    get_key,
    looks_structured,
    unfence,
    unquote_json_string,
)

__all__ = [
    "MAX_PARSE_CHARS",
    "AllResult",
    "KeywordsResult",
    "TextResult",
    "keywords_from_plain_text",
    "keywords_from_value",
    "parse_all",
    "parse_caption",
    "parse_description",
    "parse_keywords",
    "preview",
    "split_sentences",
    "tidy_caption",
    "tidy_description",
]

MAX_PARSE_CHARS = 20_000
"""Longer answers are cut before parsing: bounded work on a runaway generation."""
_PREVIEW = 80


@dataclass(frozen=True)
class KeywordsResult:
    """Keywords as the model gave them, in its order, not yet cleaned (see ``keywords.clean_keywords``)."""

    keywords: tuple[Keyword, ...]
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return bool(self.keywords)


@dataclass(frozen=True)
class AllResult:
    """A single-pass answer; any part may be missing (with a note), ``ok`` if at least one part is there."""

    caption: str
    keywords: tuple[Keyword, ...]
    description: str
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return bool(self.caption or self.keywords or self.description)


# ---- notes ----------------------------------------------------------------------------------------------------


def preview(text: str) -> str:
    """The start of an answer, on one line, for a note."""
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= _PREVIEW else flat[: _PREVIEW - 1] + "…")


# ---- keywords -----------------------------------------------------------------------------------------------

_KEYWORD_KEYS = ("keywords", "keyword", "tags", "tag", "labels")
_ITEM_TEXT_KEYS = ("keyword", "tag", "name", "label", "text", "word", "term")
_ITEM_SCORE_KEYS = ("score", "confidence", "probability", "relevance", "weight")
_BULLET = re.compile(r"^(?:[-*•·+–]|\(?\d{1,3}[.):]|[a-z][.)])\s+", re.IGNORECASE)
_LABEL = re.compile(r"^(?:keywords?|tags?)\s*:\s*", re.IGNORECASE)
_INLINE_SCORE = re.compile(r"^(.*?\S)\s*(?:\(\s*(\d*\.?\d+)\s*\)|\[\s*(\d*\.?\d+)\s*\]|:\s*(\d*\.?\d+))$")
_MARKUP = re.compile(r"\*\*|__|`")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_QUOTED = re.compile(r'"((?:[^"\\\n]|\\.)*)"(\s*:)?')
_SEPARATORS = re.compile(r"[,;|]")


def _score_of(value: Any) -> float | None:
    """A score from JSON: a number, or a number in a string ("0.9"); None for anything else."""
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    return score_or_none(value)


def _keyword_from_text(text: str) -> Keyword | None:
    text = text.strip()
    if not text:
        return None
    match = _INLINE_SCORE.match(text)
    if match:
        number = next(g for g in match.groups()[1:] if g is not None)
        return Keyword(match.group(1).strip(), _score_of(number))
    return Keyword(text)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def keywords_from_value(value: Any, _depth: int = 0) -> list[Keyword] | None:
    """Keywords out of decoded JSON: ``{"keywords": [...]}``, a bare list, ``[{"keyword", "score"}]``,
    ``[["tree", 0.9]]``, ``{"tree": 0.9}`` or a comma string. None if the value holds no keyword list."""
    if isinstance(value, dict):
        inner = get_key(value, *_KEYWORD_KEYS)
        if inner is not NO_VALUE:
            return (keywords_from_value(inner, _depth + 1) if _depth < 4 else None) or []
        if value and all(isinstance(k, str) and _is_number(v) for k, v in value.items()):
            return [Keyword(k.strip(), _score_of(v)) for k, v in value.items() if k.strip()]
        return None
    if isinstance(value, str):
        return [k for k in (_keyword_from_text(p) for p in _SEPARATORS.split(value)) if k is not None]
    if not isinstance(value, (list, tuple)):
        return None
    found: list[Keyword] = []
    for element in value:
        if isinstance(element, str):
            found.extend(k for k in (_keyword_from_text(p) for p in _SEPARATORS.split(element)) if k is not None)
        elif isinstance(element, dict):
            text = get_key(element, *_ITEM_TEXT_KEYS)
            if isinstance(text, str) and text.strip():
                score = get_key(element, *_ITEM_SCORE_KEYS)
                found.append(Keyword(text.strip(), None if score is NO_VALUE else _score_of(score)))
        elif isinstance(element, (list, tuple)) and element and isinstance(element[0], str) and element[0].strip():
            found.append(Keyword(element[0].strip(), _score_of(element[1]) if len(element) > 1 else None))
    return found


def _is_prose(parts: list[str]) -> bool:
    """Comma-separated sentences rather than a list: long parts on average."""
    words = [len(p.split()) for p in parts if p.strip()]
    return not words or sum(words) / len(words) > 3.5


def keywords_from_plain_text(text: str) -> list[Keyword]:
    """Keywords out of a comma list, a numbered or bulleted list, or one keyword per line; an intro line
    ("Here are the keywords:"), a "Keywords:" label and trailing prose sentences are skipped."""
    found: list[str] = []
    lines = [_MARKUP.sub("", line).strip() for line in text.splitlines()]
    for line in (line for line in lines if line):
        bullet = _BULLET.match(line)
        line = _LABEL.sub("", line[bullet.end() :] if bullet else line).strip()
        if not line:
            continue
        if line.endswith(":") and not bullet:
            continue  # an intro line
        for sentence in _SENTENCE_SPLIT.split(line):
            parts = _SEPARATORS.split(sentence)
            if len(parts) > 1:
                if not _is_prose(parts):
                    found.extend(parts)
            elif bullet or len(sentence.split()) <= 4:
                found.append(sentence)
    keywords = [_keyword_from_text(p.strip().rstrip(".")) for p in found]
    return [k for k in keywords if k is not None]


def _keywords_from_quoted(text: str) -> list[Keyword]:
    """Complete double-quoted strings that are not keys: what survives of JSON cut off at the token limit."""
    names = {*_KEYWORD_KEYS, *_ITEM_TEXT_KEYS, *_ITEM_SCORE_KEYS}
    found = []
    for match in _QUOTED.finditer(text):
        value = unquote_json_string(match.group(1)).strip()
        if match.group(2) is None and value and value.lower() not in names:
            found.append(Keyword(value))
    return found


def parse_keywords(text: str) -> KeywordsResult:
    """Keywords from a keywords step's answer; see the module docstring for what is accepted."""
    text = text[:MAX_PARSE_CHARS]
    if not text.strip():
        return KeywordsResult((), ("keywords: the model returned an empty answer",))
    value = find_structured(text)
    if value is not None:
        found = keywords_from_value(value)
        if found:
            return KeywordsResult(tuple(found))
        if looks_structured(text):  # else the JSON was incidental ("sky [1]"): read the text as a list
            what = "the model's keyword list is empty" if found is not None else "the JSON answer holds no keyword list"
            return KeywordsResult((), (f"keywords: {what}: {preview(text)}",))
    elif looks_structured(text):
        recovered = _keywords_from_quoted(unfence(text))
        if recovered:
            note = f"keywords: the JSON answer was cut off or malformed; kept {len(recovered)} complete item(s)"
            return KeywordsResult(tuple(recovered), (note,))
        return KeywordsResult((), (f"keywords: could not read the JSON answer: {preview(text)}",))
    found = keywords_from_plain_text(unfence(text))
    if found:
        return KeywordsResult(tuple(found))
    return KeywordsResult((), (f"keywords: no keyword list found in the answer: {preview(text)}",))


# ---- captions and descriptions ------------------------------------------------------------------------------

_TEXT_LABEL = re.compile(
    r"^\s*(?:[*_#]+\s*)?(?:caption|title|description|summary)\s*(?:[*_]+\s*)?:\s*(?:[*_]+\s*)?", re.IGNORECASE
)
_INTRO = re.compile(r"^(?:here(?:'s| is| are)|sure|certainly|okay|ok)\b[^\n]*:\s*$", re.IGNORECASE)
_QUOTES = "\"'“”‘’"


def _strip_text(text: str) -> str:
    """One paragraph of prose: intro line, label and Markdown emphasis gone, wrapping quotes gone."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if len(lines) > 1 and _INTRO.match(lines[0].strip()):
        lines = lines[1:]
    flat = " ".join(" ".join(lines).split())
    flat = _TEXT_LABEL.sub("", flat)
    flat = flat.replace("**", "").replace("__", "").strip()
    if len(flat) >= 2 and flat[0] in _QUOTES and flat[-1] in _QUOTES:
        flat = flat[1:-1].strip()
    return flat


def _text_answer(text: str, step: str, keys: tuple[str, ...]) -> TextResult:
    text = text[:MAX_PARSE_CHARS]
    if not text.strip():
        return TextResult("", (f"{step}: the model returned an empty answer",))
    value = find_structured(text)
    if isinstance(value, dict):
        found = get_key(value, *keys)
        if isinstance(found, str) and _strip_text(found):
            return TextResult(_strip_text(found))
    if looks_structured(text):
        if isinstance(value, dict):
            return TextResult("", (f"{step}: the JSON answer has no {keys[0]}: {preview(text)}",))
        if isinstance(value, list) and all(isinstance(v, str) for v in value) and _strip_text(" ".join(value)):
            return TextResult(_strip_text(" ".join(value)))
        recovered = _field_from_cut_json(unfence(text), keys)
        if recovered:
            return TextResult(recovered, (f"{step}: the JSON answer was cut off or malformed; kept its {keys[0]}",))
        return TextResult("", (f"{step}: could not read the JSON answer: {preview(text)}",))
    flat = _strip_text(unfence(text))
    if not flat:
        return TextResult("", (f"{step}: no text in the answer: {preview(text)}",))
    return TextResult(flat)


def _field_from_cut_json(text: str, keys: tuple[str, ...]) -> str:
    """A string field out of JSON that does not parse (cut off): complete, or up to where it stops."""
    for key in keys:
        match = re.search(rf'"{key}"\s*:\s*"((?:[^"\\]|\\.)*)("?)', text, re.IGNORECASE)
        if match and match.group(1).strip():
            value = _strip_text(unquote_json_string(match.group(1)))
            return value if match.group(2) else _to_last_sentence(value)
    return ""


def _to_last_sentence(text: str) -> str:
    """Text cut off mid-sentence, back to its last complete sentence (or whole, if it has none)."""
    sentences = split_sentences(text)
    if len(sentences) > 1 and not re.search(r"[.!?…][\"'”’)\]]*$", sentences[-1]):
        return " ".join(sentences[:-1])
    return text


def parse_caption(text: str) -> TextResult:
    """The caption in a caption step's answer (plain text, "Caption: ...", quoted, or ``{"caption": ...}``).
    Not yet held to the caption rules: see ``tidy_caption``."""
    return _text_answer(text, "caption", ("caption", "title"))


def parse_description(text: str) -> TextResult:
    """The description in a description step's answer (plain text or ``{"description": ...}``)."""
    return _text_answer(text, "description", ("description", "summary"))


# ---- single pass --------------------------------------------------------------------------------------------

_SECTION = re.compile(
    r"^\s*(?:[*_#]+\s*)?(?:\d+[.)]\s*)?(caption|title|keywords|tags|description|summary)\s*(?:[*_]+\s*)?[:：]"
    r"\s*(?:[*_]+\s*)?(.*)$",
    re.IGNORECASE,
)
_SECTION_NAMES = {"title": "caption", "tags": "keywords", "summary": "description"}


def _sections(text: str) -> dict[str, str]:
    """``Caption: ...`` / ``Keywords: ...`` / ``Description: ...`` labelled sections, each up to the next."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        match = _SECTION.match(line)
        if match:
            name = match.group(1).lower()
            name = _SECTION_NAMES.get(name, name)
            current = found.setdefault(name, [])
            current.append(match.group(2))
        elif current is not None:
            current.append(line)
    return {name: "\n".join(lines).strip() for name, lines in found.items()}


def _all_from_cut_json(text: str) -> tuple[str, list[Keyword], str]:
    caption = _field_from_cut_json(text, ("caption", "title"))
    description = _field_from_cut_json(text, ("description", "summary"))
    keywords: list[Keyword] = []
    match = re.search(r'"(?:keywords|tags)"\s*:\s*(\[[^\]]*\]?|"(?:[^"\\]|\\.)*")', text, re.IGNORECASE)
    if match:
        keywords = _keywords_from_quoted(match.group(1))
    return caption, keywords, description


def parse_all(text: str) -> AllResult:
    """Caption, keywords and description from one answer: JSON (fenced, single-quoted, with prose around it,
    or cut off at the token limit) or labelled ``Caption:`` / ``Keywords:`` / ``Description:`` sections.
    Each missing part gets a note."""
    text = text[:MAX_PARSE_CHARS]
    if not text.strip():
        return AllResult("", (), "", ("all: the model returned an empty answer",))
    notes: list[str] = []
    caption, description = "", ""
    keywords: list[Keyword] = []
    value = find_structured(text)
    if isinstance(value, dict):
        found_caption = get_key(value, "caption", "title")
        found_description = get_key(value, "description", "summary")
        caption = _strip_text(found_caption) if isinstance(found_caption, str) else ""
        description = _strip_text(found_description) if isinstance(found_description, str) else ""
        keywords = keywords_from_value(get_key(value, *_KEYWORD_KEYS)) or []
    elif looks_structured(text):
        caption, keywords, description = _all_from_cut_json(unfence(text))
        if caption or keywords or description:
            notes.append("all: the JSON answer was cut off or malformed; kept what was complete")
    else:
        sections = _sections(unfence(text))
        if not sections:
            return AllResult("", (), "", (f"all: the answer is neither JSON nor labelled sections: {preview(text)}",))
        caption = _strip_text(sections.get("caption", ""))
        description = _strip_text(sections.get("description", ""))
        keywords = keywords_from_plain_text(sections.get("keywords", ""))
    for part, present in (("caption", caption), ("keywords", keywords), ("description", description)):
        if not present:
            notes.append(f"{part}: missing from the single-pass answer: {preview(text)}")
    return AllResult(caption, tuple(keywords), description, tuple(notes))
