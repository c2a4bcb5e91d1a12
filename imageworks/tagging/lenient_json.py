"""Finding JSON in what a model wrote: in a Markdown fence or not, surrounded by prose, single-quoted, with trailing
commas, or cut off at the token limit. Nothing here raises on model output."""

from __future__ import annotations

import ast
import json
import re
import warnings
from typing import Any

_MAX_CANDIDATES = 40
"""Brackets tried as the start of a JSON value, at the most (bounded work on bracket-heavy prose)."""

_FENCE = re.compile(r"```[ \t]*[A-Za-z0-9_+-]*[ \t]*\n?(.*?)(?:```|\Z)", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_JSON_WORDS = {"true": "True", "false": "False", "null": "None"}
NO_VALUE = object()
"""Returned for "nothing there" where None could be a value the model wrote."""


def unfence(text: str) -> str:
    """The content of the first Markdown code fence (closed or cut off), else the text itself, stripped;
    empty fences are dropped."""
    match = _FENCE.search(text)
    if match and match.group(1).strip():
        return match.group(1).strip()
    return _FENCE.sub(" ", text).strip() if match else text.strip()


def _balanced_end(text: str, start: int) -> int | None:
    """Index just past the bracket that closes ``text[start]``, skipping quoted strings; None if unclosed."""
    depth = 0
    quote = ""
    escaped = False
    for i in range(start, len(text)):
        char = text[i]
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "\"'":
            # an apostrophe inside a word ("children's") does not open a string
            if char == "'" and i > 0 and text[i - 1].isalnum():
                continue
            quote = char
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def _loads_lenient(snippet: str) -> Any:
    """JSON, then JSON without trailing commas, then Python-literal pseudo-JSON (single quotes)."""
    for attempt in (snippet, _TRAILING_COMMA.sub(r"\1", snippet)):
        try:
            return json.loads(attempt)
        except (ValueError, RecursionError):
            pass
    pythonish = re.sub(r"\b(true|false|null)\b", lambda m: _JSON_WORDS[m.group(1)], snippet)
    for attempt in (pythonish, _TRAILING_COMMA.sub(r"\1", pythonish)):
        try:
            with warnings.catch_warnings():  # invalid escapes in model text warn; they are not our bug
                warnings.simplefilter("ignore")
                return ast.literal_eval(attempt)
        except Exception:  # literal_eval raises many types on odd input; model output must never crash us
            pass
    return NO_VALUE


def find_structured(text: str) -> Any:
    """The first JSON-like object or list in ``text`` (fenced, surrounded by prose, single-quoted, with
    trailing commas); ``None`` if there is none that parses."""
    body = unfence(text)
    decoder = json.JSONDecoder()
    starts = [m.start() for m in re.finditer(r"[{\[]", body)][:_MAX_CANDIDATES]
    for start in starts:
        try:
            value, _ = decoder.raw_decode(body, start)
        except (ValueError, RecursionError):
            end = _balanced_end(body, start)
            if end is None:
                continue
            value = _loads_lenient(body[start:end])
            if value is NO_VALUE:
                continue
        if isinstance(value, (dict, list)) and value:
            return value
    return None


def looks_structured(text: str) -> bool:
    body = unfence(text)
    return body[:1] in ("{", "[")


def get_key(mapping: dict[Any, Any], *names: str) -> Any:
    """The value of the first of ``names`` present in ``mapping``, keys compared case-insensitively."""
    lowered = {str(k).strip().lower(): v for k, v in mapping.items()}
    for name in names:
        if name in lowered:
            return lowered[name]
    return NO_VALUE


def unquote_json_string(raw: str) -> str:
    try:
        return str(json.loads(f'"{raw}"'))
    except ValueError:
        return raw
