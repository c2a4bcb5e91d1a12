"""`imageworks similar` against a plain imagehash loop, and the neighbour searches against naive all-pairs.

Usage: python bench/similar.py [--n 3000] [--hashes 100000] [--vectors 100000] [--dim 768] [--subset 10000]
                               [--dir /tmp] [--embed-n 300] [--embedding-model DIR] [--ann-vectors 100000]

1. Files: N camera-size JPEGs (1600×1200, random crops of scikit-image's sample photos; generated once and kept in
   --dir for later runs). Each method runs as its own process, so start-up is included: a plain
   ``imagehash.phash(Image.open(p))`` loop; `imageworks similar DIR --json` cold (fresh cache dir: scan, hash, search,
   group); the same again with another --threshold (re-grouped from stored neighbours); imagededup's
   ``PHash().find_duplicates`` when it is installed. The page cache is warm for all (the files were just written or
   read).
2. Embeddings: the first --embed-n of those files through `imageworks similar --method embedding` with a daemon of
   its own (fresh XDG dirs; --embedding-model, default a tiny CLIP built here): cold (daemon start, model load into
   the embed slot, embedding, search), again with another threshold (stored neighbours), again below the stored
   floor (a new search from cached vectors), and `--method both`; the daemon's ``embed_requests`` counter after each.
3. Search: --hashes synthetic 64-bit hashes and --vectors random --dim float16 unit vectors (10 % near-copies planted
   in each), searched and grouped at 0.82 in this process; time and peak traced memory (tracemalloc) against a naive
   all-pairs run (one dense N×N matrix, as imagededup and dupeGuru do) on a --subset, extrapolated by (N/subset)².
4. ANN: --ann-vectors planted --dim vectors searched by the approximate index (forced below ``ANN_ABOVE``) and by the
   blocked exact search: time, peak traced memory, and the index's recall of the exact pairs at 0.82.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imageworks.similarity import Bands, group
from imageworks.similarity.hamming import hash_neighbours
from imageworks.similarity.neighbours import Neighbours
from imageworks.similarity.vectors import normalise, vector_neighbours

T = TypeVar("T")
SAMPLES = ("astronaut", "chelsea", "coffee", "camera", "rocket", "coins", "moon", "page", "horse", "logo")
THRESHOLD = 0.82
TOP_K = 10


def _make_photo(args: tuple[int, str]) -> None:
    """One distinct 1600×1200 JPEG: a random crop (half to all of a sample) scaled up, tinted per file."""
    from PIL import Image
    from skimage import data

    index, out = args
    rng = np.random.default_rng(index)
    base = Image.fromarray(getattr(data, SAMPLES[index % len(SAMPLES)])()).convert("RGB")
    w, h = base.size
    cw, ch = int(w * rng.uniform(0.5, 1.0)), int(h * rng.uniform(0.5, 1.0))
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    tint = Image.new("RGB", (1600, 1200), tuple(int(v) for v in rng.integers(0, 256, 3)))
    img = Image.blend(base.crop((x, y, x + cw, y + ch)).resize((1600, 1200)), tint, 0.15)
    img.save(out, quality=90)


def make_photos(folder: Path, n: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [str(folder / f"IMG_{i:05d}.jpg") for i in range(n)]
    missing = [(i, p) for i, p in enumerate(paths) if not os.path.exists(p)]
    if missing:
        print(f"generating {len(missing)} 1600x1200 JPEGs in {folder} (kept for the next run)", file=sys.stderr)
        with ProcessPoolExecutor() as pool:
            list(pool.map(_make_photo, missing, chunksize=16))
    return paths


def timed_process(args: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[:4])}... failed: {done.stderr[-2000:]}")
    return seconds, done.stdout


PLAIN_LOOP = """
import os, sys, imagehash
from PIL import Image
folder = sys.argv[1]
for name in sorted(os.listdir(folder)):
    imagehash.phash(Image.open(os.path.join(folder, name)))
"""
IMAGEDEDUP = """
import sys
from imagededup.methods import PHash
PHash(verbose=False).find_duplicates(image_dir=sys.argv[1], max_distance_threshold=11)
"""


def bench_files(n: int, base_dir: Path) -> None:
    folder = base_dir / f"iw-bench-similar-{n}"
    make_photos(folder, n)
    root = Path(__file__).resolve().parents[1]
    env = {"PYTHONPATH": str(root)}
    with tempfile.TemporaryDirectory(prefix="iw-bench-cache-") as cache:
        xdg = {**env, "XDG_CACHE_HOME": cache}
        plain, _ = timed_process([sys.executable, "-c", PLAIN_LOOP, str(folder)], env)
        cmd = [sys.executable, "-m", "imageworks", "similar", str(folder), "--json"]
        cold, out = timed_process(cmd, xdg)
        cold_result = json.loads(out)
        rerun, out = timed_process([*cmd, "--threshold", "0.9"], xdg)
        rerun_result = json.loads(out)
    print(f"files: {n} JPEGs 1600x1200, {os.cpu_count()} CPUs (process start-up included)")
    print(f"  plain imagehash.phash(Image.open(p)) loop  {plain:7.2f} s  {n / plain:7.0f} img/s")
    print(
        f"  imageworks similar, cold                   {cold:7.2f} s  {n / cold:7.0f} img/s  "
        f"{plain / cold:.1f}x faster (goal >= 4x); hashed {cold_result['hashed']}, "
        f"{len(cold_result['groups'])} groups"
    )
    print(
        f"  imageworks similar --threshold 0.9, again  {rerun:7.2f} s  {100 * rerun / cold:.1f} % of cold "
        f"(goal <= 10 %); hashed {rerun_result['hashed']}, searched {rerun_result['searched']}"
    )
    if importlib.util.find_spec("imagededup") is None:
        print("  imagededup PHash().find_duplicates         not installed (skipped)")
    else:
        dedup, _ = timed_process([sys.executable, "-c", IMAGEDEDUP, str(folder)])
        print(f"  imagededup PHash().find_duplicates         {dedup:7.2f} s  {dedup / cold:.1f}x our cold run")


def embedding_env(cache_root: Path, model: str) -> dict[str, str]:
    dirs = {name: cache_root / name for name in ("runtime", "cache", "state", "config")}
    for path in dirs.values():
        path.mkdir(mode=0o700, parents=True)
    return {
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        "XDG_RUNTIME_DIR": str(dirs["runtime"]),
        "XDG_CACHE_HOME": str(dirs["cache"]),
        "XDG_STATE_HOME": str(dirs["state"]),
        "XDG_CONFIG_HOME": str(dirs["config"]),
        "IMAGEWORKS_MODEL_NAME": "echo",
        "IMAGEWORKS_SIMILARITY_EMBEDDING_MODEL": model,
    }


def bench_embeddings(n: int, base_dir: Path, model: str | None) -> None:
    source = make_photos(base_dir / f"iw-bench-similar-{n}", n)
    folder = base_dir / f"iw-bench-embed-{n}"
    folder.mkdir(exist_ok=True)
    for path in source:  # the scan skips symlinks: hard links (same files, no copies)
        target = folder / Path(path).name
        if not target.exists():
            os.link(path, target)
    with tempfile.TemporaryDirectory(prefix="iw-bench-embed-", dir="/tmp") as root:
        if model is None:
            model = str(Path(root) / "tiny-clip")
            code = {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}
            timed_process([sys.executable, "-m", "imageworks.daemon.demo_model.embedding", model], code)
        env = embedding_env(Path(root) / "xdg", model)
        cmd = [sys.executable, "-m", "imageworks", "similar", str(folder), "--json", "--method", "embedding"]

        def requests() -> int:
            status = timed_process([sys.executable, "-m", "imageworks", "daemon", "status", "--json"], env)[1]
            return json.loads(status)["counters"]["embed_requests"]

        try:
            rows = []
            for label, extra in (
                ("cold (daemon start, model load, embed)", []),
                ("--threshold 0.9 (stored neighbours)", ["--threshold", "0.9"]),
                ("--threshold 0.7 (new search, cached)", ["--threshold", "0.7"]),
                ("--method both (hashes + cached vectors)", ["--method", "both"]),
            ):
                seconds, out = timed_process([*cmd, *extra], env)
                result = json.loads(out)
                rows.append((label, seconds, result["embedded"], requests()))
        finally:
            subprocess.run(
                [sys.executable, "-m", "imageworks", "daemon", "stop"], env={**os.environ, **env}, check=False
            )
    cold = rows[0][1]
    print(f"embeddings: {n} JPEGs 1600x1200, model {model} (process start-up included)")
    for label, seconds, embedded, count in rows:
        share = "" if seconds is cold else f"  {100 * seconds / cold:5.1f} % of cold"
        print(f"  {label:42s} {seconds:7.2f} s  embedded {embedded:5d}  embed_requests {count:3d}{share}")


def measured(run: Callable[[], T]) -> tuple[float, float, T]:
    """(seconds, peak MB of traced allocations, result)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    start = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return seconds, peak, result


def planted_hashes(n: int, rng: np.random.Generator) -> np.ndarray:
    hashes = rng.integers(0, np.iinfo(np.uint64).max, size=(n, 1), dtype=np.uint64, endpoint=True)
    copies = rng.choice(n, size=n // 10, replace=False)
    flips = rng.integers(0, 64, size=(n // 10, 4)).astype(np.uint64)
    noise = np.bitwise_or.reduce(np.uint64(1) << flips, axis=1)
    hashes[copies, 0] = hashes[rng.choice(n, size=n // 10), 0] ^ noise
    return hashes


def planted_vectors(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    copies = rng.choice(n, size=n // 10, replace=False)
    vectors[copies] = vectors[rng.choice(n, size=n // 10)] + rng.normal(scale=0.2, size=(n // 10, dim))
    return normalise(vectors).astype(np.float16)


def naive_hash_pairs(hashes: np.ndarray) -> Neighbours:
    dist = np.bitwise_count(hashes[:, 0][:, None] ^ hashes[:, 0][None, :])
    a, b = np.nonzero(np.triu(dist <= int((1 - THRESHOLD) * 64), k=1))
    return Neighbours.from_pairs(a, b, 1 - dist[a, b] / 64, TOP_K)


def naive_vector_pairs(vectors: np.ndarray) -> Neighbours:
    v = vectors.astype(np.float32)
    scores = v @ v.T
    np.fill_diagonal(scores, -np.inf)
    best = np.argpartition(scores, -TOP_K, axis=1)[:, -TOP_K:]
    a = np.repeat(np.arange(len(v)), TOP_K)
    s = scores[a, best.ravel()]
    keep = s >= THRESHOLD
    return Neighbours.from_pairs(a[keep], best.ravel()[keep], s[keep], TOP_K)


def bench_search(label: str, data: np.ndarray, ours: Callable[[np.ndarray], Neighbours], naive, subset: int) -> None:
    n = len(data)
    paths = [str(i) for i in range(n)]

    def grouped(pairs_of: Callable[[np.ndarray], Neighbours], rows: np.ndarray) -> int:
        return len(group(paths[: len(rows)], pairs_of(rows), THRESHOLD, Bands(), {}))  # no quality: ranked by path

    t, mem, groups = measured(lambda: grouped(ours, data))
    t_small, mem_small, _ = measured(lambda: grouped(ours, data[:subset]))
    t_naive, mem_naive, _ = measured(lambda: grouped(naive, data[:subset]))
    scale = (n / subset) ** 2
    print(f"{label}: {n} searched and grouped at {THRESHOLD}: {t:.2f} s, peak {mem:.0f} MB, {groups} groups")
    print(
        f"  on {subset}: ours {t_small:.2f} s / {mem_small:.0f} MB; naive all-pairs {t_naive:.2f} s / "
        f"{mem_naive:.0f} MB -> extrapolated to {n}: {t_naive * scale:.0f} s / {mem_naive * scale / 1e3:.1f} GB, "
        f"{t_naive * scale / t:.0f}x our time, {mem_naive * scale / max(mem, 1):.0f}x our memory"
    )


def bench_ann(n: int, dim: int, rng: np.random.Generator) -> None:
    vectors = planted_vectors(n, dim, rng)
    t_exact, mem_exact, exact = measured(lambda: vector_neighbours(vectors, None, THRESHOLD, TOP_K))
    t_ann, mem_ann, ann = measured(lambda: vector_neighbours(vectors, None, THRESHOLD, TOP_K, ann_above=0))
    exact_pairs = set(zip(exact.a.tolist(), exact.b.tolist(), strict=True))
    ann_pairs = set(zip(ann.a.tolist(), ann.b.tolist(), strict=True))
    recall = len(exact_pairs & ann_pairs) / max(len(exact_pairs), 1)
    print(f"ANN ({dim}-d float16, usearch HNSW): {n} searched at {THRESHOLD}, {os.cpu_count()} CPUs")
    print(f"  blocked exact  {t_exact:7.2f} s  peak {mem_exact:5.0f} MB  {len(exact_pairs)} pairs")
    print(
        f"  ANN index      {t_ann:7.2f} s  peak {mem_ann:5.0f} MB  {len(ann_pairs)} pairs, recall {recall:.4f}, "
        f"{t_exact / t_ann:.1f}x the exact speed"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=3000, help="camera-size JPEGs (0 = skip the file benchmark)")
    parser.add_argument("--hashes", type=int, default=100_000)
    parser.add_argument("--vectors", type=int, default=100_000, help="0 = skip")
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--subset", type=int, default=10_000, help="size of the naive all-pairs run")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--embed-n", type=int, default=300, help="files for the embedding rows (0 = skip)")
    parser.add_argument("--embedding-model", default=None, help="a CLIP/SigLIP checkpoint (default: a tiny CLIP)")
    parser.add_argument("--ann-vectors", type=int, default=100_000, help="ANN against exact (0 = skip)")
    args = parser.parse_args()
    if args.n:
        bench_files(args.n, args.dir)
    if args.embed_n:
        bench_embeddings(args.embed_n, args.dir, args.embedding_model)
    rng = np.random.default_rng(0)
    subset = min(args.subset, args.hashes)
    bench_search(
        "hashes (64-bit)",
        planted_hashes(args.hashes, rng),
        lambda h: hash_neighbours(h, None, 64, THRESHOLD, TOP_K),
        naive_hash_pairs,
        subset,
    )
    if args.vectors:
        bench_search(
            f"vectors ({args.dim}-d float16)",
            planted_vectors(args.vectors, args.dim, rng),
            lambda v: vector_neighbours(v, None, THRESHOLD, TOP_K),
            naive_vector_pairs,
            min(args.subset, args.vectors),
        )
    if args.ann_vectors:
        bench_ann(args.ann_vectors, args.dim, rng)


if __name__ == "__main__":
    main()
