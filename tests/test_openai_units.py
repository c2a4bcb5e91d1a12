"""The endpoint's pure parts: stop sequences over streamed text, streamed deltas, the listen address, body checks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imageworks.daemon.backends.base import TextStream
from imageworks.daemon.openai.chat import Refusal, decode_body, parse_chat
from imageworks.daemon.openai.endpoint import is_loopback, parse_listen
from imageworks.daemon.openai.replies import StopScanner
from imageworks.errors import DaemonError
from imageworks.inference import first_stop


@given(
    st.lists(st.text(alphabet="ab c", max_size=5), max_size=12),
    st.lists(st.text("abc", min_size=1, max_size=3), max_size=3),
)
def test_stop_scanner_sends_what_the_whole_text_cut_at_the_first_stop_would(
    deltas: list[str], stops: list[str]
) -> None:
    scanner = StopScanner(stops)
    sent = "".join(scanner.feed(d) for d in deltas) + scanner.flush()
    whole = "".join(deltas)
    cut = first_stop(whole, stops)
    assert sent == (whole if cut is None else whole[:cut])
    assert scanner.stopped == (cut is not None)


def test_text_stream_deltas_add_up_to_the_stripped_text() -> None:
    stream = TextStream()
    steps = [" ", " A", " A re", " A red\ufffd", " A red ci", " A red circle. "]
    assert "".join(stream.delta(s) for s in steps) == "A red circle."


def test_listen_addresses() -> None:
    assert parse_listen("127.0.0.1:8765") == ("127.0.0.1", 8765)
    assert parse_listen("[::1]:0") == ("::1", 0)
    for bad in ("8765", "host:", ":80", "h:99999"):
        with pytest.raises(DaemonError):
            parse_listen(bad)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("gpu-box")


def test_body_errors_name_the_field_and_unknown_fields_pass() -> None:
    with pytest.raises(Refusal) as caught:
        decode_body(b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}')
    assert caught.value.param == "temperature" and caught.value.status == 400
    with pytest.raises(Refusal) as caught:
        decode_body(b'{"model": "m", "messages": [{"role": "robot", "content": "x"}]}')
    assert caught.value.param == "messages[0].role"
    body = decode_body(b'{"model": "m", "messages": [{"role": "developer", "content": "be brief"}], "logit_bias": {}}')
    chat = parse_chat(body, max_pixels=10_000, max_image_pixels=10**6)
    assert chat.request.chat[0].role == "system" and chat.request.max_new_tokens > 0
