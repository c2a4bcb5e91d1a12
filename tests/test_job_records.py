"""Typed job records: they survive JSON (the journal) and msgpack (the wire) unchanged, tagged by kind."""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from imageworks import protocol as P
from imageworks.jobs import kinds
from imageworks.jobs.records import (
    RECORD_TYPES,
    EchoRecord,
    Fingerprint,
    KeywordScore,
    ModelRef,
    ProfileRef,
    TagRecord,
    WriteOutcome,
)

text = st.text(max_size=40)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
step_names = st.sampled_from(["caption", "keywords", "description", "all", "total"])

tag_records = st.builds(
    TagRecord,
    status=st.sampled_from(["ok", "error"]),
    error=st.none() | text,
    notes=st.lists(text, max_size=4),
    path=text,
    fingerprint=st.builds(Fingerprint, size=st.integers(0, 2**62), mtime_ns=st.integers(-(2**62), 2**62)),
    caption=text,
    keywords=st.lists(st.builds(KeywordScore, keyword=text, score=st.none() | finite), max_size=6),
    description=text,
    complete=st.booleans(),
    model=st.builds(ModelRef, name=text, revision=text),
    profile=st.builds(ProfileRef, name=text, version=st.integers(0, 1000), digest=text),
    timings=st.dictionaries(step_names, finite, max_size=5),
    tokens=st.dictionaries(step_names, st.integers(0, 10**6), max_size=5),
    schema_version=st.integers(1, 9),
    write=st.none()
    | st.builds(
        WriteOutcome,
        mode=st.sampled_from(["skip", "merge", "overwrite"]),
        dry_run=st.booleans(),
        written=st.booleans(),
        changes=st.lists(text, max_size=3),
        reason=text,
        truncated=st.lists(text, max_size=2),
        target=text,
        error=text,
    ),
)


@given(tag_records)
def test_tag_record_json_round_trip(record: TagRecord) -> None:
    assert msgspec.json.decode(msgspec.json.encode(record), type=TagRecord) == record


@given(tag_records)
def test_result_record_decodes_the_kind_from_the_wire(record: TagRecord) -> None:
    wire = msgspec.msgpack.encode(P.ResultRecord(job_id="j", index=0, seq=1, status=record.status, record=record))
    assert msgspec.msgpack.decode(wire, type=P.ResultRecord).record == record


def test_echo_record_is_told_apart_on_the_wire() -> None:
    echo = EchoRecord(status="ok", output="hi", tokens=1, seconds=0.5, model="m")
    wire = msgspec.msgpack.encode(P.ResultRecord(job_id="j", index=0, seq=1, status="ok", record=echo))
    assert msgspec.msgpack.decode(wire, type=P.ResultRecord).record == echo


def test_every_kind_names_its_record_type() -> None:
    assert {name: kind.record_type for name, kind in kinds.KINDS.items()} == RECORD_TYPES
    assert kinds.get("tag").record_type(error="lost").status == "error"  # a bare failure is a valid record
