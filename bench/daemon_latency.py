"""Ping round-trip latency of the daemon over ipc, idle and while a long job runs, 1 and 50 concurrent clients.

Usage: python bench/daemon_latency.py [--pings 2000] [--clients 50]

Starts a real daemon (echo backend with a per-request delay, so a job keeps the runner and journal busy) under
temporary XDG dirs, then measures ping p50/p99 for: 1 client idle, 1 client during a job, N concurrent clients
during a job. Prints the ratios side by side (one run; the machine is noisy). Goal: p99 < 5 ms over ipc.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import subprocess
import sys
import time

from bench_env import isolated_xdg


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def ping_loop(n: int, interval: float = 0.0) -> list[float]:
    from imageworks.client import AsyncClient

    c = AsyncClient("bench")
    out = []
    if interval:  # independent clients: each starts at its own phase instead of all in the same instant
        await asyncio.sleep(random.uniform(0, interval))
    for _ in range(n):
        t0 = time.perf_counter()
        await c.ping()
        out.append((time.perf_counter() - t0) * 1000)
        if interval:
            await asyncio.sleep(interval)
    c.close()
    return out


def sync_ping_loop(n: int) -> list[float]:
    """The blocking Client, which runs the async client's coroutines without a loop: its cost shows here."""
    from imageworks.client import Client

    out = []
    with Client("bench-sync") as c:
        for _ in range(n):
            t0 = time.perf_counter()
            c.ping()
            out.append((time.perf_counter() - t0) * 1000)
    return out


async def concurrent(clients: int, per_client: int, interval: float = 0.0) -> list[float]:
    results = await asyncio.gather(*(ping_loop(per_client, interval) for _ in range(clients)))
    return [x for r in results for x in r]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pings", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=50)
    args = ap.parse_args()

    isolated_xdg("iwb-", IMAGEWORKS_MODEL_NAME="echo:delay=0.002")
    from imageworks import client

    daemon = subprocess.Popen(
        [sys.executable, "-m", "imageworks", "daemon", "start", "--foreground"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while client.daemon_alive(0.5) is None:
            time.sleep(0.05)
        c = client.Client("bench")
        c.load_model(wait=True)
        idle = asyncio.run(ping_loop(args.pings))
        idle_sync = sync_ping_loop(args.pings)
        job = c.submit("echo", [{"text": f"x{i}"} for i in range(100_000)], batch_size=8).job
        busy1 = asyncio.run(ping_loop(args.pings))
        per = max(20, args.pings // args.clients)
        busy_n = asyncio.run(concurrent(args.clients, per))
        paced = asyncio.run(concurrent(args.clients, per, interval=0.01))
        done = c.attach(job.job_id).job.done
        c.cancel(job.job_id)
        c.shutdown()
        c.close()
    finally:
        daemon.wait(10)

    print(f"daemon ping round-trip over ipc (ms); job running with {done} items journaled during the run")
    print(f"{'case':34} {'n':>6} {'p50':>7} {'p99':>7} {'max':>7}")
    rows = [
        ("1 client, idle", idle),
        ("1 sync client, idle", idle_sync),
        ("1 client, job running", busy1),
        (f"{args.clients} clients back-to-back, job", busy_n),
        (f"{args.clients} clients every 10 ms, job", paced),
    ]
    for label, vals in rows:
        print(
            f"{label:34} {len(vals):6d} {statistics.median(vals):7.3f} {percentile(vals, 0.99):7.3f} {max(vals):7.3f}"
        )
    p99_1 = percentile(busy1, 0.99)
    p99_n = percentile(paced, 0.99)
    print(f"ratio p99 job-running/idle (1 client): {p99_1 / percentile(idle, 0.99):.2f}x")
    print(f"ratio p99 {args.clients} paced clients/1 client (job running): {p99_n / p99_1:.2f}x")
    print(f"back-to-back throughput: {len(busy_n) / (sum(busy_n) / 1000 / args.clients):.0f} pings/s")
    print(
        f"goal p99 < 5 ms: 1 client {'met' if p99_1 < 5 else 'MISSED'}, {args.clients} paced clients "
        f"{'met' if p99_n < 5 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
