"""JSON text that is always valid UTF-8, even when a value holds a non-UTF-8 file name (surrogate escapes)."""

from __future__ import annotations

import json
from typing import Any


def dumps(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` with readable UTF-8; a document holding surrogate escapes (a non-UTF-8 file name as
    Python's os functions give it) falls back to ``\\udcxx`` escapes, which ``json.loads`` turns back exactly."""
    text = json.dumps(obj, ensure_ascii=False, **kwargs)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(obj, ensure_ascii=True, **kwargs)
    return text
