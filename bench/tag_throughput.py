"""Tagging throughput end to end through the daemon, against the backend's raw throughput on the same work.

Usage: python bench/tag_throughput.py [--model DIR|demo] [--images 32] [--batch-sizes 1,4,8] [--threads 1]

For each prompt profile and batch size, the same images go through:
  raw     the tag job's own item logic (imageworks.tagging.job) driving VLMBackend.generate in this process, with
          the runner's batching (rounds of every active item, chunked by batch size): model time + parsing only;
  daemon  `job.submit` to a real daemon (worker subprocess, journal, events), timed from submit to the last result.
The overhead column is 1 - daemon/raw images/s: what the daemon, IPC, journal and pipeline cost. Goal < 5 % on GPU.
With the default tiny demo model on CPU the model is so fast that fixed per-batch costs loom larger than they would
on a real model; the GPU run uses --model with a real checkpoint.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

from bench_env import isolated_xdg

if TYPE_CHECKING:
    from imageworks.jobs.base import ItemTask


def setup_env(threads: int) -> Path:
    root = isolated_xdg("iwtag-", OMP_NUM_THREADS=str(threads))
    os.environ.setdefault("IMAGEWORKS_MODELS_CACHE", str(Path.home() / ".cache" / "imageworks-bench-models"))
    return root


def make_images(folder: Path, n: int) -> list[dict]:
    import random

    from imageworks.daemon.demo_model.train import draw, sample_attributes

    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(1)
    items = []
    for i in range(n):
        path = folder / f"{i:04d}.jpg"
        draw(*sample_attributes(rng), size=(112, 112), rng=rng).save(path, quality=92)
        st = path.stat()
        items.append({"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    return items


def run_raw(backend, kind, items: list[dict], params: dict, batch_size: int, info: dict) -> float:
    """The runner's batching, in process: returns seconds for all items."""
    start = time.perf_counter()
    pending = deque(items)
    active: list[ItemTask] = []
    plan = kind.prepare(params, info)
    while pending or active:
        while pending and len(active) < batch_size * 2:
            active.append(kind.make_task(pending.popleft(), plan))
        requests, owners = [], []
        for task in active:
            reqs = task.next_requests()
            owners.append((task, len(reqs)))
            requests.extend(reqs)
        results = []
        for i in range(0, len(requests), batch_size):
            results.extend(backend.generate(requests[i : i + batch_size]))
        offset = 0
        for task, count in owners:
            if count:
                task.feed(results[offset : offset + count])
            offset += count
        for task in active:
            if task.done:
                task.record()
        active = [t for t in active if not t.done]
    return time.perf_counter() - start


def run_daemon(items: list[dict], params: dict, batch_size: int) -> float:
    from imageworks import protocol as P
    from imageworks.client import Client

    with Client("bench") as c:
        start = time.perf_counter()
        job = c.submit("tag", items, params, batch_size=batch_size).job
        for event in c.follow(job.job_id, resync_s=0.2):
            if isinstance(event, P.JobInfo) and event.state in P.FINAL_STATES:
                break
        took = time.perf_counter() - start
        final = c.attach(job.job_id).job
        assert final.state == "done" and final.done + final.failed == len(items), final
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="demo", help="checkpoint dir, or demo (the trained tiny model)")
    ap.add_argument("--images", type=int, default=48)
    ap.add_argument("--batch-sizes", default="1,4,8")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (both sides the same)")
    args = ap.parse_args()
    root = setup_env(args.threads)

    from imageworks import client, config
    from imageworks.daemon.backends.vlm import VLMBackend
    from imageworks.daemon.demo_model.build import demo_model_path
    from imageworks.jobs import kinds
    from imageworks.tagging.job import params_from_config

    model_dir = str(demo_model_path(trained=True)) if args.model == "demo" else args.model
    items = make_images(root / "pics", args.images)
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    kind = kinds.get("tag")

    backend = VLMBackend(config.ModelConfig(name=model_dir, batch_size=max(batch_sizes)))
    info = backend.load()
    daemon = subprocess.Popen(
        [sys.executable, "-m", "imageworks", "daemon", "start", "--foreground", "--model", model_dir],
        env={**os.environ, "IMAGEWORKS_MODEL_BATCH_SIZE": str(max(batch_sizes))},  # jobs may ask up to the model's
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while client.daemon_alive(0.5) is None:
            time.sleep(0.05)
        with client.Client("bench") as c:
            c.wait_model(timeout=300)
        print(
            f"model {info['name']} ({info['parameters']:,} params, {info['device']}), {args.images} images, "
            f"torch threads {args.threads}; raw = same item logic in-process, daemon = job through the daemon"
        )
        print(f"{'profile':12} {'batch':>5} {'raw img/s':>10} {'daemon img/s':>13} {'daemon/raw':>11} {'overhead':>9}")
        for profile in ("three-step", "single-pass"):
            params = kind.validate(items, params_from_config(config.load().tagger, profile=profile))
            run_raw(backend, kind, items[: max(batch_sizes)], params, max(batch_sizes), info)  # warm-up
            for bs in batch_sizes:
                raw = run_raw(backend, kind, items, params, bs, info)
                via = run_daemon(items, params, bs)
                r, d = args.images / raw, args.images / via
                print(f"{profile:12} {bs:5d} {r:10.2f} {d:13.2f} {d / r:10.2f}x {1 - d / r:8.1%}")
        with client.Client("bench") as c:
            c.shutdown()
    finally:
        daemon.wait(20)


if __name__ == "__main__":
    main()
