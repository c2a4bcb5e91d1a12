"""What a tag job did, counted honestly: written, unchanged by policy, not written (with the reason), failed; and
the exit status `imageworks tag` ends with.

Exit status (also in the README): 0 every image was tagged and, with ``--write``, every file was written or left
unchanged by the mode's policy (``skip`` on a tagged file, ``merge`` with nothing new); 1 an error stopped the
command or the job failed; 2 bad usage; 3 the job finished but some images failed or some files were not written,
or only partly (a value kept out: its caption was changed in another program since our last write...; each one
named, one line each); 4 the job was cancelled or interrupted before it finished (``imageworks jobs resume ID``
continues it). ``review commit`` and ``metadata write`` end with the same codes for the same outcomes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from imageworks.jobs.records import TagRecord

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_PARTIAL = 3
EXIT_STOPPED = 4
SHOWN_PER_KIND = 10
"""At most this many images are named per kind of problem; the rest are counted."""


@dataclass
class TagOutcomes:
    tagged: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    """(path, why) of each image the model could not tag."""
    written: int = 0
    unchanged: int = 0
    """Left as they were by the write mode's policy (or already holding the values)."""
    planned: int = 0
    """Dry run: changes recorded, none made."""
    not_written: list[tuple[str, str]] = field(default_factory=list)
    """(path, why) of each file that should have been written and was not (or kept some values out, unchanged)."""
    partly_written: list[tuple[str, str]] = field(default_factory=list)
    """(path, what was kept out and why) of each file written without some of its values."""

    def as_dict(self) -> dict[str, object]:
        return {
            "tagged": self.tagged,
            "failed": len(self.failed),
            "written": self.written,
            "unchanged_by_policy": self.unchanged,
            "planned": self.planned,
            "not_written": [{"path": p, "reason": r} for p, r in self.not_written],
            "partly_written": [{"path": p, "reason": r} for p, r in self.partly_written],
        }


def tally(records: Iterable[TagRecord], write_mode: str) -> TagOutcomes:
    out = TagOutcomes()
    for record in records:
        if record.status != "ok":
            out.failed.append((record.path, record.error or "failed"))
            continue
        out.tagged += 1
        if write_mode == "none":
            continue
        write = record.write
        if write is None:  # the write never ran: its reason is in the notes
            reason = next((n for n in record.notes if "finalize failed" in n), "the write did not run")
            out.not_written.append((record.path, reason))
        elif write.error:
            out.not_written.append((record.path, write.error))
        elif write.dry_run:
            out.planned += 1
        elif write.not_written:  # a value kept out: named, as `review commit` and `metadata write` name it
            kept = out.partly_written if write.written else out.not_written
            kept.append((record.path, "; ".join(write.not_written)))
        elif write.written:
            out.written += 1
        else:
            out.unchanged += 1
    return out


def exit_status(state: str, outcomes: TagOutcomes) -> int:
    if state == "failed":
        return EXIT_ERROR
    if state in ("cancelled", "interrupted"):
        return EXIT_STOPPED
    if outcomes.failed or outcomes.not_written or outcomes.partly_written:
        return EXIT_PARTIAL
    return EXIT_OK


def summary_lines(outcomes: TagOutcomes, write_mode: str, job_id: str) -> list[str]:
    """One line per image that failed or was not written (capped), then the counts."""
    lines: list[str] = []
    kinds = (
        ("failed", outcomes.failed),
        ("not written", outcomes.not_written),
        ("partly written", outcomes.partly_written),
    )
    for what, items in kinds:
        for path, reason in items[:SHOWN_PER_KIND]:
            lines.append(f"{what}: {path}: {reason}")
        if len(items) > SHOWN_PER_KIND:
            lines.append(
                f"{what}: {len(items) - SHOWN_PER_KIND} more (all of them: imageworks jobs export {job_id} --jsonl -)"
            )
    counts = f"tagged {outcomes.tagged}, failed {len(outcomes.failed)}"
    if write_mode != "none":
        counts += (
            f"; metadata ({write_mode}): written {outcomes.written}, unchanged by policy {outcomes.unchanged}, "
            f"not written {len(outcomes.not_written)}"
        )
        if outcomes.partly_written:
            counts += f", partly written {len(outcomes.partly_written)}"
        if outcomes.planned:
            counts += f", planned (dry run) {outcomes.planned}"
    lines.append(counts)
    return lines
