"""The library scan cache against `find` and the original ImageWorks' glob-per-extension method, on one generated tree.

Usage: python bench/scan.py [--files 100000] [--repeat 3] [--dir /tmp]

Builds a tree of small files (nested dirs; 80% image extensions in mixed case, 20% other files) in a temp dir,
runs every method on it in one process, and prints times and ratios side by side. "Cold" means no cache entry for
the root (a fresh DB); the page cache is warm for every method (the tree was just written and `find` runs first).
The walk/scan methods run in --repeat interleaved rounds (one of each per round, so the machine's changing load hits
all alike); each line shows the best and the median, and the ratios are of medians. "1 CPU" lines pin the process
(and `find`) to one CPU, as on a 1-CPU machine. The tree is deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imageworks.scan import ScanCache, ScanFilter
from imageworks.scan.walk import Walker, default_engine

T = TypeVar("T")
IMAGE_EXTS = ["jpg", "JPG", "jpeg", "png", "PNG", "tif", "webp", "nef", "CR2", "dng"]
OTHER_EXTS = ["txt", "xmp", "json", "mov", "MP4"]
# what the original did: one recursive glob per extension it knew (case-sensitive on Linux), then a stat each
ORIGINAL_PATTERNS = ["jpg", "jpeg", "png", "tif", "tiff", "webp", "JPG", "JPEG", "PNG", "TIF", "TIFF", "WEBP"]


def make_tree(root: Path, n_files: int, seed: int = 1) -> int:
    """``n_files`` files under year/month/day dirs (about 100 per leaf dir); returns how many are images."""
    rng = random.Random(seed)
    images = 0
    per_dir = 100
    for d in range((n_files + per_dir - 1) // per_dir):
        leaf = root / f"{2000 + d // 240}" / f"{d // 20 % 12 + 1:02d}" / f"day{d % 20:02d}"
        leaf.mkdir(parents=True, exist_ok=True)
        for i in range(min(per_dir, n_files - d * per_dir)):
            is_image = rng.random() < 0.8
            ext = rng.choice(IMAGE_EXTS if is_image else OTHER_EXTS)
            images += is_image
            (leaf / f"IMG_{d:04d}_{i:03d}.{ext}").write_bytes(b"x" * rng.randrange(0, 200))
    return images


def cpu_now() -> float:
    """CPU seconds of this process (all its threads) and of its finished children (find)."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def timed(fn: Callable[[], T], repeat: int, cpu: list[float] | None = None) -> tuple[float, float, T]:
    times: list[float] = []
    for _ in range(repeat):
        c0 = cpu_now()
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
        if cpu is not None:
            cpu.append(cpu_now() - c0)
    return min(times), statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where the tree and the DB go")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="iw-bench-scan-", dir=args.dir))
    root = work / "library"
    try:
        t0 = time.perf_counter()
        n_images = make_tree(root, args.files)
        print(f"tree: {args.files:,} files ({n_images:,} images) in {time.perf_counter() - t0:.1f} s under {root}")
        cpus, load = len(os.sched_getaffinity(0)), os.getloadavg()[0]
        print(f"cpus: {cpus}, load average {load:.2f} (other work on the machine), auto walker = {default_engine()}")

        def row(name: str, best: float, median: float, note: str = "") -> None:
            print(f"  {name:58s} {best * 1000:9.2f} ms  (median {median * 1000:.2f})  {note}", flush=True)

        find_stat_cmd = ["find", str(root), "-type", "f", "-printf", "%s %T@ %p\n"]
        subprocess.run(find_stat_cmd, capture_output=True, check=True)  # warm the page cache
        db = work / "scan.sqlite3"
        one_cpu = {min(os.sched_getaffinity(0))}

        def run_find(cmd: list[str]) -> Callable[[], tuple[float, str]]:
            def fn() -> tuple[float, str]:
                t0 = time.perf_counter()
                subprocess.run(cmd, capture_output=True, check=True)
                return time.perf_counter() - t0, ""

            return fn

        def original() -> tuple[float, str]:
            t0 = time.perf_counter()
            found = [p for ext in ORIGINAL_PATTERNS for p in root.glob(f"**/*.{ext}")]
            n = sum(1 for p in found if p.stat().st_size >= 0)
            return time.perf_counter() - t0, f"{n:,} files (no RAW)"

        def walk(engine: str) -> Callable[[], tuple[float, str]]:
            def fn() -> tuple[float, str]:
                t0 = time.perf_counter()
                n = sum(len(batch) for batch, _ in Walker(str(root), engine=engine).batches())
                return time.perf_counter() - t0, f"{n:,} images"

            return fn

        checkpoints: list[float] = []

        def cold(engine: str) -> Callable[[], tuple[float, str]]:
            def fn() -> tuple[float, str]:
                with ScanCache(db, walker=engine) as cache:
                    cache.clear()
                    seconds = cache.scan(root).seconds
                    t0 = time.perf_counter()
                    cache._con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # paid later: at close or a later commit
                    checkpoints.append(time.perf_counter() - t0)
                return seconds, ""

            return fn

        def pinned(fn: Callable[[], tuple[float, str]]) -> Callable[[], tuple[float, str]]:
            """``fn`` on one CPU (threads and children inherit it): a 1-CPU machine; the DB writer runs inline."""

            def pinned_fn() -> tuple[float, str]:
                allowed = os.sched_getaffinity(0)
                os.sched_setaffinity(0, one_cpu)
                try:
                    return fn()
                finally:
                    os.sched_setaffinity(0, allowed)

            return pinned_fn

        refresh_db = work / "refresh.sqlite3"
        with ScanCache(refresh_db) as cache:
            cache.scan(root)  # a cached listing (and its digests) for the refresh rounds

        def refresh_unchanged() -> tuple[float, str]:
            with ScanCache(refresh_db) as cache:
                result = cache.scan(root, refresh=True)
            assert result.added == result.removed == result.changed == 0
            return result.seconds, ""

        # every method once per round, rounds repeated: slow drifts in the machine's load hit all of them alike
        methods: dict[str, Callable[[], tuple[float, str]]] = {
            "find -type f (names only)": run_find(["find", str(root), "-type", "f"]),
            "find -type f -printf '%s %T@ %p' (path, size, mtime)": run_find(find_stat_cmd),
            "original: Path.glob('**/*.ext') per extension + stat": original,
            "walk only, python walker (no DB)": walk("python"),
            "walk only, rust walker (no DB)": walk("rust"),
            "walk only, python-loop walker (no DB)": walk("python-loop"),
            "cold scan, python walker (walk + write the DB)": cold("python"),
            "cold scan, rust walker (walk + write the DB)": cold("rust"),
            "cold scan, python-loop walker (walk + write the DB)": cold("python-loop"),
            "1 CPU: find -printf": pinned(run_find(find_stat_cmd)),
            "1 CPU: cold scan, python walker (writer inline)": pinned(cold("python")),
            "1 CPU: cold scan, python-loop walker (writer inline)": pinned(cold("python-loop")),
            f"refresh, nothing changed, {default_engine()} walker (walk + digests)": refresh_unchanged,
        }
        times: dict[str, list[float]] = {name: [] for name in methods}
        cpu: dict[str, list[float]] = {name: [] for name in methods}
        notes: dict[str, str] = {}
        for _ in range(args.repeat):
            for name, fn in methods.items():
                c0 = cpu_now()
                seconds, notes[name] = fn()
                cpu[name].append(cpu_now() - c0)
                times[name].append(seconds)
        med = {name: statistics.median(t) for name, t in times.items()}
        cpu_med = {name: statistics.median(t) for name, t in cpu.items()}
        for name, t in times.items():
            row(name, min(t), med[name], f"cpu {cpu_med[name] * 1000:.0f} ms  {notes[name]}")
        row(
            "WAL checkpoint after a cold scan (not in its time: see above)",
            min(checkpoints),
            statistics.median(checkpoints),
        )
        find_key = "find -type f -printf '%s %T@ %p' (path, size, mtime)"
        one_find, one_cold = "1 CPU: find -printf", "1 CPU: cold scan, python walker (writer inline)"
        one_loop = "1 CPU: cold scan, python-loop walker (writer inline)"
        find_med = med[find_key]
        orig_med = med["original: Path.glob('**/*.ext') per extension + stat"]
        engines = ("python", "rust", "python-loop")  # python: the C lister; python-loop: os.scandir, as before it
        colds = {e: med[f"cold scan, {e} walker (walk + write the DB)"] for e in engines}
        walks = {e: med[f"walk only, {e} walker (no DB)"] for e in engines}
        one_cpu_ratio = med[one_cold] / med[one_find]

        cache = ScanCache(db)  # the default walker from here on
        cache.clear()
        cold_default = colds[default_engine()]  # a median
        cache.scan(root)
        b, warm, _ = timed(lambda: cache.scan(root), args.repeat)
        row("warm: scan() again within the TTL (cached listing)", b, warm)
        cache.set_watched(root, True)  # what the daemon's watcher marks once the rows are kept current
        b, watched, _ = timed(lambda: cache.scan(root, refresh=True, trust_watch=True), args.repeat)
        row("refresh of a watched root (the daemon's watcher keeps it current)", b, watched)
        cache.set_watched(root, False)
        refresh_key = f"refresh, nothing changed, {default_engine()} walker (walk + digests)"
        refresh, refresh_cpu = med[refresh_key], cpu_med[refresh_key]
        cold_cpu = cpu_med[f"cold scan, {default_engine()} walker (walk + write the DB)"]

        changed = 0
        for i, path in enumerate(sorted(root.glob("2000/01/day0*/*"))):
            if i % 10 == 0:
                path.write_bytes(b"changed" * 3)
                changed += 1
        t0 = time.perf_counter()
        result = cache.scan(root, refresh=True)
        row("refresh after edits", time.perf_counter() - t0, time.perf_counter() - t0, f"{result.changed} changed")

        selective = ScanFilter(min_size=100, extensions=("jpg", "png"), name_glob="*_00?.*")
        broad = ScanFilter(min_size=20, extensions=("jpg", "png", "tif", "raw"))
        b, m, n = timed(lambda: cache.count(root, selective), args.repeat * 3)
        row("count(root, size+ext+name filter)", b, m, f"{n:,} match")
        b, m, n = timed(lambda: cache.count(root, broad), args.repeat * 3)
        row("count(root, size+ext filter)", b, m, f"{n:,} match")
        b, m, got = timed(lambda: cache.query(root, broad, limit=200), args.repeat * 3)
        row("query(root, size+ext filter, limit=200): a first page", b, m, f"{len(got)} rows")
        b, m, got = timed(lambda: cache.query(root, selective), args.repeat * 3)
        row("query(root, size+ext+name filter): every match", b, m, f"{len(got):,} rows")
        b, m, got = timed(lambda: cache.query(root, broad), args.repeat)
        row("query(root, size+ext filter): every match as FileEntry", b, m, f"{len(got):,} rows")

        cache._con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db_bytes = db.stat().st_size
        cache.close()

        default = default_engine()
        ckpt = statistics.median(checkpoints)
        ratios = [
            (f"cold scan ({default} walker) / find with size+mtime", f"{cold_default / find_med:.2f}x", "<= 1.5x"),
            *[(f"cold scan ({e} walker) / find", f"{colds[e] / find_med:.2f}x", "") for e in engines],
            ("cold scan + its WAL checkpoint / find", f"{(cold_default + ckpt) / find_med:.2f}x", ""),
            ("1 CPU: cold scan (python, writer inline) / find", f"{one_cpu_ratio:.2f}x", "<= 1.5x"),
            ("1 CPU: cold scan (python-loop) / find", f"{med[one_loop] / med[one_find]:.2f}x", ""),
            *[(f"walk only ({e} walker) / find", f"{walks[e] / find_med:.2f}x", "") for e in engines],
            (f"original / cold scan ({default} walker)", f"{orig_med / cold_default:.1f}x faster", ">= 4x"),
            ("warm (cached listing, within TTL) / cold", f"{warm / cold_default:.2%}", "<= 10%"),
            ("refresh of a watched root / cold", f"{watched / cold_default:.2%}", "<= 10%"),
            ("refresh with nothing changed (not watched) / cold", f"{refresh / cold_default:.0%}", "<= 100%"),
            ("  the same in CPU time", f"{refresh_cpu / cold_cpu:.0%}", ""),
            ("cold scan / find, CPU time", f"{cold_cpu / cpu_med[find_key]:.2f}x", ""),
            ("1 CPU: cold scan / find, CPU time", f"{cpu_med[one_cold] / cpu_med[one_find]:.2f}x", ""),
            ("DB size per 1k files", f"{db_bytes / n_images:.0f} kB ({db_bytes / 1e6:.1f} MB in all)", ""),
        ]
        print("\nratios (of medians):")
        for name, value, goal in ratios:
            print(f"  {name:52s} {value:24s} {'goal ' + goal if goal else ''}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
