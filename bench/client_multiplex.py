"""One client, many requests in flight: requests/s with 1 vs 16 in flight on ONE client, and an idle TUI's CPU.

Usage: python bench/client_multiplex.py [--requests 4000] [--rounds 8] [--idle 30] [--against OTHER_CHECKOUT]

Starts a real daemon (echo backend) under temporary XDG dirs, then:

- requests/s: one ``AsyncClient`` sends ``status`` requests (the TUI's most common one, a ~2 kB reply) from 1 task,
  then from 16 tasks at once; "16 tasks taking turns" puts a lock around each request, which is how the TUI had to
  share its one client before the client multiplexed. The blocking ``Client`` runs too. The modes, and the
  checkouts with ``--against``, take turns for ``--rounds`` rounds (``--requests`` in all per mode); the medians are
  printed.
- a 24 MP JPEG's preview through the daemon (``image.thumbnail``): first ask, then from the daemon's cache.
- idle TUI CPU: ``imageworks tui --no-start`` in a pseudo-terminal, connected to that daemon, left alone for
  ``--idle`` s; CPU seconds it used over that time (user + system, from /proc).

With ``--against``, the same measurements also run with another checkout's ``imageworks`` first on PYTHONPATH (e.g.
``git archive main | tar -x -C /tmp/before``), side by side in the same run; an old client that cannot have
several requests in flight on one client is measured taking turns only.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import select
import statistics
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from bench_env import isolated_xdg

ROOT = Path(__file__).resolve().parents[1]

RATE_WORKER = """
import asyncio, json, statistics, sys, time
from imageworks.client import AsyncClient, Client

n, rounds = int(sys.argv[1]), int(sys.argv[2])
multiplexes = hasattr(AsyncClient, "in_flight")

async def rate(c, per_round: int, in_flight: int, turns: bool) -> float:
    lock = asyncio.Lock()

    async def task(k: int) -> None:
        for _ in range(k):
            if turns:
                async with lock:
                    await c.status()
            else:
                await c.status()

    t0 = time.perf_counter()
    await asyncio.gather(*(task(per_round // in_flight) for _ in range(in_flight)))
    return (per_round // in_flight) * in_flight / (time.perf_counter() - t0)

def blocking_rate(c, k: int) -> float:
    t0 = time.perf_counter()
    for _ in range(k):
        c.status()
    return k / (time.perf_counter() - t0)

async def main() -> dict:
    modes = {"1 in flight": (1, False), "16 tasks taking turns": (16, True)}
    if multiplexes:
        modes["16 in flight"] = (16, False)
    per_round = n // rounds
    c = AsyncClient("bench")
    await c.status()
    blocking = Client("bench-sync")
    blocking.status()
    rates = {label: [] for label in [*modes, "blocking Client, 1 in flight"]}
    for _ in range(rounds):  # the modes take turns, so a load that comes and goes weighs on all alike
        for label, (in_flight, turns) in modes.items():
            rates[label].append(await rate(c, per_round, in_flight, turns))
        rates["blocking Client, 1 in flight"].append(await asyncio.to_thread(blocking_rate, blocking, per_round // 4))
    c.close()
    blocking.close()
    out = {label: statistics.median(values) for label, values in rates.items()}
    if multiplexes:
        out["ratio"] = statistics.median(m / o for m, o in zip(rates["16 in flight"], rates["1 in flight"]))
    return out

print(json.dumps(asyncio.run(main())))
"""


def env_for(checkout: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if checkout is not None:
        env["PYTHONPATH"] = str(checkout)
    return env


def request_rates(n: int, rounds: int, sides: dict[str, Path | None]) -> dict[str, dict[str, float]]:
    """Each side's rates, the sides taking turns round by round (a load that comes and goes weighs on both)."""
    per_side: dict[str, dict[str, list[float]]] = {side: {} for side in sides}
    for _ in range(rounds):
        for side, checkout in sides.items():
            out = subprocess.run(
                [sys.executable, "-c", RATE_WORKER, str(n // rounds), "1"],
                env=env_for(checkout),
                cwd=checkout or ROOT,
                capture_output=True,
                text=True,
                check=True,
            )
            for label, value in json.loads(out.stdout.strip().splitlines()[-1]).items():
                per_side[side].setdefault(label, []).append(value)
    return {side: {label: statistics.median(v) for label, v in rates.items()} for side, rates in per_side.items()}


def thumbnail_times(photo: Path) -> tuple[float, float, int]:
    """A 24 MP JPEG's 768 px preview through the daemon (``image.thumbnail``, what the TUI asks of a remote daemon):
    ms for the first ask (decoded) and the median of 20 more (the daemon's cache), and the JPEG's bytes."""
    from PIL import Image

    from imageworks.client import Client

    Image.radial_gradient("L").resize((6000, 4000)).convert("RGB").save(photo, "JPEG", quality=90)
    with Client("bench-thumbs") as c:
        t0 = time.perf_counter()
        first = c.thumbnail(str(photo), max_px=768)
        decoded = (time.perf_counter() - t0) * 1000
        cached = []
        for _ in range(20):
            t0 = time.perf_counter()
            c.thumbnail(str(photo), max_px=768)
            cached.append((time.perf_counter() - t0) * 1000)
    return decoded, statistics.median(cached), len(first.jpeg)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tui_listed() -> bool:
    from imageworks.client import Client

    with Client("bench-probe", register=False) as c:
        return any(info.name == "tui" for info in c.status().clients)


def idle_tui_cpu(idle_s: float, checkout: Path | None) -> float:
    """CPU seconds an idle, connected TUI uses over ``idle_s`` (the pty is read all along, as a terminal would)."""
    env = env_for(checkout)
    env.update(TERM="xterm-256color")
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "imageworks", "tui", "--no-start"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=checkout or ROOT,
        start_new_session=True,
    )
    os.close(slave)
    seen = b""

    def read_for(seconds: float) -> None:
        nonlocal seen
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            ready, _, _ = select.select([master], [], [], min(left, 0.2))
            if ready:
                try:
                    seen = (seen + os.read(master, 65536))[-200_000:]
                except OSError:
                    return

    try:
        deadline = time.monotonic() + 60
        while not tui_listed():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"the TUI did not connect: {seen[-300:]!r}")
            read_for(0.2)
        read_for(2.0)  # the connect's own work (status, job list, first paints) settles
        before = cpu_seconds(proc.pid)
        read_for(idle_s)
        return cpu_seconds(proc.pid) - before
    finally:
        proc.kill()
        proc.wait(5)
        os.close(master)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--idle", type=float, default=30.0)
    ap.add_argument("--against", type=Path, default=None)
    args = ap.parse_args()

    root = isolated_xdg("iwb-", IMAGEWORKS_MODEL_NAME="echo")
    from imageworks import client

    daemon = subprocess.Popen(
        [sys.executable, "-m", "imageworks", "daemon", "start", "--foreground"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sides = {"this checkout": None, **({f"--against {args.against}": args.against} if args.against else {})}
    try:
        while client.daemon_alive(0.5) is None:
            time.sleep(0.05)  # ok-sleep: a bench waiting for its daemon
        thumbs = thumbnail_times(root / "photo-24mp.jpg")
        rates = request_rates(args.requests, args.rounds, sides)
        idle = {side: idle_tui_cpu(args.idle, co) for side, co in sides.items()}
        with client.Client("bench") as c:
            c.shutdown()
    finally:
        try:
            daemon.wait(10)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(5)

    print(f"status requests per second on ONE client ({args.requests} requests)")
    for side, rate in rates.items():
        print(f"  {side}:")
        ratio = rate.pop("ratio", None)
        for label, value in rate.items():
            print(f"    {label:32} {value:8.0f}/s")
        if ratio is not None:
            print(f"    ratio 16 in flight / 1 in flight (median of the rounds' ratios): {ratio:.2f}x")
            print(
                f"    ratio 16 in flight / 16 taking turns: {rate['16 in flight'] / rate['16 tasks taking turns']:.2f}x"
            )
        print(f"    ratio 16 taking turns / 1 in flight: {rate['16 tasks taking turns'] / rate['1 in flight']:.2f}x")
    decoded, cached, size = thumbs
    print(f"a 24 MP JPEG's 768 px preview through the daemon: {decoded:.0f} ms decoded, {cached:.1f} ms cached", end="")
    print(f" ({size / 1024:.0f} kB)")
    print(f"idle TUI, connected, over {args.idle:g} s")
    for side, cpu in idle.items():
        print(f"  {side:40} {cpu:6.3f} CPU s ({100 * cpu / args.idle:.2f} % of a core)")


if __name__ == "__main__":
    main()
