"""The review book (the TUI's mirror of the daemon's drafts): pages append in path order, a pushed change is applied
once and only when newer, a new draft joins the list only under the root and the filter, an edited draft stays on
the list until the filter is applied again, next-pending wraps."""

from __future__ import annotations

import msgspec
import pytest

from imageworks.review.drafts import Draft, DraftKeyword, FileFingerprint, Origin, Values
from imageworks.review.query import QueryError
from imageworks.tui.review_book import ReviewBook


def draft(path: str, seq: int, *, status: str = "pending", keywords: tuple[str, ...] = ("beach",)) -> Draft:
    values = Values(caption=f"caption of {path}", keywords=tuple(DraftKeyword(keyword=k) for k in keywords))
    return Draft(
        path=path,
        origin=Origin(job_id="j", item=0),
        generated=values,
        edited=values,
        fingerprint=FileFingerprint(size=1, mtime_ns=1),
        status=status,  # type: ignore[arg-type]
        version=seq,
        seq=seq,
    )


def test_pages_append_and_changes_apply_once_when_newer():
    book = ReviewBook()
    book.reset("/lib", "")
    book.add_page([draft("/lib/a.jpg", 1), draft("/lib/b.jpg", 2)], total=3, seq=5, last=False)
    assert book.loading and book.order == ["/lib/a.jpg", "/lib/b.jpg"]
    book.add_page([draft("/lib/c.jpg", 3)], total=3, seq=5, last=True)
    assert not book.loading and book.seq == 5
    approved = msgspec.structs.replace(draft("/lib/b.jpg", 6), status="approved")
    assert book.apply([approved]) == ["/lib/b.jpg"]
    assert book.lines["/lib/b.jpg"].status == "approved" and book.seq == 6
    assert book.apply([draft("/lib/b.jpg", 4)]) == []  # older than what the book holds: an echo, ignored
    assert book.drafts["/lib/b.jpg"].status == "approved"


def test_new_drafts_join_only_under_the_root_and_the_filter_and_edited_ones_stay():
    book = ReviewBook()
    book.reset("/lib", "kw:beach status:pending")
    book.add_page([draft("/lib/b.jpg", 1)], total=1, seq=1, last=True)
    changed = book.apply([draft("/lib/a.jpg", 2), draft("/other/x.jpg", 3), draft("/lib/c.jpg", 4, keywords=("x",))])
    assert changed == ["/lib/a.jpg"] and book.order == ["/lib/a.jpg", "/lib/b.jpg"] and book.total == 2
    book.apply([draft("/lib/b.jpg", 5, status="approved")])  # no longer matches: stays until the filter is re-applied
    assert book.order == ["/lib/a.jpg", "/lib/b.jpg"] and book.counts() == {"pending": 1, "approved": 1}
    assert book.approved_paths() == ["/lib/b.jpg"]


def test_next_pending_wraps_and_a_bad_filter_changes_nothing():
    book = ReviewBook()
    book.reset("", "")
    statuses = ["approved", "pending", "rejected", "approved"]
    book.add_page([draft(f"/{i}.jpg", i + 1, status=s) for i, s in enumerate(statuses)], total=4, seq=4, last=True)
    assert book.next_pending(1) == 1 and book.next_pending(2) == 1
    with pytest.raises(QueryError):
        book.reset("", "status:nope")
    assert len(book.order) == 4 and book.filter == ""
