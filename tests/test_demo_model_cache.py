"""The demo model's cache entry is built once however many workers ask for it at once: two real processes load
``demo`` from an empty cache together, one trains and the other waits, then both load that one build."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# A worker's model load, as a process worker runs it: the VLM backend loading ``demo``, its load progress printed
# as JSON lines. Training is cut to a token run (the race, not the fit, is under test); the process imports
# everything first, then loads when the test says go, so both processes find the cache empty at the same moment.
WORKER = """
import json, sys
from imageworks.daemon.backends.vlm import VLMBackend
from imageworks.daemon.demo_model import train
from imageworks.config import ModelConfig

train.RECIPE.update(steps=3, warmup=1, pool=130)
backend = VLMBackend(ModelConfig(name="demo"))
print(json.dumps({"ready": True}), flush=True)
sys.stdin.readline()
info = backend.load(lambda fraction, what: print(json.dumps({"fraction": fraction, "what": what}), flush=True))
print(json.dumps({"loaded": info["path"], "model_type": info["model_type"]}), flush=True)
"""


@pytest.mark.slow
def test_two_workers_on_an_empty_cache_train_the_demo_model_once_and_both_load_it(tmp_path: Path) -> None:
    env = {**os.environ, "IMAGEWORKS_MODELS_CACHE": str(tmp_path), "PYTHONPATH": str(ROOT)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        for _ in range(2)
    ]
    for worker in workers:
        assert worker.stdout is not None and worker.stdin is not None  # both are pipes
        assert json.loads(worker.stdout.readline()) == {"ready": True}
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    reports = []
    for worker in workers:
        out, _ = worker.communicate(timeout=240)
        assert worker.returncode == 0
        reports.append([json.loads(line) for line in out.splitlines()])
    said = [{r.get("what") for r in lines} for lines in reports]
    trainers = [s for s in said if "training the demo model (first run only)" in s]
    waiters = [s for s in said if "waiting for another worker to train the demo model" in s]
    assert len(trainers) == 1 and len(waiters) == 1, said
    loaded = {lines[-1]["loaded"] for lines in reports}
    assert len(loaded) == 1 and all(lines[-1]["model_type"] == "qwen2_5_vl" for lines in reports)
    assert [p.name for p in tmp_path.iterdir()] == [Path(loaded.pop()).name]  # no temp dir, no lock file left


def test_a_killed_builders_temp_dir_is_removed_by_the_next_build(tmp_path: Path, monkeypatch) -> None:
    from imageworks.daemon.demo_model.build import demo_model_path, recipe_hash

    monkeypatch.setenv("IMAGEWORKS_MODELS_CACHE", str(tmp_path))
    half_built = tmp_path / f".tiny-qwen2_5_vl-untrained-{recipe_hash(False)}.x1y2z3"
    half_built.mkdir()
    (half_built / "tokenizer.json").write_text("{}")  # what a builder killed mid-way leaves
    built = demo_model_path(trained=False)
    assert (built / "config.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == [built.name]
