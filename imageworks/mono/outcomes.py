"""What a mono desk run did, for the CLI and the TUI alike: the items of its follow-up jobs (narrate, mono-write),
one entry per photo as ``--json`` prints it, the counts, and the exit status.

Exit status (as ``imageworks tag``'s): 0 every photo was checked (and narrated, and written or left unchanged, when
asked) — whatever the verdicts; 1 an error stopped the command or a job failed; 3 the jobs finished but some
photos could not be read, narrated or written, or only partly (the narration kept out of a field changed in another
program since our last write: each named); 4 a job was cancelled or interrupted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from imageworks.jobs.records import MonoRecord, MonoWriteRecord, NarrateRecord
from imageworks.mono.result import VERDICTS

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_PARTIAL = 3
EXIT_STOPPED = 4
FAILING = ("not_mono", "query")
SHOWN_PER_KIND = 10


def narrate_items(records: Iterable[MonoRecord]) -> list[dict[str, Any]]:
    """The ``narrate`` job's items: the checked photos that fail or are a query and have regions to talk about."""
    return [
        {
            "path": r.path,
            "size": r.fingerprint.size,
            "mtime_ns": r.fingerprint.mtime_ns,
            "verdict": r.verdict,
            "regions": msgspec.to_builtins(r.regions),
            "pictures": list(r.overlays.regions),
        }
        for r in records
        if r.status == "ok" and r.verdict in FAILING and r.regions and r.overlays.regions
    ]


def write_items(
    records: Iterable[MonoRecord], narrations: dict[str, NarrateRecord], narration_field: str
) -> list[dict[str, Any]]:
    """The ``mono-write`` job's items: every checked photo's verdict, with its narration when it goes in a field."""
    return [
        {
            "path": r.path,
            "size": r.fingerprint.size,
            "mtime_ns": r.fingerprint.mtime_ns,
            "verdict": r.verdict,
            "narration": narrations[r.path].text if narration_field != "none" and r.path in narrations else "",
        }
        for r in records
        if r.status == "ok"
    ]


def entry(record: MonoRecord, narration: NarrateRecord | None = None, write: MonoWriteRecord | None = None) -> dict:
    """One photo as ``imageworks mono --json`` prints it."""
    out: dict[str, Any] = {
        "path": record.path,
        "verdict": record.verdict or None,
        "reasons": list(record.reasons),
        "tone": msgspec.to_builtins(record.tone),
        "numbers": msgspec.to_builtins(record.numbers),
        "regions": msgspec.to_builtins(record.regions),
        "summary": record.summary,
        "rules": record.rules,
        "colour_space": record.colour_space,
        "dimensions": list(record.dimensions),
        "overlays": msgspec.to_builtins(record.overlays),
        "cached": record.cached,
        "error": record.error,
    }
    if narration is not None:
        out["narration"] = msgspec.to_builtins(narration.regions)
        out["narration_text"] = narration.text
        out["contradictions"] = narration.contradictions
    if write is not None:
        out["write"] = msgspec.to_builtins(write.write)
    return out


@dataclass
class DeskOutcomes:
    verdicts: Counter[str] = field(default_factory=Counter)
    failed: list[tuple[str, str]] = field(default_factory=list)
    """(path, why) of each photo that could not be checked."""
    narrated: int = 0
    contradictions: int = 0
    not_narrated: list[tuple[str, str]] = field(default_factory=list)
    written: int = 0
    unchanged: int = 0
    not_written: list[tuple[str, str]] = field(default_factory=list)
    """(path, why) of each photo that should have been written and was not (or kept its values out, unchanged)."""
    partly_written: list[tuple[str, str]] = field(default_factory=list)
    """(path, what was kept out and why) of each photo written without all of its values (its verdict keyword went
    in, the narration did not: the field was changed in another program since our last write)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdicts": {v: self.verdicts.get(v, 0) for v in VERDICTS},
            "failed": len(self.failed),
            "narrated": self.narrated,
            "contradictions": self.contradictions,
            "not_narrated": [{"path": p, "reason": r} for p, r in self.not_narrated],
            "written": self.written,
            "unchanged": self.unchanged,
            "not_written": [{"path": p, "reason": r} for p, r in self.not_written],
            "partly_written": [{"path": p, "reason": r} for p, r in self.partly_written],
        }


def tally(
    records: Iterable[MonoRecord], narrations: Iterable[NarrateRecord] = (), writes: Iterable[MonoWriteRecord] = ()
) -> DeskOutcomes:
    out = DeskOutcomes()
    for record in records:
        if record.status == "ok":
            out.verdicts[record.verdict] += 1
        else:
            out.failed.append((record.path, record.error or "failed"))
    for narration in narrations:
        out.contradictions += narration.contradictions
        if narration.status == "ok" and not narration.notes:
            out.narrated += 1
        else:
            out.not_narrated.append((narration.path, narration.error or "; ".join(narration.notes) or "failed"))
    for write in writes:
        outcome = write.write
        if write.status != "ok" or outcome is None:
            out.not_written.append((write.path, write.error or "the write did not run"))
        elif outcome.error:
            out.not_written.append((write.path, outcome.error))
        elif outcome.not_written:  # a value kept out: named, as `tag --write` and `review commit` name it
            kept = out.partly_written if outcome.written else out.not_written
            kept.append((write.path, "; ".join(outcome.not_written)))
        elif outcome.written:
            out.written += 1
        else:
            out.unchanged += 1
    return out


def exit_status(states: Iterable[str], outcomes: DeskOutcomes) -> int:
    states = list(states)
    if "failed" in states:
        return EXIT_ERROR
    if any(s in ("cancelled", "interrupted") for s in states):
        return EXIT_STOPPED
    if outcomes.failed or outcomes.not_narrated or outcomes.not_written or outcomes.partly_written:
        return EXIT_PARTIAL
    return EXIT_OK


def summary_lines(outcomes: DeskOutcomes, *, narrate: bool, write: bool, job_id: str) -> list[str]:
    """One line per photo that could not be checked, narrated or written (capped), then the counts."""
    lines: list[str] = []
    kinds = (
        ("failed", outcomes.failed),
        ("not narrated", outcomes.not_narrated),
        ("not written", outcomes.not_written),
        ("partly written", outcomes.partly_written),
    )
    for what, items in kinds:
        for path, reason in items[:SHOWN_PER_KIND]:
            lines.append(f"{what}: {path}: {reason}")
        if len(items) > SHOWN_PER_KIND:
            lines.append(f"{what}: {len(items) - SHOWN_PER_KIND} more (imageworks jobs export {job_id} --jsonl -)")
    v = outcomes.verdicts
    counts = (
        f"neutral {v['neutral_mono']}, toned {v['toned_mono']}, query {v['query']}, not mono {v['not_mono']}, "
        f"unreadable {len(outcomes.failed)}"
    )
    if narrate:
        counts += f"; narrated {outcomes.narrated} ({outcomes.contradictions} contradicting colour words dropped)"
    if write:
        counts += (
            f"; metadata (merge): written {outcomes.written}, unchanged {outcomes.unchanged}, "
            f"not written {len(outcomes.not_written)}, partly written {len(outcomes.partly_written)}"
        )
    lines.append(counts)
    return lines
