"""Job results held in memory for the job-results screen (enter in Jobs): one flat row per item, built once.

A row keeps the display strings the table paints and a lower-case haystack the filter searches, so sorting and
filtering 50 000 rows is a list operation (tens of milliseconds), never a daemon round trip.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import msgspec

from imageworks.jobs.records import AnyRecord, EchoRecord, TagRecord

if TYPE_CHECKING:
    from imageworks import protocol as P


@dataclass(slots=True)
class ResultRow:
    index: int
    seq: int
    status: str
    path: str
    caption: str
    keywords: tuple[str, ...]
    description: str
    error: str
    notes: tuple[str, ...]
    record: AnyRecord
    item: dict[str, Any]
    name: str = ""
    haystack: str = ""

    @classmethod
    def from_result(cls, result: P.ResultRecord) -> ResultRow:
        rec = result.record
        item = result.item or {}
        if isinstance(rec, EchoRecord):  # the model's answer stands in the caption column
            path, caption, keywords, description = "", rec.output, (), ""
        else:  # a tag record; the others (commit, and the CPU kinds': hash, scan, move) have a path and no text
            path = getattr(rec, "path", "") or getattr(rec, "root", "")
            caption, description = getattr(rec, "caption", ""), getattr(rec, "description", "")
            keywords = tuple(k.keyword for k in getattr(rec, "keywords", ()) if k.keyword)
        path = path or str(item.get("path") or item.get("image") or item.get("text") or "")
        row = cls(
            index=result.index,
            seq=result.seq,
            status=result.status or rec.status,
            path=path,
            caption=" ".join(caption.split()),
            keywords=keywords,
            description=description,
            error=rec.error or "",
            notes=tuple(rec.notes),
            record=rec,
            item=item,
        )
        row.name = os.path.basename(path) or path
        row.haystack = " ".join((row.name, row.status, row.caption, " ".join(keywords), row.error)).lower()
        return row

    def image_path(self) -> str | None:
        """The file a preview can open, if the item names one."""
        recorded = self.record.path if isinstance(self.record, TagRecord) else None
        candidate = self.item.get("path") or self.item.get("image") or recorded
        return str(candidate) if candidate else None


@dataclass
class JobResults:
    job_id: str
    rows: list[ResultRow] = field(default_factory=list)
    by_index: dict[int, int] = field(default_factory=dict)
    last_seq: int = 0
    version: int = 0
    kind: str = ""

    def add(self, results: Iterable[P.ResultRecord]) -> int:
        """Append new results (a re-sent index replaces its row); returns how many rows were added."""
        added = 0
        for result in results:
            row = ResultRow.from_result(result)
            self.last_seq = max(self.last_seq, result.seq)
            at = self.by_index.get(row.index)
            if at is None:
                self.by_index[row.index] = len(self.rows)
                self.rows.append(row)
                added += 1
            else:
                self.rows[at] = row
        self.version += 1
        return added

    @property
    def ok(self) -> int:
        return sum(1 for r in self.rows if r.status == "ok")


class ResultStore:
    """Results per job id, for as long as the app runs (or until "clear all caches")."""

    def __init__(self) -> None:
        self.jobs: dict[str, JobResults] = {}

    def get(self, job_id: str) -> JobResults:
        found = self.jobs.get(job_id)
        if found is None:
            found = self.jobs[job_id] = JobResults(job_id)
        return found

    def rows_held(self) -> int:
        return sum(len(j.rows) for j in self.jobs.values())

    def clear(self, keep: str | None = None) -> int:
        """Forget every job's rows except ``keep``'s; returns how many rows were dropped."""
        dropped = 0
        for job_id in list(self.jobs):
            if job_id != keep:
                dropped += len(self.jobs.pop(job_id).rows)
        return dropped


CSV_FIELDS = ("index", "path", "status", "caption", "keywords", "description", "error")


def export_jsonl(rows: Iterable[ResultRow], path: Path, *, kind: str) -> int:
    """Tag records in the original tagger's field names (``imageworks.tagging.export``); other kinds as journaled."""
    rows = list(rows)
    if kind == "tag":
        from imageworks.tagging.export import export_row

        lines = [export_row(cast(TagRecord, r.record), image=r.image_path()) for r in rows]
    else:
        lines = [
            {"index": r.index, "status": r.status, "item": r.item, "record": msgspec.to_builtins(r.record)}
            for r in rows
        ]
    return _write_atomic(path, "".join(json.dumps(x, ensure_ascii=False, default=str) + "\n" for x in lines), len(rows))


def export_csv(rows: Iterable[ResultRow], path: Path) -> int:
    import io

    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_FIELDS)
    n = 0
    for r in rows:
        writer.writerow([r.index, r.path, r.status, r.caption, "; ".join(r.keywords), r.description, r.error])
        n += 1
    return _write_atomic(path, buf.getvalue(), n)


def _write_atomic(path: Path, text: str, count: int) -> int:
    path = path.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return count
