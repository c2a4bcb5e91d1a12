"""Typed access to a job's results: the records of a job of one kind, each checked to be that kind's record."""

from __future__ import annotations

from typing import TypeVar

from imageworks import protocol as P

R = TypeVar("R")


def records_of(results: list[P.ResultRecord], kind: type[R]) -> list[R]:
    """The results' records, in order, each asserted to be a ``kind`` (the record type of the job's kind)."""
    records: list[R] = []
    for result in results:
        assert isinstance(result.record, kind), result.record
        records.append(result.record)
    return records
