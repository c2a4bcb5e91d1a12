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
from imageworks.jobs.records import TagRecord

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


def export_row(record: TagRecord, *, backend: str = DEFAULT_BACKEND, image: str | None = None) -> dict[str, Any]:
    """One JSONL row from one tag record, in the original's field names.

    ``notes`` is one string ("; "-joined, the error first for a failed item), as in the original; ``models``
    names the model used for each step. A bare error record (only ``status``/``error``, as the runner
    journals for a crash) needs ``image`` from its item; missing fields export as empty values.
    """
    notes = list(record.notes)
    error = record.error
    if record.status == "error" and error and not any(error in n for n in notes):
        notes.insert(0, f"error: {error}")
    return {
        "image": image if image is not None else record.path,
        "keywords": [{"keyword": k.keyword, "score": k.score} for k in record.keywords],
        "caption": record.caption,
        "description": record.description,
        "backend": backend,
        "models": {step: record.model.name for step in _MODEL_STEPS},
        "notes": "; ".join(notes),
        "duration_seconds": float(record.timings.get("total", 0.0)),
        "schema_version": record.schema_version,
    }


def write_jsonl(rows: Iterable[tuple[TagRecord, str | None]], path: Path, *, backend: str = DEFAULT_BACKEND) -> int:
    """Write one ``export_row`` per ``(record, image)`` to ``path`` (UTF-8, one JSON object a line); return the
    count. ``image`` is the item's path (bare error records carry none), or None to take the record's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    count = 0
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            for record, image in rows:
                handle.write(jsonio.dumps(export_row(record, backend=backend, image=image)) + "\n")
                count += 1
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return count
