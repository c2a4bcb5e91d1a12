"""First results on a fresh install: `imageworks tag DIR` of 8 images under brand-new XDG dirs (no daemon, no models
cache, no config), timed from the command's start to its exit, as a new user's first run.

Usage: python bench/first_results.py [--images 8] [--rounds 3] [--with-training]

Each round gets fresh XDG dirs, runs `imageworks tag DIR --json` (which starts the daemon, which loads the demo
model that ships built), then `imageworks daemon start --model demo` in other fresh dirs (start until the model
serves). --with-training also times what a first run cost before the demo model shipped: training it
(`imageworks models build-tiny OUT --trained`, the same recipe, in fresh dirs) plus the same tag run. The goal:
results of 8 images within 15 s of a fresh install's first `imageworks tag`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_env import isolated_xdg

CLI = [sys.executable, "-m", "imageworks"]


def make_images(folder: Path, n: int) -> None:
    from imageworks.daemon.demo_model.train import draw, sample_attributes

    folder.mkdir(parents=True)
    rng = random.Random(7)
    for i in range(n):
        draw(*sample_attributes(rng), size=(640, 480), rng=rng).save(folder / f"{i:02d}.jpg", quality=90)


def fresh(prefix: str) -> Path:
    """New XDG dirs in this process's environment (inherited by the commands run), and no IMAGEWORKS_ settings."""
    for key in [k for k in os.environ if k.startswith("IMAGEWORKS_")]:
        del os.environ[key]
    return isolated_xdg(prefix)


def timed(cmd: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[2:])} failed ({proc.returncode}): {proc.stderr.strip()[-400:]}")
    return seconds, proc.stdout


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and its live descendants (the daemon and its model worker)."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    spent: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
            spent[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    tree, todo = set(), [pid]
    while todo:
        current = todo.pop()
        tree.add(current)
        todo += [child for child, parent in parents.items() if parent == current and child not in tree]
    return sum(spent.get(p, 0.0) for p in tree)


def daemon_pid() -> int:
    from imageworks import client

    return int((client.read_connection() or {})["pid"])


def stop_daemon() -> None:
    subprocess.run([*CLI, "daemon", "stop", "--timeout", "30"], capture_output=True, check=False)


def tag_round(images: Path) -> tuple[float, float, int]:
    """Wall seconds of `imageworks tag`, CPU seconds it cost (the command, the daemon, the model worker), images
    tagged."""
    import resource

    root = fresh("iwfirst-")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        seconds, out = timed([*CLI, "tag", str(images), "--json"])
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime + tree_cpu_seconds(daemon_pid())
        job = json.loads(out.splitlines()[-1])["job"]  # the last line is the result (progress lines come before)
        tagged = job["done"] - job["failed"]
    finally:
        stop_daemon()
        shutil.rmtree(root, ignore_errors=True)
    return seconds, cpu, tagged


def start_round() -> float:
    root = fresh("iwfirst-")
    try:
        seconds, _ = timed([*CLI, "daemon", "start", "--model", "demo", "--json"])
    finally:
        stop_daemon()
        shutil.rmtree(root, ignore_errors=True)
    return seconds


def training_round() -> float:
    root = fresh("iwfirst-")
    try:
        seconds, _ = timed([*CLI, "models", "build-tiny", str(root / "trained"), "--trained", "--json"])
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--with-training", action="store_true", help="also time the first run as it was: train, then tag")
    args = ap.parse_args()

    work = Path(fresh("iwfirst-images-"))
    images = work / "photos"
    make_images(images, args.images)
    print(f"cpus: {len(os.sched_getaffinity(0))}, load average {os.getloadavg()[0]:.2f} (other work on the machine)")
    tags: list[float] = []
    cpus: list[float] = []
    starts: list[float] = []
    for _ in range(args.rounds):  # interleaved, so the machine's drifting load hits both alike
        seconds, cpu, tagged = tag_round(images)
        if tagged != args.images:
            raise SystemExit(f"tagged {tagged} of {args.images} images")
        tags.append(seconds)
        cpus.append(cpu)
        starts.append(start_round())
    print(f"{'measurement':58} {'median':>8} {'best':>8}")
    rows = [
        (f"fresh install: imageworks tag DIR ({args.images} images), to exit", tags),
        ("  CPU it cost: the command + the daemon + its model worker", cpus),
        ("fresh install: daemon start --model demo, until it serves", starts),
    ]
    for label, values in rows:
        print(f"{label:58} {statistics.median(values):7.1f}s {min(values):7.1f}s")
    if args.with_training:
        train = training_round()
        print(f"{'before it shipped: training the demo model first':58} {train:7.1f}s")
        print(f"{'before it shipped: training + the same tag run':58} {train + statistics.median(tags):7.1f}s")
    print(f"goal: results within 15 s: {'met' if statistics.median(tags) <= 15 else 'MISSED'}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
