"""`imageworks review import FILE`: edits made elsewhere (a JSONL as `review export` writes it) applied to the drafts.

A round trip carries versions (git's fast-forward): each line names the version of the draft it was exported from,
and a draft that moved on since (an edit in the TUI, a write) refuses the line, naming the newer change, unless
``--force``. A file with any bad line applies nothing (every bad line listed) unless ``--partial``; the lines that
apply are one undo step. A relative path resolves against the line's ``library`` (the export's); one that names no
draft gets a did-you-mean.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from imageworks import client
from imageworks import protocol as P
from imageworks.errors import DaemonError, ImageWorksError
from imageworks.review.drafts import STATUSES
from imageworks.review.edits import SetValues

IMPORTABLE = ("pending", "approved", "rejected")
"""The statuses an import sets; ``committed`` and ``stale`` are the daemon's to give."""


class BadLine(ImageWorksError):
    """One import line that cannot be applied; the message is the reason."""


@dataclass
class Line:
    number: int
    edit: SetValues
    status: str | None
    version: int | None
    library: str


@dataclass
class Outcome:
    changed: int = 0
    unchanged: int = 0
    applied: bool = False
    errors: list[tuple[int, str]] = field(default_factory=list)
    """(line number, reason), in line order."""


def parse_line(number: int, text: str) -> Line:
    """The edit one JSONL line asks for (``status`` and ``edited``), with its ``version`` and ``library``; raises
    BadLine."""
    try:
        row = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadLine(f"not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(row, dict) or not isinstance(row.get("path"), str) or not row["path"]:
        raise BadLine('no "path" (each line is an object with "path", "version", "status" and "edited")')
    status, edited = row.get("status"), row.get("edited", {})
    if not isinstance(edited, dict):
        raise BadLine('"edited" must be an object {caption, keywords, description}')
    unknown = set(edited) - {"caption", "keywords", "description"}
    if unknown:
        raise BadLine(f'"edited" has unknown field(s) {", ".join(sorted(unknown))}')
    for name in ("caption", "description"):
        if edited.get(name) is not None and not isinstance(edited[name], str):
            raise BadLine(f'"edited.{name}" must be text')
    keywords = edited.get("keywords")
    if keywords is not None and (not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords)):
        raise BadLine('"edited.keywords" must be a list of text')
    if status is not None and status not in STATUSES:
        raise BadLine(f"unknown status {status!r} (known: {', '.join(STATUSES)})")
    version = row.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool) or version < 0):
        raise BadLine('"version" must be a whole number (the draft version `review export` wrote)')
    library = row.get("library")
    if not isinstance(library, str):
        library = ""
    edit = SetValues(
        path=row["path"],
        caption=edited.get("caption"),
        description=edited.get("description"),
        keywords=None if keywords is None else tuple(keywords),
        status=status if status in IMPORTABLE else None,
    )
    return Line(number, edit, status, version, library)


def _resolve(c: client.Client, line: Line, libraries: set[str]) -> None:
    """Make a relative path absolute against the line's library (or the file's one library); raises BadLine with a
    did-you-mean when that names no draft."""
    path = line.edit.path
    if os.path.isabs(path):
        return
    library = line.library or (next(iter(libraries)) if len(libraries) == 1 else "")
    if library:
        candidate = os.path.normpath(os.path.join(library, path))
        if _has_draft(c, candidate):
            line.edit = SetValues(**{**_fields(line.edit), "path": candidate})
            return
    guesses = _by_name(c, library, os.path.basename(path))
    hint = f"did you mean {guesses[0]}?" if len(guesses) == 1 else (
        f"{len(guesses)} drafts are named {os.path.basename(path)}" if guesses else f"no draft is named {path}"
    )  # fmt: skip
    where = f" (not found under the export's library {library})" if library else ""
    raise BadLine(f"paths in an import are absolute{where}; {hint}")


def _fields(edit: SetValues) -> dict[str, Any]:
    return {name: getattr(edit, name) for name in edit.__struct_fields__}


def _has_draft(c: client.Client, path: str) -> bool:
    try:
        c.review_get(path)
    except DaemonError as exc:
        if exc.code == "unknown_draft":
            return False
        raise
    return True


def _by_name(c: client.Client, library: str, name: str) -> list[str]:
    """Drafts (under ``library``, else anywhere) whose file is called ``name``."""
    if not name:
        return []
    page = c.review_list(library, f'path:"{name}"', limit=50)
    return [d.path for d in page.drafts if os.path.basename(d.path) == name]


def run_import(c: client.Client, text: str, *, force: bool, partial: bool) -> Outcome:
    """Parse, resolve and apply every line of ``text`` (see the module docstring)."""
    out = Outcome()
    lines: list[Line] = []
    for number, raw in enumerate(text.splitlines(), 1):
        if raw.strip():
            try:
                lines.append(parse_line(number, raw))
            except BadLine as exc:
                out.errors.append((number, str(exc)))
    libraries = {line.library for line in lines if line.library}
    wire: list[P.ImportLine] = []
    for line in lines:
        try:
            _resolve(c, line, libraries)
            if line.version is None and not force:
                raise BadLine('no "version" (lines of `review export` carry one; --force applies the line to the '
                              "draft as it is now)")  # fmt: skip
            if line.status in ("committed", "stale") and c.review_get(line.edit.path).status != line.status:
                raise BadLine(f"status {line.status!r} cannot be set by import (only {', '.join(IMPORTABLE)})")
        except BadLine as exc:
            out.errors.append((line.number, str(exc)))
            continue
        except DaemonError as exc:
            if exc.code != "unknown_draft":
                raise
            out.errors.append((line.number, str(exc).removeprefix("unknown_draft: ")))
            continue
        wire.append(P.ImportLine(line=line.number, edit=line.edit, base_version=None if force else line.version))
    refuse_all = bool(out.errors) and not partial  # a bad line already found: check the rest, apply none
    reply = c.review_import(wire, partial=partial, check_only=refuse_all)
    out.errors += [(r.line, r.message) for r in reply.refused]
    out.errors.sort()
    out.applied = not refuse_all and (partial or not reply.refused)
    out.changed, out.unchanged = len(reply.drafts), reply.unchanged
    return out
