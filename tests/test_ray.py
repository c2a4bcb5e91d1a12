"""Scale-out on Ray: the VLM slot's workers as Ray actors on a local Ray (started once for the module,
4 logical CPUs, each actor reserving one), with the trained demo model through the real daemon and CLI.

A tag job over 2 actors gives the records of the single-worker run (greedy decoding) and both actors did part of
the work; ``ray.kill`` of one actor mid-job leaves every item done exactly once; unload ends both actors."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from imageworks.client import Client
from imageworks.config import ClusterConfig, ModelConfig
from imageworks.daemon.workers.ray import RayWorker, new_token
from imageworks.inference import EmbedRequest, GenRequest
from tests.fixtures_models import models_cache, trained_model_dir  # noqa: F401
from tests.test_tag_e2e import make_shapes
from tests.waiting import wait_for

ray = pytest.importorskip("ray")  # before daemon.workers.ray, which imports it

pytestmark = pytest.mark.slow

NAMESPACE = "imageworks"
GREEDY = {"IMAGEWORKS_TAGGER_TEMPERATURE": "0"}
TIMING = {"duration_seconds"}
"""What differs between two runs of the same model on the same images."""


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    ray.init(num_cpus=4, include_dashboard=False, namespace=NAMESPACE, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def iw(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "imageworks", *args],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, **(env or {})},
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def tag_rows(folder: Path, out: Path) -> dict[str, dict]:
    single_pass = ("--profile", "single-pass", "--batch-size", "2")
    iw("tag", str(folder), *single_pass, "--jsonl", str(out), "--json", env=GREEDY)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    return {row["image"]: {k: v for k, v in row.items() if k not in TIMING} for row in rows}


def vlm_workers(c: Client) -> list:
    return c.status().slots["vlm"].workers


async def until(condition, what: str, timeout: float = 60.0) -> None:
    """``wait_for`` on the test's event loop (the worker's futures resolve on it)."""

    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)  # ok-sleep: one poll step of a condition wait with a deadline

    try:
        await asyncio.wait_for(poll(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what}") from None


def actor_alive(name: str) -> bool:
    try:
        ray.get_actor(name, namespace=NAMESPACE)
    except ValueError:
        return False
    return True


def test_two_ray_workers_give_the_single_worker_records_and_share_the_work(
    start_daemon,
    trained_model_dir,  # noqa: F811
    ray_address,
    tmp_path,
):
    folder = tmp_path / "pics"
    make_shapes(folder, 4)
    single = start_daemon(IMAGEWORKS_MODEL_NAME=str(trained_model_dir))
    expected = tag_rows(folder, tmp_path / "one.jsonl")
    single.stop()

    start_daemon(
        IMAGEWORKS_MODEL_NAME=str(trained_model_dir), IMAGEWORKS_CLUSTER_RAY=ray_address, IMAGEWORKS_CLUSTER_WORKERS="2"
    )
    got = tag_rows(folder, tmp_path / "two.jsonl")
    assert got == expected and len(got) == 4
    with Client("test") as c:
        workers = vlm_workers(c)
        assert len(workers) == 2, workers
        assert all(w.state == "loaded" and w.inferences > 0 and w.node and w.pid for w in workers), workers
        assert sum(w.inferences for w in workers) == c.status().counters.inferences
        names = [w.id for w in workers]
        assert all(actor_alive(name) for name in names)
        c.unload_model()
        wait_for(lambda: not any(actor_alive(name) for name in names), timeout=30, what="both actors to end")
        assert vlm_workers(c) == []


def test_killing_an_actor_mid_job_requeues_its_items_and_every_item_is_done_once(
    xdg,
    trained_model_dir,  # noqa: F811
    ray_address,
    tmp_path,
):
    folder = tmp_path / "pics"
    images = make_shapes(folder, 12)
    iw("daemon", "start", "--ray", ray_address, "--workers", "2", "--model", str(trained_model_dir))
    try:
        with Client("test") as c:
            assert c.wait_model(timeout=120).state == "loaded"
            victim, survivor = (w.id for w in vlm_workers(c))
            out = iw("tag", str(folder), "--profile", "single-pass", "--batch-size", "1", "--detach", "--json")
            job_id = json.loads(out.stdout)["job"]["job_id"]
            wait_for(lambda: c.attach(job_id).job.done >= 2, timeout=120, what="a few items done", interval=0.1)
            ray.kill(ray.get_actor(victim, namespace=NAMESPACE))
            final = wait_for(
                lambda: (job := c.attach(job_id).job).state in ("done", "failed") and job,
                timeout=120,
                what="the job",
                interval=0.1,
            )
            assert (final.state, final.done, final.failed) == ("done", 12, 0), final
            rows = c.all_results(job_id)
            assert sorted(r.index for r in rows) == list(range(12))
            assert sorted(r.item["path"] for r in rows) == sorted(map(str, images))
            assert all(r.status == "ok" and r.record.caption for r in rows)
            workers = {w.id: w for w in vlm_workers(c)}
            assert workers[victim].state == "exited" and "gone" in workers[victim].last_error, workers
            assert workers[survivor].state == "loaded" and workers[survivor].inferences > 0, workers
            # one request per image (single-pass): every image answered once, none lost with the victim nor doubled
            assert sum(w.inferences for w in workers.values()) == 12, workers
    finally:
        iw("daemon", "stop")


async def test_without_a_shared_filesystem_images_travel_as_bytes_and_errors_name_the_photo(ray_address, tmp_path):
    from PIL import Image

    photo = tmp_path / "red.png"
    Image.new("RGB", (32, 24), (200, 30, 30)).save(photo)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    missing = tmp_path / "missing.jpg"
    loop = asyncio.get_running_loop()
    echo = ModelConfig(name="echo")
    by_path = RayWorker(echo, ClusterConfig(ray=ray_address), loop, worker_id=f"t-{new_token()}")
    by_bytes = RayWorker(
        echo, ClusterConfig(ray=ray_address, shared_filesystem=False), loop, worker_id=f"t-{new_token()}"
    )
    try:
        await asyncio.wait_for(asyncio.gather(by_path.loaded, by_bytes.loaded), 60)
        requests = [EmbedRequest(image=str(p)) for p in (photo, broken, missing)]
        shared, sent = await by_path.embed(requests), await by_bytes.embed(requests)
        assert sent[0].ok and sent[0].vector == shared[0].vector
        broken_error = sent[1].error
        assert broken_error is not None and str(broken) in broken_error and "imageworks-ray-" not in broken_error
        assert sent[2].error == f"cannot read image {missing}: No such file or directory"
        texts = await by_bytes.generate([GenRequest(prompt="no image"), GenRequest(prompt="hi", image=str(photo))])
        assert [t.text for t in texts] == ["echo: no image", "echo: hi [32x24 RGB]"]
        assert by_bytes.inferences == 5 and by_bytes.describe().state == "loaded"
    finally:
        await asyncio.gather(by_path.stop(), by_bytes.stop())
    assert by_bytes.exited.done() and by_path.exited.done()


async def test_a_stop_ends_the_batches_in_flight_and_not_the_next_ones(ray_address):
    loop = asyncio.get_running_loop()
    worker = RayWorker(ModelConfig(name="echo:delay=0.2"), ClusterConfig(ray=ray_address), loop, worker_id="t-stop")
    try:
        await asyncio.wait_for(worker.loaded, 60)
        call = asyncio.ensure_future(worker.generate([GenRequest(prompt=f"n{i}") for i in range(20)]))
        await until(lambda: worker.in_flight, "the batch to be sent")
        worker.request_stop()
        stopped = await asyncio.wait_for(call, 30)
        assert stopped[-1].error == "cancelled"
        worker.clear_stop()
        assert [r.text for r in await worker.generate([GenRequest(prompt="next job")])] == ["echo: next job"]
    finally:
        await worker.stop()


async def test_an_actor_that_ray_restarts_serves_again(ray_address):
    loop = asyncio.get_running_loop()
    cluster = ClusterConfig(ray=ray_address, max_restarts=1)
    worker = RayWorker(ModelConfig(name="echo"), cluster, loop, worker_id=f"t-{new_token()}")
    try:
        await asyncio.wait_for(worker.loaded, 60)
        first_pid = worker.pid
        ray.kill(ray.get_actor(worker.worker_id, namespace=NAMESPACE), no_restart=False)
        # restarting (not serving) while Ray restarts it: too brief to catch with a tiny echo model
        await until(lambda: worker.pid != first_pid and worker.state == "loaded", "Ray to restart the actor")
        assert "is gone" in worker.last_error
        assert worker.pid != first_pid and not worker.exited.done()
        assert (await worker.generate([GenRequest(prompt="back")]))[0].text == "echo: back"
    finally:
        await worker.stop()
    assert worker.exited.done()
