"""CPU job kinds in the daemon: cold hashing of N photos in the daemon's pool against the old in-client process pool,
and daemon ping latency while a similarity job and a tag job run at once. One run, side by side.

Usage: python bench/cpu_jobs.py [--photos 1200] [--pings 1500]

Starts a real daemon (echo backend with a per-request delay, so a tag job keeps the model's runner and the journal
busy) under temporary XDG dirs. Hashing: three copies of the same N JPEGs (so no cache helps): the old way
(``hash_files`` over a forkserver ProcessPoolExecutor started for the call, as ``imageworks similar`` and the TUI did
in the client), a ``similar`` job in the daemon with its pool not started yet (cold: the first CPU job), and one with
the pool already running (warm). Latency: ping p50/p99 idle, then while a 100 000-item tag job and a ``similar`` job
over another N photos run at the same time (paced every 5 ms, for as long as both run).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bench_env import foreground_daemon, isolated_xdg

if TYPE_CHECKING:
    from imageworks import protocol as P
    from imageworks.client import Client


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def make_photos(folder: Path, n: int) -> None:
    from PIL import Image

    folder.mkdir(parents=True)
    for i in range(n):  # noise compresses badly: a JPEG of ~100 kB, decoded as a camera JPEG would be (draft mode)
        Image.frombytes("RGB", (640, 480), os.urandom(640 * 480 * 3)).save(folder / f"p{i:05d}.jpg", quality=85)


def pings(c: object, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        c.ping()  # type: ignore[attr-defined]
        out.append((time.perf_counter() - t0) * 1000)
    return out


def paced(c: object, n: int) -> list[float]:
    """``n`` pings 5 ms apart, as a TUI and a few CLIs would ask."""
    out = []
    for _ in range(n):
        out.extend(pings(c, 1))
        time.sleep(0.005)  # ok-sleep: the pace of the pings, not a wait on work
    return out


def similar_params_for(folder: Path) -> dict:
    from imageworks import config
    from imageworks.similarity.jobs import similar_params

    return similar_params(str(folder), settings=config.SimilarityConfig())


def run_similar(c: Client, folder: Path) -> tuple[float, P.JobInfo]:
    """Submit a similar job and follow it to its end: (seconds, its final JobInfo)."""
    from imageworks import protocol as P

    t0 = time.perf_counter()
    job = c.submit("similar", [], similar_params_for(folder)).job
    final = job
    for event in c.follow(job.job_id):
        if isinstance(event, P.JobInfo):
            final = event
    return time.perf_counter() - t0, final


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=1200)
    ap.add_argument("--pings", type=int, default=1500)
    args = ap.parse_args()

    root = isolated_xdg("iwc-", IMAGEWORKS_MODEL_NAME="echo:delay=0.002")
    base = root / "photos"
    make_photos(base / "a", args.photos)
    for name in ("b", "c", "d"):
        shutil.copytree(base / "a", base / name)

    from imageworks import client
    from imageworks.similarity.hashing import hash_files

    paths = sorted(str(p) for p in (base / "a").iterdir())
    t0 = time.perf_counter()
    hash_files(paths)  # the old way: a forkserver pool started in the client for this call
    in_client = time.perf_counter() - t0

    with foreground_daemon():
        c = client.Client("bench")
        cold, cold_job = run_similar(c, base / "b")
        warm, warm_job = run_similar(c, base / "c")
        pool = c.status().cpu
        c.load_model(wait=True)
        idle = pings(c, args.pings)
        tag = c.submit("echo", [{"text": f"x{i}"} for i in range(100_000)], batch_size=8).job
        tag_only = paced(c, args.pings)
        job = c.submit("similar", [], similar_params_for(base / "d")).job
        both: list[float] = []
        while len(both) < 20 * args.pings:  # paced pings for as long as both run (the whole hashing, not a moment)
            status = c.status()
            if tag.job_id != status.running_job or job.job_id not in status.cpu.running_jobs:
                break  # only pings taken while both ran count
            both.extend(paced(c, 20))
        hashed_meanwhile = c.attach(job.job_id).job.done
        tag_done = c.attach(tag.job_id).job.done
        c.cancel(tag.job_id)
        c.cancel(job.job_id)
        c.shutdown()
        c.close()

    print(f"cold hashing of {args.photos} JPEGs (640x480), {pool.size} CPU workers, cores here: {os.cpu_count()}")
    print(f"{'way':44} {'seconds':>8} {'photos/s':>9}")
    for label, seconds in (
        ("in-client forkserver pool (old similar/TUI)", in_client),
        ("daemon similar job, pool cold (first job)", cold),
        ("daemon similar job, pool warm", warm),
    ):
        print(f"{label:44} {seconds:8.2f} {args.photos / seconds:9.0f}")
    print(f"ratio daemon cold / in-client: {cold / in_client:.2f}x; daemon warm / in-client: {warm / in_client:.2f}x")
    print(f"(jobs hashed {cold_job.done} and {warm_job.done} items, state {cold_job.state}/{warm_job.state})")
    print()
    print(
        f"daemon ping round-trip over ipc (ms); while both ran: {tag_done} tag items, {hashed_meanwhile} photos hashed"
    )
    print(f"{'case':44} {'n':>6} {'p50':>7} {'p99':>7} {'max':>7}")
    for label, vals in (
        ("idle", idle),
        ("tag job running (paced)", tag_only),
        ("tag + similar job at once (paced)", both),
    ):
        if vals:
            p50, p99 = statistics.median(vals), percentile(vals, 0.99)
            print(f"{label:44} {len(vals):6d} {p50:7.3f} {p99:7.3f} {max(vals):7.3f}")
    if both:
        both_p99 = percentile(both, 0.99)
        print(f"ratio p99 both/idle: {both_p99 / percentile(idle, 0.99):.2f}x", end="; ")
        print(f"both/tag only: {both_p99 / percentile(tag_only, 0.99):.2f}x")


if __name__ == "__main__":
    main()
