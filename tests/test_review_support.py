"""Helpers for the review tests: tag results as the daemon would hand them to the draft store."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from imageworks.review.drafts import DraftKeyword, FileFingerprint, Generated, Origin, Values
from imageworks.review.store import DraftStore

FINGERPRINT = FileFingerprint(size=1000, mtime_ns=1_700_000_000_000_000_000, head_tail="ab" * 16)


def generated(
    path: str,
    keywords: Sequence[str] = ("beach", "sea"),
    *,
    caption: str = "a beach at dusk",
    description: str = "Waves roll onto the sand.",
    job_id: str = "job1",
    item: int = 0,
    fingerprint: FileFingerprint = FINGERPRINT,
) -> Generated:
    return Generated(
        path=path,
        origin=Origin(job_id=job_id, item=item, model="demo", profile="three-step", profile_version="1"),
        values=Values(
            caption=caption,
            description=description,
            keywords=tuple(DraftKeyword(keyword=k, score=0.5) for k in keywords),
        ),
        fingerprint=fingerprint,
    )


def open_store(tmp_path: Path) -> DraftStore:
    return DraftStore(tmp_path / "drafts.sqlite3")
