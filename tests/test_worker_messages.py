"""The daemon-worker messages: typed both ways, decoded once at the edge; a dict-shaped or unknown message is
refused at decoding, not guessed at."""

from __future__ import annotations

import msgspec
import pytest

from imageworks.daemon.workers import messages as M
from imageworks.inference import ChatPart, ChatTurn, GenRequest, GenResult
from imageworks.protocol import FeedStats


def test_a_batch_and_its_answer_round_trip_as_their_types() -> None:
    chat = (ChatTurn(role="user", parts=(ChatPart(image=b"\x89PNG..."), ChatPart(text="what is it?"))),)
    batch = M.Generate(
        id=7, requests=[GenRequest(prompt="p", image="/a.jpg", key="g1"), GenRequest(prompt="", chat=chat)]
    )
    decoded = M.decode_to_worker(M.encode(batch))
    assert decoded == batch and isinstance(decoded.requests[1].chat[0].parts[0].image, bytes)
    answer = M.Generated(id=7, results=[GenResult(text="a cat", tokens=2)], feed=FeedStats(decodes=1, busy_s=0.5))
    assert M.decode_from_worker(M.encode(answer)) == answer
    for message in (M.Prefetch(images=["/a.jpg"]), M.Forget(images=["/a.jpg"]), M.Cancel(keys=["g1"]), M.Shutdown()):
        assert M.decode_to_worker(M.encode(message)) == message


def test_untyped_or_misdirected_messages_are_refused_at_the_edge() -> None:
    with pytest.raises(msgspec.ValidationError):
        M.decode_to_worker(msgspec.msgpack.encode({"op": "generate", "id": 1, "requests": []}))
    with pytest.raises(msgspec.ValidationError):
        M.decode_to_worker(M.encode(M.Generated(id=1, results=[])))  # an answer is not the daemon's to send
    with pytest.raises(msgspec.ValidationError):
        M.decode_from_worker(msgspec.msgpack.encode({"type": "generated", "id": "one", "results": []}))
