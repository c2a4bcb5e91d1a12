"""Feeding the model: what a tag job costs with 24 Mpx photos against the same photos at 600x400, through a real
daemon and the trained demo model (its own time is small, as a GPU's would be), measured side by side in one run.

    python bench/pipeline.py [--photos 16] [--runs 2] [--batch-size 8] [--cpus all,1] [--threads 1] [--files DIR]

For each CPU set (``all``; ``1`` runs the daemon under ``taskset -c 0``) and each feed setting (``on``: the image
feed as configured; ``off``: ``model.input_cache_mb = 0``, so nothing is kept or decoded ahead and every round
decodes its photo again, as before the feed), one daemon is started and, for the three-step and single-pass
profiles, a job over the small photos and one over the 24 Mpx ones runs ``--runs`` times (the best counts). Printed
per row: both job times, their ratio (goal <= 1.3 with the feed on), decodes per photo (goal 1) and the share of
the model's busy time it spent waiting for its inputs (goal < 10 %), from the worker's counters in `daemon status`.

``--threads`` sets the model's torch threads (OMP_NUM_THREADS): on a machine whose CPUs other work also uses,
OpenMP's spinning threads make the model 15-20x slower with 2 than with 1 (measured here).

RAW: the time from a 24 Mpx DNG (pidng, 6000x4000 mosaic) to the model's input at the default pixel cap, from its
embedded 1620x1080 JPEG preview, from a half-size demosaic (no preview) and from a full-size demosaic.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from bench_env import isolated_xdg  # noqa: E402

SMALL = (600, 400)
LARGE = (6000, 4000)
SHAPES = [("red", "circle", "white"), ("blue", "square", "yellow"), ("green", "triangle", "black")]


def make_photos(folder: Path, n: int, size: tuple[int, int]) -> list[Path]:
    """The demo model's shapes with sensor-like noise (so a 24 Mpx JPEG weighs ~5.5 MB, as a camera's does)."""
    import numpy as np

    from imageworks.daemon.demo_model.train import draw

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    paths = []
    for i in range(n):
        path = folder / f"{i:03d}-{size[0]}x{size[1]}.jpg"
        if not path.exists():
            colour, shape, background = SHAPES[i % len(SHAPES)]
            picture = np.asarray(draw(colour, shape, background, size), dtype=np.float32)
            noisy = np.clip(picture + rng.normal(0, 7, picture.shape), 0, 255).astype(np.uint8)
            from PIL import Image

            Image.fromarray(noisy).save(path, quality=90)
        paths.append(path)
    return paths


def items_of(paths: list[Path]) -> list[dict]:
    return [{"path": str(p), "size": p.stat().st_size, "mtime_ns": p.stat().st_mtime_ns} for p in paths]


class Daemon:
    def __init__(self, model_dir: str, *, one_cpu: bool, feed: bool, batch_size: int) -> None:
        from imageworks import client

        env = {**os.environ, "IMAGEWORKS_MODEL_BATCH_SIZE": str(batch_size)}
        if not feed:
            env["IMAGEWORKS_MODEL_INPUT_CACHE_MB"] = "0"
        command = [sys.executable, "-m", "imageworks", "daemon", "start", "--foreground", "--model", model_dir]
        if one_cpu:
            command = ["taskset", "-c", "0", *command]  # the worker it spawns inherits the affinity
        self.proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while client.daemon_alive(0.5) is None:
            if self.proc.poll() is not None:
                raise SystemExit("the daemon exited at start")
            time.sleep(0.05)
        with client.Client("bench") as c:
            c.wait_model(timeout=600)

    def stop(self) -> None:
        from imageworks import client

        with client.Client("bench") as c:
            c.shutdown()
        self.proc.wait(30)


def feed_of(c):
    return c.status().slots["vlm"].feed


def run_job(items: list[dict], profile: str) -> tuple[float, float, float, float]:
    """(seconds from submit to the last result, decodes, input wait s, busy s) of one tag job."""
    from imageworks import protocol as P
    from imageworks.client import Client

    with Client("bench") as c:
        before = feed_of(c)
        start = time.perf_counter()
        job = c.submit("tag", items, {"profile": profile}).job
        for event in c.follow(job.job_id, resync_s=0.2):
            if isinstance(event, P.JobInfo) and event.state in P.FINAL_STATES:
                break
        took = time.perf_counter() - start
        final = c.attach(job.job_id).job
        assert final.state == "done" and final.done + final.failed == len(items), final
        after = feed_of(c)
    return (
        took,
        after.decodes - before.decodes,
        after.input_wait_s - before.input_wait_s,
        after.busy_s - before.busy_s,
    )


def best_of(runs: int, items: list[dict], profile: str) -> tuple[float, float, float]:
    """Best job time of ``runs``, and that run's decodes per photo and input-wait share."""
    outcomes = [run_job(items, profile) for _ in range(runs)]
    took, decodes, wait, busy = min(outcomes)
    return took, decodes / len(items), wait / busy if busy else 0.0


def jobs(model_dir: str, small: list[dict], large: list[dict], args: argparse.Namespace) -> None:
    print(
        f"\n{len(small)} photos, batch size {args.batch_size}, best of {args.runs}; small = {SMALL[0]}x{SMALL[1]}, "
        f"24 Mpx = {LARGE[0]}x{LARGE[1]} (~{statistics.mean(i['size'] for i in large) / 1e6:.1f} MB each)"
    )
    print(
        "| CPUs | feed | profile | small job | 24 Mpx job | ratio | decodes/photo (24 Mpx) "
        "| input wait: small, 24 Mpx |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for cpus in args.cpus.split(","):
        for feed in (True, False):
            daemon = Daemon(model_dir, one_cpu=cpus == "1", feed=feed, batch_size=args.batch_size)
            try:
                run_job(small[:4], "single-pass")  # warm-up: the worker's first batches
                for profile in ("three-step", "single-pass"):
                    s_took, _, s_wait = best_of(args.runs, small, profile)
                    l_took, l_decodes, l_wait = best_of(args.runs, large, profile)
                    print(
                        f"| {cpus} | {'on' if feed else 'off'} | {profile} | {s_took:.2f} s | {l_took:.2f} s | "
                        f"{l_took / s_took:.2f}x | {l_decodes:.2f} | {s_wait:.0%}, {l_wait:.0%} |",
                        flush=True,
                    )
            finally:
                daemon.stop()


def raw_inputs(folder: Path) -> None:
    """Time to the model's input for a 24 Mpx DNG: embedded preview vs half-size vs full demosaic."""
    import rawpy
    from PIL import Image

    from imageworks.config import ModelConfig
    from imageworks.daemon.backends.images import open_image
    from imageworks.daemon.demo_model.train import draw
    from tests.raw_files import write_dng

    cap = ModelConfig().max_pixels
    scene = draw("red", "circle", "white", LARGE)
    preview = draw("red", "circle", "white", (1620, 1080))
    with_preview = folder / "24mp-preview.dng"
    mosaic_only = folder / "24mp-mosaic.dng"
    if not with_preview.exists():
        write_dng(with_preview, scene, preview=preview)
        write_dng(mosaic_only, scene)

    def timed(work) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            work()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    def full_demosaic() -> None:
        with rawpy.imread(str(mosaic_only)) as raw:
            rgb = raw.postprocess(use_camera_wb=True, output_bps=8)
        Image.fromarray(rgb).thumbnail((1097, 731))

    preview_s = timed(lambda: open_image(str(with_preview), cap))
    half_s = timed(lambda: open_image(str(mosaic_only), cap))
    full_s = timed(full_demosaic)
    size = with_preview.stat().st_size / 1e6
    print(f"\nRAW: a 24 Mpx DNG ({size:.0f} MB, 16-bit mosaic) to the model's input at {cap:,} pixels (median of 3)")
    print("| from | seconds | vs preview |")
    print("|---|---:|---:|")
    for label, seconds in (
        ("embedded 1620x1080 JPEG preview", preview_s),
        ("half-size demosaic (no preview)", half_s),
        ("full-size demosaic", full_s),
    ):
        print(f"| {label} | {seconds:.3f} | {seconds / preview_s:.1f}x |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=16)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--cpus", default="all,1", help="CPU sets: all, 1 (taskset -c 0), comma-separated")
    ap.add_argument("--files", type=Path, default=Path("/tmp/iw-bench-pipeline"), help="photos, made once")
    ap.add_argument("--threads", type=int, default=1, help="the model's torch threads (OMP_NUM_THREADS)")
    ap.add_argument("--no-jobs", action="store_true", help="only the RAW timings")
    args = ap.parse_args()
    isolated_xdg("iwpipe-", OMP_NUM_THREADS=str(args.threads))
    os.environ.setdefault("IMAGEWORKS_MODELS_CACHE", str(Path.home() / ".cache" / "imageworks-bench-models"))

    from imageworks.daemon.demo_model.build import demo_model_path

    small = items_of(make_photos(args.files / "small", args.photos, SMALL))
    large = items_of(make_photos(args.files / "large", args.photos, LARGE))
    print(
        f"CPUs this process may use: {len(os.sched_getaffinity(0))}; load average {os.getloadavg()[0]:.1f}; "
        f"model threads {args.threads}",
        flush=True,
    )
    if not args.no_jobs:
        jobs(str(demo_model_path(trained=True)), small, large, args)
    raw_inputs(args.files)


if __name__ == "__main__":
    main()
