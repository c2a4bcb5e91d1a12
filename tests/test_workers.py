"""The worker seam with real worker processes (echo backend, and the tiny VLM for a generate-only backend):
embeddings, per-request refusals, a pool of two workers, the manager's independent slots."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from imageworks.config import ModelConfig
from imageworks.daemon.slots import ModelManager
from imageworks.daemon.workers.base import Worker
from imageworks.daemon.workers.pool import WorkerPool
from imageworks.daemon.workers.process import WorkerHandle
from imageworks.errors import DaemonError
from imageworks.inference import EmbedRequest, GenRequest
from imageworks.protocol import ModelState


@pytest.fixture
def photos(tmp_path: Path) -> dict[str, str]:
    """Three distinct Pillow images and one file that is not an image."""
    out = {}
    for name, colour, size in (("red", (200, 30, 30), (64, 48)), ("green", (30, 180, 60), (40, 40))):
        path = tmp_path / f"{name}.png"
        Image.new("RGB", size, colour).save(path)
        out[name] = str(path)
    gradient = Image.linear_gradient("L").resize((80, 60))
    gradient.save(tmp_path / "gradient.jpg")
    out["gradient"] = str(tmp_path / "gradient.jpg")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    out["broken"] = str(tmp_path / "broken.jpg")
    return out


async def started(model: str, **kwargs) -> WorkerHandle:
    worker = WorkerHandle(ModelConfig(name=model), asyncio.get_running_loop(), **kwargs)
    await asyncio.wait_for(worker.loaded, 60)
    return worker


async def test_echo_embeddings_are_unit_vectors_and_batching_changes_nothing(photos) -> None:
    worker = await started("echo")
    try:
        paths = [photos["red"], photos["gradient"], photos["broken"], photos["green"]]
        batched = await worker.embed([EmbedRequest(image=p) for p in paths])
        one_by_one = [(await worker.embed([EmbedRequest(image=p)]))[0] for p in paths]
    finally:
        await worker.stop()
    assert [r.vector for r in batched] == [r.vector for r in one_by_one]
    assert batched[2].error and "cannot read image" in batched[2].error and batched[2].vector == b""
    good = [r for r in batched if r.ok]
    assert len(good) == 3
    for result in good:
        assert result.dim == 48
        assert math.isclose(math.sqrt(sum(v * v for v in result.floats())), 1.0, rel_tol=1e-5)
    assert len({r.vector for r in good}) == 3  # distinct images, distinct vectors
    assert worker.inferences == 8


async def test_a_generate_only_backend_refuses_embed_per_request(tiny_model_dir, photos) -> None:
    worker = await started(str(tiny_model_dir))
    try:
        refused = await worker.embed([EmbedRequest(image=photos["red"]), EmbedRequest(image=photos["green"])])
        generated = await worker.generate([GenRequest(prompt="hi", max_new_tokens=2)])
    finally:
        await worker.stop()
    assert [r.ok for r in refused] == [False, False]
    error = refused[0].error or ""
    assert "cannot embed" in error and "serves: generate" in error
    assert "\n" not in error
    assert generated[0].ok  # the worker still serves what it can


async def test_a_pool_of_two_runs_two_batches_at_once_and_both_work(photos) -> None:
    loop = asyncio.get_running_loop()
    workers: list[Worker] = [
        WorkerHandle(ModelConfig(name="echo:delay=0.4"), loop, worker_id=f"p-{i}") for i in range(2)
    ]
    pool = WorkerPool(workers, loop)
    try:
        await asyncio.wait_for(pool.loaded, 60)
        batches = [[GenRequest(prompt=f"{b}-{i}") for i in range(2)] for b in range(2)]
        tasks = [loop.create_task(pool.generate(batch)) for batch in batches]
        await asyncio.sleep(0)  # ok-sleep: one loop turn, so both batches are handed to workers
        assert [w.in_flight for w in workers] == [1, 1]  # one batch each, in flight together
        start = time.monotonic()
        results = await asyncio.gather(*tasks)
        elapsed = time.monotonic() - start
    finally:
        await pool.stop()
    assert [[r.text for r in batch] for batch in results] == [[f"echo: {b}-{i}" for i in range(2)] for b in range(2)]
    assert [w.inferences for w in workers] == [2, 2] and pool.inferences == 4
    assert elapsed < 1.5  # two 0.8 s batches one after the other would take 1.6 s
    assert pool.exited.done() and all(w.exited.done() for w in workers)


async def test_manager_slots_load_and_unload_independently(photos) -> None:
    events: list[ModelState] = []
    manager = ModelManager(ModelConfig(name="echo"), events.append)
    try:
        manager.start_load("")  # the vlm slot: the configured model
        manager.start_load("echo:delay=0", slot="embed")
        await manager.wait_loaded()
        await manager.wait_loaded(slot="embed")
        vectors = await manager.embed([EmbedRequest(image=photos["red"])])
        texts = await manager.generate([GenRequest(prompt="hello")])
        assert vectors[0].dim == 48 and texts[0].text == "echo: hello"
        vlm_pid = manager.state.worker_pid
        assert manager.slots["embed"].state.worker_pid not in (0, vlm_pid)

        await manager.unload(slot="embed")
        assert manager.slots["embed"].state.state == "none" and manager.state.state == "loaded"
        assert (await manager.generate([GenRequest(prompt="still")]))[0].text == "echo: still"
        with pytest.raises(DaemonError, match="embed slot has no configured model"):
            manager.start_load("", slot="embed")
        with pytest.raises(DaemonError, match="no model slot"):
            manager.start_load("echo", slot="audio")
        assert {e.slot for e in events} == {"vlm", "embed"}
        assert manager.loads == 2 and manager.inferences == 3
        views = manager.views()
        assert views["vlm"].workers[0].inferences == 2 and views["embed"].workers == []
    finally:
        await manager.shutdown()


@contextlib.asynccontextmanager
async def echo_manager(batch_size: int, delay: float) -> AsyncIterator[ModelManager]:
    """A model manager with the echo backend loaded in its vlm slot (a real worker process)."""
    manager = ModelManager(ModelConfig(name=f"echo:delay={delay}", batch_size=batch_size), lambda state: None)
    try:
        manager.start_load("")
        await manager.wait_loaded()
        yield manager
    finally:
        await manager.shutdown()


def requests_beside_a_job(
    manager: ModelManager, requests: int, items: int
) -> tuple[list[str], asyncio.Future[list], asyncio.Future[list]]:
    """``requests`` endpoint requests, then a job's batch of ``items``, queued at once: (the requests' answers as
    they come, all the requests, the job)."""
    answered: list[str] = []

    async def ask(i: int) -> None:
        answered.append((await manager.batching.submit(GenRequest(prompt=f"r{i}"))).text)

    asking = asyncio.gather(*(ask(i) for i in range(requests)))
    job = asyncio.ensure_future(manager.generate([GenRequest(prompt=f"j{i}") for i in range(items)]))
    return answered, asking, job


async def test_a_flood_of_endpoint_requests_slows_a_job_but_never_stops_it() -> None:
    """Endpoint requests go first into each batch, but a waiting job item always keeps one place: with six requests
    and a job's two items queued at once (batches of two), the job is done after two batches, not after all six."""
    async with echo_manager(batch_size=2, delay=0.05) as manager:
        answered, asking, job = requests_beside_a_job(manager, requests=6, items=2)
        results = await asyncio.wait_for(job, 30)
        assert [r.text for r in results] == ["echo: j0", "echo: j1"]
        assert len(answered) == 2  # the job rode in the first two batches, beside one request each
        await asyncio.wait_for(asking, 30)
        assert sorted(answered) == [f"echo: r{i}" for i in range(6)]
        stats = manager.batching.stats
        assert stats.batches == 4 and stats.shared_batches == 2


async def test_a_jobs_batches_keep_the_size_the_job_asked_for() -> None:
    """The runner hands the queue a whole round; the queue cuts it into batches of the job's size, not the model's
    (a job's batch size is the person's memory and speed choice)."""
    async with echo_manager(batch_size=8, delay=0.02) as manager:
        round_ = [GenRequest(prompt=f"b{b}") for b in range(7)]
        results = await asyncio.wait_for(manager.generate(round_, batch_size=3), 30)
        assert [r.text for r in results] == [f"echo: b{b}" for b in range(7)]
        stats = manager.batching.stats
        assert stats.batches == 3 and stats.largest_batch == 3  # 3 + 3 + 1


async def test_a_round_without_a_batch_size_is_cut_at_the_models_and_never_above_it() -> None:
    async with echo_manager(batch_size=4, delay=0.01) as manager:
        results = await asyncio.wait_for(manager.generate([GenRequest(prompt=f"r{i}") for i in range(10)]), 30)
        assert [r.text for r in results] == [f"echo: r{i}" for i in range(10)]
        assert manager.batching.stats.batches == 3 and manager.batching.stats.largest_batch == 4
        with pytest.raises(ValueError, match="larger than the model's 4"):
            await manager.generate([GenRequest(prompt="x")], batch_size=5)
        assert manager.batching.stats.batches == 3  # refused before anything was queued


async def test_items_displaced_by_requests_lead_the_next_batch() -> None:
    """Two requests take places in the first batch; the job's items they displaced go first into the next, which
    is full: no batch of leftovers."""
    async with echo_manager(batch_size=4, delay=0.05) as manager:
        answered, asking, job = requests_beside_a_job(manager, requests=2, items=6)
        results = await asyncio.wait_for(job, 30)
        await asyncio.wait_for(asking, 30)
        assert [r.text for r in results] == [f"echo: j{i}" for i in range(6)]
        assert sorted(answered) == ["echo: r0", "echo: r1"]
        stats = manager.batching.stats
        assert stats.batches == 2 and stats.largest_batch == 4 and stats.shared_batches == 1


async def test_in_batches_of_one_requests_and_a_job_take_turns() -> None:
    async with echo_manager(batch_size=1, delay=0.02) as manager:
        answered, asking, job = requests_beside_a_job(manager, requests=3, items=2)
        assert [r.text for r in await asyncio.wait_for(job, 30)] == ["echo: j0", "echo: j1"]
        assert len(answered) == 1  # j0, r0, j1: neither waits for the other to finish
        await asyncio.wait_for(asking, 30)
        assert manager.batching.stats.batches == 5
