"""The OpenAI-compatible endpoint on the demo model: batching across concurrent clients, and its overhead.

Usage: python bench/openai_endpoint.py [--requests 32] [--reps 3] [--rounds 20] [--job-items 128] [--models-cache DIR]

Starts a real daemon with the endpoint (127.0.0.1, an ephemeral port) and the trained demo model under temporary XDG
dirs (the build is reused from --models-cache, by default the test suite's cache, else trained once: 1-2 min). The
same greedy image question is asked throughout, so every generation is the same work. Prints, side by side:

- throughput: N requests sent at once (the batching queue groups them into batches of ``model.batch_size``) vs
  the same N one at a time; the ratio is what batching buys.
- overhead: 8 concurrent endpoint requests (one batch of 8) vs the same 8 generations submitted through the ZeroMQ
  client as an ``echo`` job of 8 items (one batch of 8 through the runner), in ``--rounds`` interleaved rounds; the
  figure is the median of each round's paired ratio. Goal: < 5 % at batch 8. The endpoint is timed twice: with a
  plain HTTP client (aiohttp, the same JSON the SDK sends), which is the endpoint's own overhead, and with the
  ``openai`` SDK, whose client-side work (request building, pydantic replies) runs on the same cores here.
- fairness: endpoint requests sent one after another while a ZeroMQ echo job of ``--job-items`` runs: their
  latency against one batch's time, and the most batches one waited behind the job (the daemon's counter).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_env import isolated_xdg

QUESTION = "Write a caption for this photo: at most two sentences, under 200 characters."
MAX_TOKENS = 32


def start_daemon(models_cache: Path | None) -> tuple[Path, subprocess.Popen[bytes]]:
    root = isolated_xdg("iw-bench-", IMAGEWORKS_OPENAI_LISTEN="127.0.0.1:0")
    if models_cache is not None:
        os.environ["IMAGEWORKS_MODELS_CACHE"] = str(models_cache)
    log = (root / "daemon.log").open("wb")
    return root, subprocess.Popen(
        [sys.executable, "-m", "imageworks", "daemon", "start", "--foreground", "--model", "demo"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_ready() -> tuple[str, str]:
    from imageworks import apikey
    from imageworks.client import Client, daemon_alive

    deadline = time.monotonic() + 60
    while daemon_alive(timeout=0.5) is None:
        if time.monotonic() > deadline:
            raise SystemExit("the daemon did not start")
        time.sleep(0.1)
    with Client("bench") as c:
        c.wait_model(timeout=600)
        url = c.status().openai.url
    return url, apikey.read_key()


def make_image(folder: Path) -> tuple[Path, str]:
    import base64

    from imageworks.daemon.demo_model.train import draw

    path = folder / "red_circle.png"
    draw("red", "circle", "white", size=(112, 112)).save(path)
    return path, "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def chat_messages(uri: str) -> list[dict]:
    return [
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": uri}}, {"type": "text", "text": QUESTION}],
        }
    ]


async def endpoint_requests(client, model: str, uri: str, n: int, concurrent: bool) -> float:
    messages = chat_messages(uri)

    async def ask() -> None:
        reply = await client.chat.completions.create(
            model=model, messages=messages, temperature=0, max_tokens=MAX_TOKENS
        )
        assert reply.choices[0].message.content

    start = time.perf_counter()
    if concurrent:
        await asyncio.gather(*(ask() for _ in range(n)))
    else:
        for _ in range(n):
            await ask()
    return time.perf_counter() - start


async def plain_requests(session, url: str, key: str, model: str, uri: str, n: int) -> float:
    """n concurrent requests from a plain HTTP client (aiohttp): the endpoint's cost without the SDK's."""
    import json

    body = json.dumps(
        {"model": model, "messages": chat_messages(uri), "temperature": 0, "max_tokens": MAX_TOKENS}
    ).encode()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    async def ask() -> None:
        async with session.post(url + "/chat/completions", data=body, headers=headers) as reply:
            assert reply.status == 200, await reply.text()
            assert (await reply.json())["choices"][0]["message"]["content"]

    start = time.perf_counter()
    await asyncio.gather(*(ask() for _ in range(n)))
    return time.perf_counter() - start


async def zmq_job(image: Path, n: int) -> float:
    from imageworks import protocol as P
    from imageworks.client import AsyncClient

    client = AsyncClient("bench")
    items = [{"text": QUESTION, "image": str(image)} for _ in range(n)]
    start = time.perf_counter()
    # batch size 0: the model's, the size the endpoint's requests are batched at
    job = (await client.submit("echo", items, {"max_new_tokens": MAX_TOKENS}, batch_size=0)).job
    async for event in client.follow(job.job_id):
        if isinstance(event, P.JobInfo) and event.state in ("done", "failed", "cancelled"):
            break
    elapsed = time.perf_counter() - start
    client.close()
    return elapsed


async def during_a_job(session, url: str, key: str, model: str, uri: str, image: Path, items: int) -> None:
    """Endpoint requests one after another while a ZeroMQ echo job of ``items`` runs: their latency against a
    batch's time, and how many batches the worst one waited behind (the daemon's own counter)."""
    from imageworks import protocol as P
    from imageworks.client import AsyncClient

    client = AsyncClient("bench")
    job_items = [{"text": QUESTION, "image": str(image)} for _ in range(items)]
    before = await batch_count()
    alone = await zmq_job(image, items)
    alone_batches = await batch_count() - before
    before = await batch_count()
    start = time.perf_counter()
    job = (await client.submit("echo", job_items, {"max_new_tokens": MAX_TOKENS}, batch_size=8)).job
    latencies = []
    while True:
        latencies.append(await plain_requests(session, url, key, model, uri, 1))
        info = (await client.attach(job.job_id)).job
        if info.state in ("done", "failed", "cancelled"):
            break
    async for event in client.follow(job.job_id):
        if isinstance(event, P.JobInfo) and event.state in ("done", "failed", "cancelled"):
            break
    shared = time.perf_counter() - start
    shared_batches = await batch_count() - before
    openai = (await client.status()).openai
    assert openai is not None  # the endpoint is on in this bench
    behind = openai.max_batches_behind
    client.close()
    batch = alone / (items / 8)
    print(
        f"during a {items}-item job (batches of 8, {batch * 1000:.0f} ms each): {len(latencies)} endpoint requests, "
        f"latency median {statistics.median(latencies) * 1000:.0f} ms, worst {max(latencies) * 1000:.0f} ms; "
        f"worst wait {behind} batch(es) behind; the job took {shared:.2f} s in {shared_batches} batches with them, "
        f"{alone:.2f} s in {alone_batches} batches alone"
    )


async def batch_count() -> int:
    from imageworks.client import AsyncClient

    client = AsyncClient("bench")
    try:
        return (await client.status()).counters.batches
    finally:
        client.close()


async def measure(args: argparse.Namespace, url: str, key: str, folder: Path) -> None:
    import aiohttp
    import openai

    client = openai.AsyncOpenAI(base_url=url, api_key=key, max_retries=0, timeout=600)
    session = aiohttp.ClientSession()
    model = (await client.models.list()).data[0].id
    image, uri = make_image(folder)
    # warm-up: the first batches pay one-off costs (and both HTTP clients open their connections)
    await endpoint_requests(client, model, uri, 8, concurrent=True)
    await plain_requests(session, url, key, model, uri, 8)
    await zmq_job(image, 8)

    together = [await endpoint_requests(client, model, uri, args.requests, True) for _ in range(args.reps)]
    alone = [await endpoint_requests(client, model, uri, args.requests, False) for _ in range(args.reps)]
    zmq8, plain8, sdk8, batches, sdk_batches = [], [], [], [], []
    cpu: dict[str, float] = {"zmq": 0.0, "plain": 0.0, "sdk": 0.0}
    for _ in range(args.rounds):  # interleaved, so drifts of a noisy machine hit all three alike
        cpu0 = time.process_time()
        zmq8.append(await zmq_job(image, 8))
        cpu1 = time.process_time()
        before = await batch_count()
        cpu2 = time.process_time()
        plain8.append(await plain_requests(session, url, key, model, uri, 8))
        cpu3 = time.process_time()
        batches.append(await batch_count() - before)
        cpu4 = time.process_time()
        sdk8.append(await endpoint_requests(client, model, uri, 8, True))
        cpu5 = time.process_time()
        sdk_batches.append(await batch_count() - before - batches[-1])
        cpu["zmq"] += cpu1 - cpu0
        cpu["plain"] += cpu3 - cpu2
        cpu["sdk"] += cpu5 - cpu4

    median = statistics.median
    t_together, t_alone = median(together), median(alone)
    n = args.requests
    print(
        f"{n} concurrent: {t_together:.2f} s ({n / t_together:.1f} req/s); one at a time: {t_alone:.2f} s "
        f"({n / t_alone:.1f} req/s); batching speed-up x{t_alone / t_together:.2f}"
    )

    def client_cpu(name: str) -> str:  # the bench process is the client: its CPU time per request
        return f"client CPU {cpu[name] * 1000 / (8 * args.rounds):.2f} ms/request"

    print(
        f"batch of 8, median of {args.rounds} interleaved rounds: ZeroMQ echo job {median(zmq8) * 1000:.1f} ms "
        f"({client_cpu('zmq')}); the endpoint's 8 went in {median(batches):g} batch(es) from the plain client, "
        f"{median(sdk_batches):g} from the SDK"
    )
    for label, name, times in (("plain HTTP client (aiohttp)", "plain", plain8), ("openai SDK", "sdk", sdk8)):
        ratio = median((t - z) / z for t, z in zip(times, zmq8, strict=True))
        per_request = median((t - z) / 8 for t, z in zip(times, zmq8, strict=True))
        print(
            f"  endpoint, {label}: {median(times) * 1000:.1f} ms; overhead {100 * ratio:+.1f} % "
            f"({per_request * 1000:+.2f} ms/request; {client_cpu(name)})"
        )
    await during_a_job(session, url, key, model, uri, image, args.job_items)
    await session.close()
    await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=20, help="interleaved rounds of the batch-of-8 comparison")
    parser.add_argument("--job-items", type=int, default=128, help="the job that endpoint requests interleave with")
    default_cache = Path(".pytest_cache/d/imageworks-models")
    parser.add_argument("--models-cache", type=Path, default=default_cache if default_cache.is_dir() else None)
    args = parser.parse_args()
    root, daemon = start_daemon(args.models_cache.resolve() if args.models_cache else None)
    try:
        url, key = wait_ready()
        asyncio.run(measure(args, url, key, root))
    finally:
        daemon.terminate()
        daemon.wait(10)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
