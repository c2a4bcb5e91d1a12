"""Model slots and load progress through a real daemon (echo backend): two slots loaded at once and independent,
progress pushed to clients as model events, and ``model.backend`` chosen by config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import zmq

from imageworks import client
from imageworks import protocol as P
from imageworks.client import Client
from imageworks.errors import DaemonError
from tests.waiting import wait_for


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rsplit(")", 1)[1].split()[0] != "Z"


def slots(c: Client) -> dict[str, P.ModelState]:
    return c.status().slots


def test_the_cli_loads_a_model_into_the_embed_slot(start_daemon) -> None:
    """`imageworks models load --slot embed NAME` (it once failed at once, importing a module since renamed)."""
    start_daemon(IMAGEWORKS_MODEL_NAME="echo")
    done = subprocess.run(
        [sys.executable, "-m", "imageworks", "models", "load", "--slot", "embed", "echo:delay=0", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    reply = json.loads(done.stdout)
    assert reply["slot"] == "embed" and reply["state"] == "loaded" and reply["name"] == "echo:delay=0"
    with Client("t") as c:
        assert slots(c)["embed"].loaded and not slots(c)["vlm"].loaded  # the vlm slot is left as it was


def test_vlm_and_embed_slots_load_together_and_unload_apart(start_daemon):
    start_daemon(IMAGEWORKS_MODEL_NAME="echo")
    with Client("t") as c:
        c.load_model(wait=True)
        embed = c.load_model("echo:delay=0", slot="embed")
        assert embed.slot == "embed" and embed.state in ("loading", "loaded")
        assert c.wait_model(30, slot="embed").loaded
        both = slots(c)
        vlm_pid, embed_pid = both["vlm"].worker_pid, both["embed"].worker_pid
        assert both["vlm"].loaded and vlm_pid != embed_pid and pid_alive(vlm_pid) and pid_alive(embed_pid)
        assert both["vlm"].workers[0].pid == vlm_pid and c.status().model.name == "echo"

        # another model in a loaded slot is refused, as for the vlm slot
        with pytest.raises(DaemonError, match="model_mismatch"):
            c.load_model("echo:delay=1", slot="embed")

        gone = c.unload_model(slot="embed")
        assert gone.slot == "embed" and gone.state == "none"
        wait_for(lambda: not pid_alive(embed_pid), timeout=5, what="the embed worker to exit")
        after = slots(c)
        assert after["vlm"].loaded and after["vlm"].worker_pid == vlm_pid and pid_alive(vlm_pid)
        assert c.status().counters.model_loads == 2


def model_events(sub: zmq.Socket, signer: P.Signer, until: float) -> list[P.ModelState]:
    """Model events published on the daemon topic until the vlm slot is loaded (or the deadline)."""
    seen: list[P.ModelState] = []
    while time.monotonic() < until:
        if not sub.poll(100):
            continue
        frames = sub.recv_multipart()
        msg = P.decode(signer, frames[1:], allowed=P.EVENT_TYPES)
        if isinstance(msg.body, P.ModelEvent):
            seen.append(msg.body.model)
            if msg.body.model.state == "loaded":
                break
    return seen


def test_load_progress_reaches_clients_as_model_events(start_daemon):
    start_daemon()
    info = client.read_connection()
    assert info is not None
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    try:
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.SUBSCRIBE, P.DAEMON_TOPIC)
        sub.connect(info["events"])
        signer = P.Signer(info["key"].encode())
        with Client("t") as c:
            # a PUB/SUB join takes a moment: publish (an unload of nothing) until our subscription sees it
            wait_for(lambda: c.unload_model() and sub.poll(100), what="the subscription to join")
            while sub.poll(0):
                sub.recv_multipart()
            c.load_model("echo:load_delay=1.2,load_steps=6")
            events = model_events(sub, signer, time.monotonic() + 20)
    finally:
        sub.close(0)
        ctx.term()
    progress = [e for e in events if e.state == "loading" and e.progress >= 0]
    assert len(progress) >= 2, events
    assert [e.progress for e in progress] == sorted(e.progress for e in progress)
    assert progress[-1].progress > progress[0].progress
    assert all(e.message.startswith("loading the echo backend… ") and e.message.endswith("%") for e in progress)
    final = events[-1]
    assert final.state == "loaded" and final.progress == -1.0 and final.message == "" and final.slot == "vlm"


def test_model_backend_from_config_selects_echo(start_daemon, xdg):
    (xdg["config"] / "imageworks").mkdir(exist_ok=True)
    (xdg["config"] / "imageworks" / "config.toml").write_text('[model]\nbackend = "echo"\n')
    start_daemon()
    with Client("t") as c:
        state = c.load_model(wait=True, timeout=30)  # no name configured: the demo model, served by echo
        assert state.name == "demo" and state.info["revision"] == "builtin" and state.demo
        job = c.submit("echo", [{"text": "hi"}]).job
        done = wait_for(lambda: (j := c.attach(job.job_id).job).state == "done" and j, what="the job to finish")
        assert done.done == 1 and done.failed == 0


def test_an_unknown_backend_fails_the_load_naming_the_known_ones(start_daemon):
    start_daemon(IMAGEWORKS_MODEL_BACKEND="onnx")
    with Client("t") as c:
        c.load_model("some-model")
        state = wait_for(lambda: (m := c.status().model).state == "failed" and m, what="the load to fail")
        assert "'onnx' is not a backend" in state.error and "transformers, echo" in state.error
