"""Scale-out: a tag job over 1 vs N model workers, local processes and Ray actors; and what one batch costs to
send to a Ray actor against a local worker process.

Usage: python bench/ray_scale.py [--model DIR|demo] [--images 48] [--workers 1,2] [--batch-size 4] [--calls 200]

1. Per-batch overhead (the echo backend: no model time): the median round trip of one batch of 1 and of 8
   requests through a local worker process (``daemon.workers.process``) and through a Ray actor
   (``daemon.workers.ray``) on a local Ray; the difference is what Ray adds per batch (goal < 5 ms).
2. Throughput: the same tag job (single-pass profile, greedy) through a real daemon with ``--workers N`` local
   processes and with ``--ray ADDRESS --workers N`` actors, timed from submit to the last result; the ratio is
   N workers' images/s over one worker's. Each worker gets ``--threads`` torch threads (Ray gives an actor
   reserving one CPU one thread), so on a 2-core machine 2 workers can at best double one.
On a GPU box, pass ``--model`` a full-size checkpoint (random weights will do) and ``--workers 1,<GPUs>``: each
actor then reserves one GPU.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tag_throughput import make_images, run_daemon, setup_env


async def round_trips(worker, batch: int, calls: int) -> float:
    """Median ms of one ``generate`` of ``batch`` requests, after the worker loaded and one warm-up call."""
    from imageworks.inference import GenRequest

    await asyncio.wait_for(worker.loaded, 120)
    requests = [GenRequest(prompt=f"p{i}") for i in range(batch)]
    await worker.generate(requests)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        await worker.generate(requests)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


async def overhead(calls: int) -> None:
    from imageworks.config import ClusterConfig, ModelConfig
    from imageworks.daemon.workers import ray as ray_workers
    from imageworks.daemon.workers.process import WorkerHandle

    loop = asyncio.get_running_loop()
    echo = ModelConfig(name="echo:delay=0")
    local = WorkerHandle(echo, loop)
    actor = ray_workers.RayWorker(echo, ClusterConfig(ray="local"), loop, worker_id=f"bench-{ray_workers.new_token()}")
    print(f"per-batch round trip, echo backend, median of {calls} calls (ms)")
    print(f"{'batch':>5} {'process':>8} {'ray actor':>10} {'ray adds':>9}")
    try:
        for batch in (1, 8):
            p = await round_trips(local, batch, calls)
            r = await round_trips(actor, batch, calls)
            print(f"{batch:5d} {p:8.2f} {r:10.2f} {r - p:9.2f}")
    finally:
        await local.stop()
        await actor.stop()


def throughput(model_dir: str, items: list[dict], workers: list[int], batch_size: int, address: str) -> None:
    from imageworks import client, config
    from imageworks.jobs import kinds
    from imageworks.tagging.job import params_from_config

    tagger = config.load().tagger
    params = kinds.get("tag").validate(items, params_from_config(tagger, profile="single-pass", temperature=0.0))
    print(f"\ntag job, single-pass, {len(items)} images, batch size {batch_size} (images/s; ratio to 1 worker)")
    print(f"{'workers':>7} {'processes':>10} {'ratio':>6} {'ray actors':>11} {'ratio':>6}")
    base: dict[str, float] = {}
    for n in workers:
        row = []
        for label, ray in (("processes", ""), ("ray", address)):
            env = {
                **os.environ,
                "IMAGEWORKS_CLUSTER_WORKERS": str(n),
                "IMAGEWORKS_CLUSTER_RAY": ray,
                "IMAGEWORKS_MODEL_BATCH_SIZE": str(batch_size),  # a job may ask up to the model's batch size
            }
            daemon = subprocess.Popen(
                [sys.executable, "-m", "imageworks", "daemon", "start", "--foreground", "--model", model_dir],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                while client.daemon_alive(0.5) is None:
                    time.sleep(0.05)
                with client.Client("bench") as c:
                    c.wait_model(timeout=300)
                run_daemon(items[: batch_size * n], params, batch_size)  # warm-up: every worker once
                rate = len(items) / run_daemon(items, params, batch_size)
                with client.Client("bench") as c:
                    c.shutdown()
            finally:
                daemon.wait(30)
            base.setdefault(label, rate)
            row.append(f"{rate:10.2f} {rate / base[label]:5.2f}x")
        print(f"{n:7d} {row[0]:>17} {row[1]:>18}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="demo", help="checkpoint dir, or demo (the trained tiny model)")
    ap.add_argument("--images", type=int, default=48)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--calls", type=int, default=200, help="round trips per overhead figure")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads per local worker process")
    args = ap.parse_args()
    root = setup_env(args.threads)

    import ray

    from imageworks.daemon.demo_model.build import demo_model_path

    model_dir = str(demo_model_path(trained=True)) if args.model == "demo" else args.model
    items = make_images(root / "pics", args.images)
    # one Ray for both parts: the overhead part joins it as a driver, the daemons as drivers of their own
    ray.init(include_dashboard=False, namespace="imageworks", log_to_driver=False)
    try:
        asyncio.run(overhead(args.calls))
        address = ray.get_runtime_context().gcs_address
        throughput(model_dir, items, [int(n) for n in args.workers.split(",")], args.batch_size, address)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
