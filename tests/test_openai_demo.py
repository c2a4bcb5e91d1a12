"""The OpenAI-compatible endpoint against the trained demo model, with the official `openai` SDK as the client:
models list, an image chat, streaming equal to non-streaming, parallel requests batched together, and requests
sharing batches with a running tag job without changing its results."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest

from imageworks.tagging import profiles
from tests.fixtures_models import models_cache, trained_model_dir  # noqa: F401
from tests.openai_support import data_uri, endpoint, extra_of, image_message, status, text_of, usage_of
from tests.test_tag_e2e import make_shapes

pytestmark = pytest.mark.slow


@pytest.fixture
def demo(start_daemon, models_cache, trained_model_dir):  # noqa: F811
    # the demo model by its name (built in the session's cache): /v1/models labels it
    start_daemon(IMAGEWORKS_MODELS_CACHE=str(models_cache), IMAGEWORKS_OPENAI_LISTEN="127.0.0.1:0")
    from imageworks.client import Client

    with Client("test") as c:
        c.load_model("")
        c.wait_model(timeout=120)
    url, key = endpoint()
    return openai.OpenAI(base_url=url, api_key=key, max_retries=0, timeout=120)


def red_circle() -> str:
    from imageworks.daemon.demo_model.train import draw

    return data_uri(draw("red", "circle", "white", size=(112, 112)))


def test_models_image_chat_streaming_and_parallel_batching(demo: openai.OpenAI) -> None:
    models = demo.models.list().data
    assert len(models) == 1
    assert extra_of(models[0])["label"].startswith("demo model")
    name = models[0].id

    messages = image_message(profiles.CAPTION.template, red_circle(), profiles.CAPTION.system)
    answer = demo.chat.completions.create(model=name, messages=messages, temperature=0, max_tokens=64)
    text = text_of(answer)
    assert "red" in text.lower(), text
    assert answer.choices[0].finish_reason == "stop"
    assert usage_of(answer).prompt_tokens > 0 and usage_of(answer).completion_tokens > 0

    chunks = list(
        demo.chat.completions.create(
            model=name,
            messages=messages,
            temperature=0,
            max_tokens=64,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == text
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1  # really streamed, not one piece
    assert usage_of(chunks[-1]).completion_tokens == usage_of(answer).completion_tokens

    # a stop sequence ends the generation where its text appears: fewer tokens, the text cut there
    words = text.split()
    assert len(words) >= 3, text
    stop = " " + words[2]
    stopped = demo.chat.completions.create(model=name, messages=messages, temperature=0, max_tokens=64, stop=[stop])
    assert stopped.choices[0].message.content == text[: text.find(stop)]
    assert stopped.choices[0].finish_reason == "stop"
    assert usage_of(stopped).completion_tokens < usage_of(answer).completion_tokens

    # eight parallel requests all answer, batched together (one daemon for both parts: its start is the cost)
    earlier = status()
    before = earlier.counters

    def ask(_: int) -> str:
        reply = demo.chat.completions.create(model=name, messages=messages, temperature=0, max_tokens=32)
        return text_of(reply)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, range(8)))
    assert all(answers) and len(set(answers)) == 1  # greedy: the same answer whatever the batch
    after = status()
    assert after.counters.inferences - before.inferences == 8  # the daemon's counters count them
    assert after.counters.batches - before.batches < 8
    assert after.counters.largest_batch >= 4
    assert after.openai.completions - earlier.openai.completions == 8
    assert after.openai.requests - earlier.openai.requests == 8


def run_tag_job(folder: Path, out: Path) -> dict[str, tuple]:
    proc = subprocess.run(
        [sys.executable, "-m", "imageworks", "tag", str(folder), "--write", "none", "--jsonl", str(out), "--json"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    return {row["image"]: (row["caption"], row["keywords"], row["description"]) for row in rows}


def test_requests_share_batches_with_a_running_tag_job(
    demo: openai.OpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGEWORKS_TAGGER_TEMPERATURE", "0")  # greedy: the job's results are reproducible
    make_shapes(tmp_path / "pics", n=8)
    alone = run_tag_job(tmp_path / "pics", tmp_path / "alone.jsonl")
    name = demo.models.list().data[0].id
    answers: list[str] = []
    job_done = threading.Event()

    def chat_while_the_job_runs() -> None:
        while not job_done.is_set():
            reply = demo.chat.completions.create(
                model=name, messages=[{"role": "user", "content": "a red circle"}], temperature=0, max_tokens=8
            )
            answers.append(text_of(reply))

    asker = threading.Thread(target=chat_while_the_job_runs)
    asker.start()
    try:
        shared = run_tag_job(tmp_path / "pics", tmp_path / "shared.jsonl")
    finally:
        job_done.set()
        asker.join(60)
    assert shared == alone  # the endpoint's requests changed nothing in the job's results
    assert answers and all(isinstance(a, str) for a in answers)
    st = status()
    assert st.counters.shared_batches >= 1  # endpoint requests rode in the job's batches
    assert st.openai.max_batches_behind <= 1  # and none waited more than one batch behind the job
