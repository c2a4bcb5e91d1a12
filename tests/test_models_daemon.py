"""Model load/unload/switch through the daemon with the real transformers path and tiny checkpoints."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from imageworks.client import Client
from tests.waiting import wait_for


def iw(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "imageworks", *args], capture_output=True, text=True, timeout=240)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rsplit(")", 1)[1].split()[0] == "Z"


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))


def test_load_unload_switch_frees_the_worker(start_daemon, tiny_model_dir, trained_model_dir):
    start_daemon()
    out = iw("models", "load", str(tiny_model_dir), "--json")
    assert out.returncode == 0, out.stderr
    state = json.loads(out.stdout)
    assert state["state"] == "loaded" and state["info"]["model_type"] == "qwen2_5_vl"
    first = state["worker_pid"]
    assert rss_kb(first) > 50_000  # torch + the model live in the worker

    # load of another model while one is loaded: refused, explicit switch needed
    refused = iw("models", "load", str(trained_model_dir))
    assert refused.returncode == 1 and "model_mismatch" in refused.stderr

    switched = json.loads(iw("models", "switch", str(trained_model_dir), "--json").stdout)
    assert switched["state"] == "loaded" and switched["worker_pid"] != first
    wait_for(lambda: gone(first), timeout=5, what="the old worker to exit")  # its memory is gone with its process

    unloaded = json.loads(iw("models", "unload", "--json").stdout)
    assert unloaded["state"] == "none"
    wait_for(lambda: gone(switched["worker_pid"]), timeout=5, what="the worker to exit on unload")
    with Client("t") as c:
        assert c.status().counters.model_loads == 2


def test_loading_a_missing_model_fails_clearly(start_daemon, tmp_path):
    start_daemon()
    out = iw("models", "load", str(tmp_path / "nope"))
    assert out.returncode == 1
    assert out.stderr.startswith("error:") and "Traceback" not in out.stderr
    with Client("t") as c:
        assert c.ping().boot_id  # daemon fine
        assert c.status().model.state == "failed"
