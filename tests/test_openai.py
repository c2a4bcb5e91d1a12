"""The OpenAI-compatible endpoint's edges, on the echo backend (instant, or a set time per word): the key on every
route, 400/413/503 answers with OpenAI's error shape, cancel on disconnect, `daemon status` and `openai-key`."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam
from PIL import Image

from imageworks import apikey
from tests.openai_support import data_uri, endpoint, image_message, raw_request, status, text_of, usage_of
from tests.waiting import wait_for

ECHO = "echo:step_delay=0.02"
"""Each answer word takes a "decoding step" of 20 ms: a long prompt's answer streams for seconds."""


def iw(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "imageworks", *args], capture_output=True, text=True, timeout=60)


@pytest.fixture
def echo_endpoint(start_daemon) -> tuple[str, str]:
    start_daemon(ECHO, IMAGEWORKS_OPENAI_LISTEN="127.0.0.1:0", IMAGEWORKS_OPENAI_MAX_BODY_BYTES="65536")
    from imageworks.client import Client

    with Client("test") as c:
        c.wait_model(timeout=30)
    return endpoint()


def test_key_file_status_and_rotation(echo_endpoint: tuple[str, str]) -> None:
    url, key = echo_endpoint
    from imageworks import paths

    assert stat.S_IMODE(os.stat(paths.openai_key_file()).st_mode) == 0o600
    printed = iw("daemon", "openai-key")
    assert printed.returncode == 0 and printed.stdout.strip() == key

    shown = iw("daemon", "status", "--json")
    assert json.loads(shown.stdout)["openai"]["url"] == url
    assert key not in shown.stdout  # status shows the endpoint, never its key

    for route in ("/models", "/chat/completions", "/no/such/route"):  # every route, not only the known ones
        for wrong in (None, "wrong"):
            code, body = raw_request(url + route, wrong, {})
            assert code == 401 and body["error"]["code"] == "invalid_api_key"
    assert raw_request(url + "/no/such/route", key, method="GET")[0] == 404

    rotated = iw("daemon", "openai-key", "--rotate")
    new_key = rotated.stdout.strip()
    assert rotated.returncode == 0 and new_key != key and apikey.read_key() == new_key
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=url, api_key=key, max_retries=0).models.list()
    assert openai.OpenAI(base_url=url, api_key=new_key, max_retries=0).models.list().data[0].id == ECHO


def test_bad_requests_are_400_413_404_with_reasons(echo_endpoint: tuple[str, str], tmp_path: Path) -> None:
    url, key = echo_endpoint
    client = openai.OpenAI(base_url=url, api_key=key, max_retries=0)

    answer = client.chat.completions.create(
        model=ECHO, messages=image_message("what", data_uri(Image.new("RGB", (8, 4), "blue"))), temperature=0
    )
    assert answer.choices[0].message.content == "echo: what [8x4 RGB]"

    broken = "data:image/png;base64," + __import__("base64").b64encode(b"\x89PNG\r\n\x1a\n not really").decode()
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=ECHO, messages=image_message("what", broken))
    assert "cannot decode image" in caught.value.message or "not an image" in caught.value.message

    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=ECHO, messages=image_message("what", "https://example.com/cat.jpg"))
    assert "fetches nothing" in caught.value.message

    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=ECHO,
            messages=[{"role": "user", "content": "hi"}],
            max_tokens="many",  # type: ignore[call-overload]  # not an int on purpose: the endpoint must refuse it
        )
    body = caught.value.body
    assert isinstance(body, dict) and body["param"] == "max_tokens"

    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=ECHO, messages=[{"role": "user", "content": "hi"}], n=2)

    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="another-model", messages=[{"role": "user", "content": "hi"}])
    body = missing.value.body
    assert isinstance(body, dict) and body["code"] == "model_mismatch"

    noise = Image.frombytes("RGB", (256, 256), os.urandom(256 * 256 * 3))  # ~200 kB as PNG: over the 64 kB cap
    code, body = raw_request(
        url + "/chat/completions", key, {"model": ECHO, "messages": image_message("what", data_uri(noise))}
    )
    assert code == 413 and "max_body_bytes" in body["error"]["message"]

    # unknown fields are ignored; a stop sequence cuts the answer
    cut = client.chat.completions.create(
        model=ECHO,
        messages=[{"role": "user", "content": "one two three"}],
        stop=[" two"],
        extra_body={"some_new_field": {"x": 1}},
    )
    assert cut.choices[0].message.content == "echo: one" and cut.choices[0].finish_reason == "stop"


def test_a_stop_sequence_ends_generation_at_its_step(echo_endpoint: tuple[str, str]) -> None:
    url, key = echo_endpoint
    client = openai.OpenAI(base_url=url, api_key=key, max_retries=0)
    long_prompt = " ".join(f"w{i}" for i in range(500))  # 500 words: 501 decoding steps if it ran to the end
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": long_prompt}]
    answer = client.chat.completions.create(model=ECHO, messages=messages, stop=[" w3"])
    assert answer.choices[0].message.content == "echo: w0 w1 w2" and answer.choices[0].finish_reason == "stop"
    assert usage_of(answer).completion_tokens == 5  # "echo:", w0..w3: it stopped at the step that held the stop

    chunks = list(
        client.chat.completions.create(
            model=ECHO, messages=messages, stop=[" w3"], stream=True, stream_options={"include_usage": True}
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: w0 w1 w2"
    assert usage_of(chunks[-1]).completion_tokens == 5


def test_disconnect_mid_stream_frees_the_slot(echo_endpoint: tuple[str, str]) -> None:
    url, key = echo_endpoint
    client = openai.OpenAI(base_url=url, api_key=key, max_retries=0)
    long_prompt = " ".join(f"w{i}" for i in range(500))  # 500 words at 20 ms: 10 s if it ran to the end
    stream = client.chat.completions.create(
        model=ECHO, messages=[{"role": "user", "content": long_prompt}], stream=True
    )
    words = ""
    for chunk in stream:
        words += chunk.choices[0].delta.content or ""
        if "w3" in words:
            break
    stream.close()  # the client goes away mid-stream
    wait_for(lambda: status().openai.cancelled == 1, timeout=10, what="the endpoint to see the disconnect")
    started = time.monotonic()
    short = client.chat.completions.create(model=ECHO, messages=[{"role": "user", "content": "next"}])
    assert short.choices[0].message.content == "echo: next"
    assert time.monotonic() - started < 5  # the dropped generation stopped: it did not hold the worker for 10 s


def test_a_full_batch_runs_at_once_without_waiting_out_the_queue_delay(start_daemon) -> None:
    # a 10 s queue delay: four concurrent requests fill a batch of four and must run at once, not 10 s later
    start_daemon(
        "echo",
        IMAGEWORKS_OPENAI_LISTEN="127.0.0.1:0",
        IMAGEWORKS_MODEL_BATCH_SIZE="4",
        IMAGEWORKS_OPENAI_MAX_QUEUE_DELAY_MS="10000",
    )
    from imageworks.client import Client

    with Client("test") as c:
        c.wait_model(timeout=30)
    url, key = endpoint()
    client = openai.OpenAI(base_url=url, api_key=key, max_retries=0, timeout=30)
    before = status().counters

    def ask(i: int) -> str:
        reply = client.chat.completions.create(model="echo", messages=[{"role": "user", "content": f"n{i}"}])
        return text_of(reply)

    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(ask, range(4)))
    assert time.monotonic() - started < 5  # the batch filled: it did not wait out the 10 s delay
    assert answers == [f"echo: n{i}" for i in range(4)]
    after = status().counters
    assert after.batches - before.batches == 1 and after.largest_batch == 4


def test_no_model_is_503_and_a_wide_bind_warns(start_daemon) -> None:
    start_daemon(None, IMAGEWORKS_OPENAI_LISTEN="0.0.0.0:0")
    url, key = endpoint()
    local = url.replace("0.0.0.0", "127.0.0.1")
    client = openai.OpenAI(base_url=local, api_key=key, max_retries=0)
    assert client.models.list().data == []
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="demo", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 503 and "never loads a model" in caught.value.message
    assert status().model.state == "none"  # and it did not load one
    from imageworks import paths

    assert "beyond this machine" in (paths.log_dir() / "daemon.log").read_text()
