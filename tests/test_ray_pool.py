"""The scale-out seam without Ray: a pool resends the batch of a worker that died mid-batch to another worker
(once), N local workers from ``cluster.workers``, and a daemon without ``--ray`` never imports Ray."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from imageworks.config import ModelConfig
from imageworks.daemon.workers.base import Worker, WorkerCrashed
from imageworks.daemon.workers.pool import Replay, WorkerPool
from imageworks.daemon.workers.process import WorkerHandle
from imageworks.inference import GenRequest, GenResult


async def pool_of(count: int, model: str = "echo:delay=0.5") -> WorkerPool:
    loop = asyncio.get_running_loop()
    workers: list[Worker] = [WorkerHandle(ModelConfig(name=model), loop, worker_id=f"p-{i}") for i in range(count)]
    pool = WorkerPool(workers, loop)
    await asyncio.wait_for(pool.loaded, 60)
    return pool


async def busy_worker(pool: WorkerPool) -> WorkerHandle:
    while not any(w.in_flight for w in pool.workers):
        await asyncio.sleep(0.01)  # ok-sleep: one poll step until a worker holds the batch
    busy = next(w for w in pool.workers if w.in_flight)
    assert isinstance(busy, WorkerHandle)  # pool_of makes process workers
    return busy


def kill(worker: WorkerHandle) -> None:
    """SIGKILL the worker's process (it has one: the pool has loaded)."""
    assert worker.pid is not None
    os.kill(worker.pid, signal.SIGKILL)


async def test_a_batch_whose_worker_dies_is_answered_by_another_worker() -> None:
    pool = await pool_of(2)
    try:
        batch = [GenRequest(prompt=f"n{i}") for i in range(3)]
        call = asyncio.ensure_future(pool.generate(batch))
        victim = await busy_worker(pool)
        kill(victim)
        results = await asyncio.wait_for(call, 30)
        assert [r.text for r in results] == ["echo: n0", "echo: n1", "echo: n2"]
        survivor = next(w for w in pool.workers if w is not victim)
        assert survivor.inferences == 3 and victim.inferences == 0
        assert "killed by SIGKILL" in victim.last_error and victim.describe().state == "exited"
        assert pool.width == 1 and not pool.exited.done()
    finally:
        await pool.stop()


async def test_a_batch_is_resent_once_only() -> None:
    pool = await pool_of(2)
    try:
        call = asyncio.ensure_future(pool.generate([GenRequest(prompt="x")]))
        first = await busy_worker(pool)
        kill(first)
        await asyncio.wait_for(first.exited, 10)
        second = await busy_worker(pool)
        kill(second)
        with pytest.raises(WorkerCrashed, match="SIGKILL"):
            await asyncio.wait_for(call, 30)
        assert pool.exited.done()
    finally:
        await pool.stop()


async def test_a_stream_whose_worker_dies_goes_on_from_where_it_was() -> None:
    pool = await pool_of(2, "echo:step_delay=0.05")  # 41 words at 50 ms a word: ~2 s of streaming
    try:
        words = " ".join(f"w{i}" for i in range(40))
        got: list[str] = []
        some_text = asyncio.Event()

        def on_text(key: str, delta: str) -> None:
            assert key == "k1"
            got.append(delta)
            some_text.set()

        request = GenRequest(prompt=words, key="k1", stream=True)
        call = asyncio.ensure_future(pool.generate_streaming([request], on_text))
        await asyncio.wait_for(some_text.wait(), 30)
        victim = await busy_worker(pool)
        kill(victim)
        sent_before = "".join(got)
        results = await asyncio.wait_for(call, 60)
        assert results[0].ok and results[0].text == "echo: " + words
        assert sent_before and len(sent_before) < len(results[0].text)  # it died mid-stream
        assert "".join(got) == results[0].text  # the resend's repeat of the opening was held back
    finally:
        await pool.stop()


def test_a_resend_that_answers_differently_ends_with_an_error_not_a_splice() -> None:
    out: list[tuple[str, str]] = []
    replay = Replay(lambda key, delta: out.append((key, delta)))
    replay.first("a", "The red ")
    replay.first("b", "A blue ")
    replay.start_over()  # the worker died; the batch runs again elsewhere
    for key, delta in [("a", "The "), ("a", "red circle"), ("b", "One green"), ("b", " square")]:
        replay.feed(key, delta)
    assert out == [("a", "The red "), ("b", "A blue "), ("a", "circle")]
    assert replay.check("a", GenResult(text="The red circle")).text == "The red circle"
    assert "differs from what was already sent" in (replay.check("b", GenResult(text="One green square")).error or "")


def test_a_daemon_without_ray_never_imports_it() -> None:
    """The daemon's modules, a model slot of two local workers (``cluster.workers = 2``) and a batch through it."""
    script = textwrap.dedent(
        """
        import asyncio, sys
        from imageworks import config
        from imageworks.cli import main  # the composition root
        from imageworks.daemon import server
        from imageworks.daemon.slots import ModelManager
        from imageworks.inference import GenRequest

        async def run():
            cfg = config.load()
            assert cfg.cluster.workers == 2 and cfg.cluster.ray == ""
            models = ModelManager(cfg.model, lambda state: None, cfg.cluster)
            models.start_load("echo")
            await models.wait_loaded()
            results = await models.generate([GenRequest(prompt="hi")])
            assert results[0].text == "echo: hi" and len(models.views()["vlm"].workers) == 2
            await models.shutdown()

        asyncio.run(run())
        print(sorted(name for name in sys.modules if name == "ray" or name.startswith("ray.")))
        """
    )
    env = {**os.environ, "IMAGEWORKS_CLUSTER_WORKERS": "2"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
