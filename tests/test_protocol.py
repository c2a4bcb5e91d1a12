"""Protocol encoding, signing and the decoder's robustness (hypothesis fuzz)."""

from __future__ import annotations

import os
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imageworks import protocol as P
from imageworks.errors import ProtocolError
from imageworks.file_state import LastWrite
from imageworks.protocol import wire
from imageworks.review import edits
from imageworks.review.drafts import FileFingerprint, FileWrite
from imageworks.review.rounds import Asked, FileWritten

SIGNER = P.Signer(b"k" * 64)
REVIEW_EXAMPLES: dict[str, dict[str, object]] = {
    "review.get": {"path": "/p/a.jpg"},
    "review.edit": {"edit": edits.AddKeyword(path="/p/a.jpg", keyword="Animals|Dog"), "base_version": 3},
    "review.batch": {"edit": edits.ApproveAll(selection=edits.Selection(root="/p", query="kw:dog"))},
    "review.changes": {"after_seq": 7},
    "review.complete": {"prefix": "do"},
    "similar.groups": {"job_id": "j", "threshold": 0.9},
    "similar.mark": {"paths": ["/p/caf\udce9.jpg", "/p/b.jpg"], "mark": "reject"},
    "image.thumbnail": {"path": "/p/a.jpg", "max_px": 256},
    "review.import": {
        "lines": [P.ImportLine(line=2, edit=edits.SetValues(path="/p/a.jpg", caption="Dusk"), base_version=4)],
        "partial": True,
    },
    "review.restored": {"paths": ["/p/a.jpg"]},
    "review.recall": {"paths": ["/p/a.jpg"]},
    "review.written": {
        "files": [
            FileWritten(
                path="/p/a.jpg",
                version=3,
                write=FileWrite(
                    fingerprint=FileFingerprint(size=10, mtime_ns=1, pixels="ab"),
                    written=LastWrite(caption="Dusk", hashes={"XMP-dc:Title": "12"}, keywords=["sea"]),
                    not_written=("description: kept",),
                ),
                asked=Asked(caption="Dusk", keywords=["sea"]),
            )
        ],
        "job": "cli-1",
    },
}


def test_round_trip_every_request_type():
    for type_, cls in P.REQUEST_TYPES.items():
        fields: dict[str, object] = {"job_id": "j"} if "job_id" in cls.__struct_fields__ else {}
        if type_ == "job.submit":
            fields = {"kind": "echo", "items": [{"text": "é 日本"}]}
        if type_ == "model.switch":
            fields = {"name": "m"}
        fields |= REVIEW_EXAMPLES.get(type_, {})
        body = cls(**fields)
        header = P.make_header(type_, "s")
        msg = P.decode(SIGNER, P.encode(SIGNER, header, body))
        assert msg.header == header and msg.body == body


def test_tampered_body_fails_signature():
    frames = P.encode(SIGNER, P.make_header("ping", "s"), P.Ping())
    frames[2] = frames[2] + b"\x00"
    with pytest.raises(ProtocolError, match="signature"):
        P.decode(SIGNER, frames)


def test_body_must_match_type():
    with pytest.raises(ProtocolError):
        P.encode(SIGNER, P.make_header("ping", "s"), P.StatusRequest())


def test_replay_guard_rejects_seen_and_stale():
    guard = P.ReplayGuard(capacity=3)
    h = P.make_header("ping", "s")
    assert guard.check(h) is None
    replayed = guard.check(h)
    assert replayed is not None and "replayed" in replayed
    old = P.Header(msg_id="x", type="ping", session="s", date=time.time() - 3600)
    stale = guard.check(old)
    assert stale is not None and "dated" in stale
    for i in range(5):  # bounded memory
        guard.check(P.Header(msg_id=str(i), type="ping", session="s", date=time.time()))
    assert len(guard._seen) == 3


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=5))
def test_decoder_never_raises_anything_but_protocol_error_on_garbage(frames):
    with pytest.raises(ProtocolError):
        P.decode(SIGNER, frames)


@settings(max_examples=300, deadline=None)
@given(header=st.binary(max_size=80), body=st.binary(max_size=80))
def test_decoder_on_validly_signed_garbage(header, body):
    # signed with the right key (a buggy but authenticated client): still only ProtocolError
    frames = [SIGNER.sign(header, body), header, body]
    try:
        P.decode(SIGNER, frames)
    except ProtocolError:
        pass


@settings(max_examples=200, deadline=None)
@given(
    type_=st.sampled_from(sorted(P.REQUEST_TYPES)),
    body=st.dictionaries(
        st.text(max_size=8), st.one_of(st.integers(-(2**63), 2**63 - 1), st.text(max_size=8), st.none()), max_size=4
    ),
)
def test_decoder_on_signed_wrong_shaped_bodies(type_, body):
    h = wire._encoder.encode(P.make_header(type_, "s"))
    b = wire._encoder.encode(body)
    try:
        msg = P.decode(SIGNER, [SIGNER.sign(h, b), h, b])
    except ProtocolError:
        return
    assert isinstance(msg.body, P.REQUEST_TYPES[type_])


def test_non_utf8_file_names_round_trip_exactly():
    name = os.fsdecode(b"/photos/caf\xe9-\xff.jpg")  # Latin-1 bytes: surrogate escapes in Python
    body = P.JobSubmit(kind="tag", items=[{"path": name, "size": 1}], params={"note": name})
    msg = P.decode(SIGNER, P.encode(SIGNER, P.make_header("job.submit", "s"), body))
    assert msg.body.items[0]["path"] == name and os.fsencode(msg.body.items[0]["path"]) == os.fsencode(name)
    err = P.Error(code="bad_request", message=f"cannot read {name}")
    back = P.decode(SIGNER, P.encode(SIGNER, P.make_header("error", "s"), err))
    assert back.body.message == err.message


@pytest.mark.parametrize(
    "key", [b"", b"short", b"k" * 64, P.new_key(), b"long" * 40], ids=["empty", "short", "block", "new", "long"]
)
def test_signatures_are_rfc2104_hmac_sha256_of_header_and_body(key: bytes) -> None:
    """The signer keys SHA-256 once (wire.Signer); what it signs is plain HMAC-SHA256, as any peer computes it."""
    import hmac

    signer = P.Signer(key)
    for header, body in ((b"", b""), (b'{"type":"ping"}', b"\x80"), (b"h" * 1000, b"b" * 5000)):
        expected = hmac.new(key, header + body, "sha256").hexdigest().encode()
        assert signer.sign(header, body) == expected
        assert signer.verify(expected, header, body)
        assert not signer.verify(expected, header, body + b"x")
