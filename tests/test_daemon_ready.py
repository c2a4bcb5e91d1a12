"""Ready means ready: `imageworks daemon start --model M` returns once the model serves (as `vllm serve` opens its
port only when loaded), `--no-wait` returns at once, and while the model loads `/v1/models` lists it with its state
and a chat request for it waits for the load instead of answering 503. Real detached daemons, the official openai
SDK as the client."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import openai
import pytest

from tests.openai_support import endpoint, extra_of

CLI = [sys.executable, "-m", "imageworks"]
# the echo backend "loads" for load_delay seconds, reporting progress in load_steps steps
SLOW_LOAD = "echo:load_delay=4,load_steps=8"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture
def detached() -> Iterator[None]:
    """Stops the detached daemon the test started (`daemon start` without --foreground outlives the command)."""
    yield
    cli("daemon", "stop", "--timeout", "20")


def sdk() -> openai.OpenAI:
    url, key = endpoint()
    return openai.OpenAI(base_url=url, api_key=key, max_retries=0, timeout=60)


def test_start_with_a_model_returns_once_it_serves(detached: None) -> None:
    started = time.monotonic()
    done = cli("daemon", "start", "--model", SLOW_LOAD, "--openai", "127.0.0.1:0", "--json")
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started >= 4  # it waited out the load
    reply = json.loads(done.stdout)
    assert reply["started"] is True and reply["model"]["state"] == "loaded" and reply["model"]["name"] == SLOW_LOAD
    client = sdk()
    models = client.models.list().data
    assert [(m.id, extra_of(m)["state"]) for m in models] == [(SLOW_LOAD, "loaded")]
    answer = client.chat.completions.create(model=SLOW_LOAD, messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == "echo: hi"  # no 503 window for a client that waited for start


def test_plain_start_says_when_the_model_serves(detached: None) -> None:
    done = cli("daemon", "start", "--model", "echo")
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert first.startswith("daemon started (pid ") and first.endswith("; loading the model…")
    assert second.startswith("model echo serves (")


def test_no_wait_returns_while_loading_and_the_endpoint_lists_the_model_loading(detached: None) -> None:
    done = cli("daemon", "start", "--model", SLOW_LOAD, "--openai", "127.0.0.1:0", "--no-wait", "--json")
    assert done.returncode == 0, done.stderr
    assert "model" not in json.loads(done.stdout)
    client = sdk()
    listed = client.models.list().data
    assert len(listed) == 1 and listed[0].id == SLOW_LOAD
    extra = extra_of(listed[0])
    if extra["state"] == "loading":  # else this machine took over 4 s to get here: the rest still holds
        assert set(extra) >= {"progress", "message"}
    # a request sent while the model loads waits for it and is answered, not refused with 503
    answer = client.chat.completions.create(model=SLOW_LOAD, messages=[{"role": "user", "content": "early"}])
    assert answer.choices[0].message.content == "echo: early"
    assert [extra_of(m)["state"] for m in client.models.list().data] == ["loaded"]


def test_a_load_that_fails_exits_1_naming_the_error_and_the_daemon_stays(detached: None, tmp_path) -> None:
    missing = str(tmp_path / "no-such-model")
    done = cli("daemon", "start", "--model", missing)
    assert done.returncode == 1
    line = done.stderr.strip()
    assert len(line.splitlines()) == 1, line
    assert "the daemon runs (pid" in line and "does not serve" in line and "no-such-model" in line
    status = cli("daemon", "status", "--json")
    assert status.returncode == 0 and json.loads(status.stdout)["model"]["state"] == "failed"
