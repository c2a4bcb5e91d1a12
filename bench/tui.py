"""TUI benchmarks: first paint vs a minimal Textual app, Results with 50 000 vs 100 rows, key -> repaint latency,
memory with 50 000 rows.

Usage: python bench/tui.py [--runs 7] [--rows 50000] [--against OTHER_CHECKOUT]

- First paint: each app is started in a pseudo-terminal (80x24) under temporary XDG dirs, and timed from spawn
  until its first frame holds a marker (the header text); the two are started alternately, median of --runs.
  `imageworks tui --no-start` finds no daemon (none is running), so nothing waits on one. With --against, another
  checkout's `imageworks tui` (e.g. `git worktree add /tmp/before main`) runs in the same rounds: a side-by-side
  figure that a busy machine skews alike for both.
- Results: an app holding N rows in its store (as if streamed from a job) opens that job's results (what enter in
  Jobs does; the Results mode itself is the review, timed by bench/review_tui.py); timed until the screen has
  painted the table. Pilot's own press-and-pause cost is the same for both sizes.
- Key -> repaint: the table's cursor-down action plus painting every visible line (what the compositor asks of the
  widget after a key), timed in-process, 100 vs N rows; also filter and sort over all rows.
- Memory: RSS of the process before and after building and showing N rows.
- With --live (bench/tui_live.py): idle CPU, CPU while following a job, and mode switches after the first visit, in a
  pty against a real daemon (echo backend); with --against, the other checkout in alternate rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# this file is bench/tui.py: keep `import tui` meaning the package, not this script
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

MINIMAL_APP = """
from textual.app import App
from textual.widgets import Footer, Header

class Minimal(App):
    TITLE = "MINIMALAPP"
    def compose(self):
        yield Header()
        yield Footer()

Minimal().run()
"""


APP_ONLY = """
from imageworks.tui.app import ImageWorksApp
ImageWorksApp(autostart_daemon=False).run()
"""


def isolated_env() -> dict[str, str]:
    base = Path(tempfile.mkdtemp(prefix="iwb-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEWORKS_")}
    for name in ("runtime", "cache", "state", "config"):
        (base / name).mkdir(mode=0o700)
    env.update(
        XDG_RUNTIME_DIR=str(base / "runtime"),
        XDG_CACHE_HOME=str(base / "cache"),
        XDG_STATE_HOME=str(base / "state"),
        XDG_CONFIG_HOME=str(base / "config"),
        TERM="xterm-256color",
    )
    env.pop("COLORTERM", None)  # as over SSH
    return env


def time_to_paint(
    cmd: list[str], marker: bytes, env: dict[str, str], timeout: float = 20.0, then: bytes = b"", cwd: Path = ROOT
) -> float:
    """Seconds from spawn until ``marker`` appears on the pty (the first frame that holds it); with ``then``, the
    seconds until that appears as well (stored in ``time_to_paint.then``)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, start_new_session=True)
    os.close(slave)
    seen = b""
    first = None
    try:
        while time.perf_counter() - start < timeout:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                seen += chunk
                if marker in seen and first is None:
                    first = time.perf_counter() - start
                    time_to_paint.cpu = process_cpu(proc.pid)  # type: ignore[attr-defined]
                if first is not None and (not then or then in seen):
                    time_to_paint.then = time.perf_counter() - start  # type: ignore[attr-defined]
                    return first
        raise RuntimeError(f"{cmd}: no {marker!r} within {timeout} s; got {seen[-300:]!r}")
    finally:
        proc.kill()
        proc.wait(5)
        os.close(master)


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used: on a loaded machine a steadier measure than the wall clock."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_first_paint(runs: int, against: Path | None = None) -> dict[str, float]:
    env = isolated_env()
    minimal = [sys.executable, "-c", MINIMAL_APP]
    ours = [sys.executable, "-m", "imageworks", "tui", "--no-start"]
    app_only = [sys.executable, "-c", APP_ONLY]
    times: dict[str, list[float]] = {"minimal": [], "imageworks tui": [], "tui.app alone": [], "form ready": []}
    other_env = dict(env, PYTHONPATH=str(against)) if against else env
    if against:
        times.update({"--against tui": [], "--against form": []})
        time_to_paint(ours, b"ImageWorks", other_env, cwd=against)
    time_to_paint(minimal, b"MINIMALAPP", env)  # warm the file cache for all
    time_to_paint(ours, b"ImageWorks", env)
    time_to_paint(app_only, b"ImageWorks", env)
    cpu: dict[str, list[float]] = {}

    def paint(name: str, *args: object, **kwargs: object) -> float:
        wall = time_to_paint(*args, **kwargs)  # type: ignore[arg-type]
        cpu.setdefault(f"CPU: {name}", []).append(time_to_paint.cpu)  # type: ignore[attr-defined]
        return wall

    for _ in range(runs):
        times["minimal"].append(paint("minimal", minimal, b"MINIMALAPP", env))
        times["imageworks tui"].append(paint("imageworks tui", ours, b"ImageWorks", env, then=b"Metadata"))
        times["form ready"].append(time_to_paint.then)  # type: ignore[attr-defined]
        times["tui.app alone"].append(paint("tui.app alone", app_only, b"ImageWorks", env))
        if against:
            wall = paint("--against tui", ours, b"ImageWorks", other_env, then=b"Metadata", cwd=against)
            times["--against tui"].append(wall)
            times["--against form"].append(time_to_paint.then)  # type: ignore[attr-defined]
    return {k: statistics.median(v) for k, v in {**times, **cpu}.items()}


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def fake_results(n: int, job_id: str) -> list:
    import msgspec

    from imageworks import protocol as P
    from imageworks.jobs.records import TagRecord

    words = ["red door", "harbour", "cat", "mountain lake", "bicycle", "market", "bridge", "snow"]
    out = []
    for i in range(n):
        kws = [{"keyword": words[(i + k) % len(words)], "score": 0.9} for k in range(8)]
        record = {
            "status": "ok",
            "error": None,
            "path": f"/photos/2024/{i // 1000:03d}/IMG_{i:06d}.jpg",
            "caption": f"A {words[i % 8]} seen from the {words[(i * 7) % 8]} in the afternoon light.",
            "keywords": kws,
            "description": "A quiet scene with soft light and a few people in the distance. " * 2,
            "notes": [],
        }
        typed = msgspec.convert(record, TagRecord)
        out.append(P.ResultRecord(job_id=job_id, index=i, seq=i + 1, status="ok", record=typed,
                                  item={"path": record["path"], "size": 1000, "mtime_ns": 0}))  # fmt: skip
    return out


async def bench_results(n: int) -> dict[str, float]:
    from imageworks import config as iw_config
    from imageworks.tui.app import ImageWorksApp
    from imageworks.tui.screens.job_results import JobResultsScreen
    from imageworks.tui.widgets import preview
    from imageworks.tui.widgets.job_results_table import ResultsTable

    preview.prepare("off")  # time the table, not image decoding
    job_id = f"20250101-000000-{n:08d}"
    rss0 = rss_mb()
    records = fake_results(n, job_id)
    app = ImageWorksApp(iw_config.Config(), autostart_daemon=False, heartbeat_s=None, connect=False)
    store = app.services.store  # tui.store is imported on first use: time the rows, not the import
    t0 = time.perf_counter()
    store.get(job_id).add(records)
    build = time.perf_counter() - t0
    del records
    out: dict[str, float] = {"rows": n, "build rows (at arrival)": build}
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.results_job = job_id
        await pilot.press("4")
        t0 = time.perf_counter()
        await app.push_screen(JobResultsScreen())
        await pilot.pause()
        table = app.screen.query_one("#table", ResultsTable)
        assert len(table.order) == n, (len(table.order), n)
        out["open a job's results (-> painted)"] = time.perf_counter() - t0
        # key -> repaint: the widget's work per key press (cursor move + paint every visible line)
        height = table.size.height
        samples = []
        for i in range(200):
            t0 = time.perf_counter()
            table.action_cursor_down() if i < 100 else table.action_cursor_up()
            for y in range(height):
                table.render_line(y)
            samples.append(time.perf_counter() - t0)
        out["key -> repaint, widget work (median)"] = statistics.median(samples)
        jump = []
        for _ in range(20):
            t0 = time.perf_counter()
            table.action_last()
            table._lines.clear()
            for y in range(height):
                table.render_line(y)
            table.action_first()
            jump.append(time.perf_counter() - t0)
        out["end/home + full repaint (median)"] = statistics.median(jump)
        presses = []
        for key in ["down"] * 10 + ["up"] * 10:
            t0 = time.perf_counter()
            await pilot.press(key)
            presses.append(time.perf_counter() - t0)
        out["pilot press (harness included, median)"] = statistics.median(presses)
        t0 = time.perf_counter()
        table.set_filter("img_0049")
        out["filter keystroke over all rows"] = time.perf_counter() - t0
        out["rows after filter"] = len(table.order)
        table.set_filter("")
        t0 = time.perf_counter()
        table.set_sort("caption")
        out["sort by caption"] = time.perf_counter() - t0
        out["RSS MB before rows"] = rss0
        out["RSS MB with rows shown"] = rss_mb()
    return out


def run_results_in_subprocess(n: int) -> dict[str, float]:
    """Each size in a fresh process, so memory and caches do not leak from one into the other."""
    env = isolated_env()
    out = subprocess.run(
        [sys.executable, __file__, "--results-only", str(n)], capture_output=True, text=True, env=env, cwd=ROOT
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    import json

    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--against", type=Path, help="another checkout whose first paint runs in the same rounds")
    parser.add_argument("--results-only", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--live", action="store_true", help="only the live figures (idle, following a job, switches)")
    parser.add_argument("--live-rounds", type=int, default=2)
    parser.add_argument("--images", type=int, default=300, help="the followed job's images (--live)")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU measured (--live)")
    parser.add_argument("--switches", type=int, default=20, help="mode switches timed (--live)")
    args = parser.parse_args()
    if args.results_only:
        import json

        print(json.dumps(asyncio.run(bench_results(args.results_only))))
        return
    if args.live:
        live(args)
        return
    paint = bench_first_paint(args.runs, args.against.resolve() if args.against else None)
    ratio = paint["imageworks tui"] / paint["minimal"]
    print(f"first paint, median of {args.runs} (pty 80x24, no COLORTERM):")
    for name, value in paint.items():
        print(f"  {name:16} {value * 1000:7.0f} ms")
    alone = paint["tui.app alone"] / paint["minimal"]
    print(f"  ratio            {ratio:7.2f}x   (goal <= 1.3x; tui.app alone: {alone:.2f}x)")
    cpu_ratio = paint["CPU: imageworks tui"] / paint["CPU: minimal"]
    print(f"  CPU ratio        {cpu_ratio:7.2f}x   (the processes' CPU seconds until their first frame)")
    if args.against:
        print(f"  --against ratio  {paint['--against tui'] / paint['minimal']:7.2f}x   ({args.against})")
        against_cpu = paint["CPU: --against tui"] / paint["CPU: minimal"]
        print(f"  --against CPU    {against_cpu:7.2f}x")
    small = run_results_in_subprocess(100)
    big = run_results_in_subprocess(args.rows)
    print(f"\nA job's results: {100} vs {args.rows:,} rows (120x40)")
    for key in small:
        a, b = small[key], big[key]
        if key.startswith("RSS") or key.startswith("rows"):
            print(f"  {key:42} {a:10.1f} {b:12.1f}")
        else:
            extra = f"  ({b / a:.2f}x)" if a else ""
            print(f"  {key:42} {a * 1000:8.2f} ms {b * 1000:10.2f} ms{extra}")


def live(args: argparse.Namespace) -> None:
    """bench/tui_live.py's session for this checkout (and --against's), alternating, ``--live-rounds`` each."""
    sys.path.insert(0, str(Path(__file__).parent))
    from tui_live import session

    checkouts = {"this checkout": ROOT, **({"--against": args.against.resolve()} if args.against else {})}
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in checkouts}
    for _ in range(args.live_rounds):
        for name, checkout in checkouts.items():
            rounds[name].append(session(checkout, args.images, args.idle, args.switches, delay=0.02))
    print(f"live, pty 120x40, {args.images} images followed, medians of {args.live_rounds} rounds (each round's):")
    for name, results in rounds.items():
        print(f"  {name} ({checkouts[name]})")
        for key in results[0]:
            values = [r[key] for r in results]
            print(f"    {key:34} {statistics.median(values):8.1f}   ({', '.join(f'{v:.1f}' for v in values)})")


if __name__ == "__main__":
    main()
