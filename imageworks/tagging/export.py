"""JSONL export of tag records, with the field names of the original ImageWorks' personal tagger:
``image, keywords, caption, description, backend, models, notes, duration_seconds, schema_version``.

``export_row`` is pure (record -> dict); ``write_jsonl`` writes many, atomically (a temp file renamed into
place), so an interrupted export never leaves half a file behind.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from imageworks import jsonio

EXPORT_FIELDS = (
    "image",
    "keywords",
    "caption",
    "description",
    "backend",
    "models",
    "notes",
    "duration_seconds",
    "schema_version",
)
DEFAULT_BACKEND = "imageworks-daemon"
_MODEL_STEPS = ("caption", "keywords", "description")


def export_row(record: dict[str, Any], *, backend: str = DEFAULT_BACKEND, image: str | None = None) -> dict[str, Any]:
    """One JSONL row from one tag record (``imageworks.tagging.job``), in the original's field names.

    ``notes`` is one string ("; "-joined, the error first for a failed item), as in the original; ``models``
    names the model used for each step. A bare error record (only ``status``/``error``, as the runner
    journals for a crash) needs ``image`` from its item; missing fields export as empty values.
    """
    model = record.get("model") or {}
    name = str(model.get("name", "")) if isinstance(model, dict) else ""
    notes = [str(n) for n in record.get("notes") or []]
    error = record.get("error")
    if record.get("status") == "error" and error and not any(str(error) in n for n in notes):
        notes.insert(0, f"error: {error}")
    timings = record.get("timings") or {}
    keywords = [
        {"keyword": str(k.get("keyword", "")), "score": k.get("score")}
        for k in record.get("keywords") or []
        if isinstance(k, dict)
    ]
    return {
        "image": image if image is not None else str(record.get("path", "")),
        "keywords": keywords,
        "caption": str(record.get("caption") or ""),
        "description": str(record.get("description") or ""),
        "backend": backend,
        "models": {step: name for step in _MODEL_STEPS},
        "notes": "; ".join(notes),
        "duration_seconds": float(timings.get("total", 0.0)) if isinstance(timings, dict) else 0.0,
        "schema_version": record.get("schema_version", ""),
    }


def write_jsonl(records: Iterable[dict[str, Any]], path: Path, *, backend: str = DEFAULT_BACKEND) -> int:
    """Write one ``export_row`` per record to ``path`` (UTF-8, one JSON object a line); return the count.
    Records must carry their ``path`` (merge the item's in first for bare error records)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    count = 0
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            for record in records:
                handle.write(jsonio.dumps(export_row(record, backend=backend)) + "\n")
                count += 1
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return count
