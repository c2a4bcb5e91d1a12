"""Embeddings through a real daemon: the ``model.embed`` request and its refusals, `imageworks similar --method
embedding|both` on scikit-image photos and their near-copies with the tiny CLIP (random weights), the embedding
cache and re-thresholding proved by the daemon's counters, and the VLM slot untouched by the embed slot.

What random weights can honestly give: the tiny CLIP's vectors follow the pixels, so a photo's re-encoded and
resized copies score ≥ 0.998 with it, while distinct photos score up to ~0.98 (everything looks alike to an untrained
model). At threshold 0.99 the copies group and distinct photos stay apart; the 2 % crops sit near the line
(0.995–0.9999 here) and are not asserted.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from imageworks import protocol as P
from imageworks.cli import main
from imageworks.client import Client
from imageworks.daemon.demo_model.embedding import build_tiny_embedding
from imageworks.errors import DaemonError
from tests.test_similarity import PHOTOS, near_copies
from tests.waiting import wait_for

pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_tiny_embedding(tmp_path_factory.mktemp("clip") / "tiny-clip", "clip")["path"]


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("embed-photos")
    for name in PHOTOS:
        near_copies(name, folder)
    (folder / "empty.jpg").write_bytes(b"")
    whole = (folder / "coffee.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(whole[: len(whole) // 3])
    return folder


def similar(*args: str) -> dict:
    result = CliRunner().invoke(main, ["similar", *args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def counters(c: Client) -> P.Counters:
    return c.status().counters


def stems(group: dict) -> set[str]:
    return {Path(p).stem.split("_")[0] for p in group["paths"]}


def test_embed_request_is_refused_without_a_model_and_serves_unit_vectors_once_loaded(
    start_daemon, clip_dir: str, library: Path
) -> None:
    start_daemon(IMAGEWORKS_MODEL_NAME="echo")
    paths = [str(library / "chelsea.jpg"), str(library / "empty.jpg"), str(library / "chelsea_small.jpg")]
    with Client("t") as c:
        with pytest.raises(DaemonError, match="no embedding model is loaded") as refused:
            c.embed(paths)
        assert refused.value.code == "no_model" and not c.status().slots["embed"].loaded  # nothing loaded by it
        c.load_model(clip_dir, slot="embed", wait=True)
        with pytest.raises(DaemonError, match="holds"):
            c.embed(paths, model="/some/other/model")
        reply = c.embed(paths, model=clip_dir)
        assert reply.model == clip_dir and reply.revision.startswith("local-") and reply.dim == 16
        assert reply.errors[1].startswith("cannot read image") and reply.vectors[1] == b""
        a, b = (np.frombuffer(reply.vectors[i], "<f4") for i in (0, 2))
        assert abs(np.linalg.norm(a) - 1) < 1e-5 and float(a @ b) > 0.99
        assert counters(c).embed_requests == 3


def test_similar_with_embeddings_groups_copies_caches_vectors_and_regroups_without_requests(
    start_daemon, clip_dir: str, library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGEWORKS_SIMILARITY_EMBEDDING_MODEL", clip_dir)
    start_daemon(IMAGEWORKS_MODEL_NAME="echo")
    readable = 4 * len(PHOTOS)
    with Client("t") as c:
        vlm = c.load_model(wait=True)

        # configured model: "both" by default; the CLI loads the empty embed slot (the VLM stays as it was)
        first = similar(str(library), "--threshold", "0.99")
        assert first["method"] == "both" and first["searched"] and first["embedded"] == readable
        assert first["hashed"] == readable + 2
        assert {Path(s["path"]).name for s in first["skipped"]} == {"empty.jpg", "truncated.jpg"}
        status = c.status()
        assert status.slots["embed"].loaded and status.slots["embed"].name == clip_dir
        assert status.slots["vlm"].loaded and status.slots["vlm"].worker_pid == vlm.worker_pid
        requests = status.counters.embed_requests
        assert requests == 1  # 20 images: one batch

        # embeddings alone: a new search; only the two broken files (which hashing kept from the model before)
        # are sent, every other vector comes from the cache
        by_vector = similar(str(library), "--threshold", "0.99", "--method", "embedding")
        assert by_vector["method"] == "embedding" and by_vector["searched"] and by_vector["embedded"] == 2
        requests += 1
        assert counters(c).embed_requests == requests
        for result in (first, by_vector):
            assert all(len(stems(g)) == 1 for g in result["groups"])  # distinct photos never share a group
            for name in PHOTOS:  # each photo with its resized and re-encoded copies
                group = next(g for g in result["groups"] if f"{name}.jpg" in {Path(p).name for p in g["paths"]})
                assert {f"{name}_small.jpg", f"{name}_q15.jpg"} <= {Path(p).name for p in group["paths"]}
        # broken files go to the model too in this method, and come back reported, not fatal
        problems = {Path(s["path"]).name: s["problem"] for s in by_vector["skipped"]}
        assert set(problems) == {"empty.jpg", "truncated.jpg"} and all(
            p.startswith("cannot") for p in problems.values()
        )
        assert all(str(library) not in p for p in problems.values())  # the path is said once, by the report

        # a new threshold: no hashing, no embedding, no search; below the stored floor a new search, still from
        # the caches (the broken files' problems are cached too)
        for method in ("both", "embedding"):
            for threshold in ("0.995", "0.8"):
                again = similar(str(library), "--threshold", threshold, "--method", method)
                assert again["hashed"] == 0 and again["embedded"] == 0 and len(again["skipped"]) == 2
                assert again["searched"] is (threshold == "0.8")
        assert counters(c).embed_requests == requests

        # a changed file is embedded again, alone
        changed = library / "rocket_q15.jpg"
        os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
        rerun = similar(str(library), "--threshold", "0.99")
        assert rerun["embedded"] == 1 and rerun["hashed"] == 1 and counters(c).embed_requests == requests + 1

        # the embed slot unloads on its own; the VLM stays loaded in the same worker
        embed_pid = c.status().slots["embed"].worker_pid
        c.unload_model(slot="embed")
        wait_for(lambda: not _alive(embed_pid), timeout=10, what="the embed worker to exit")
        after = c.status().slots
        assert after["embed"].state == "none" and after["vlm"].loaded and after["vlm"].worker_pid == vlm.worker_pid


def test_a_different_model_in_the_embed_slot_is_refused_not_replaced(
    start_daemon, clip_dir: str, library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGEWORKS_SIMILARITY_EMBEDDING_MODEL", clip_dir)
    start_daemon(IMAGEWORKS_MODEL_NAME="echo")
    with Client("t") as c:
        c.load_model("echo", slot="embed", wait=True)
        result = CliRunner().invoke(main, ["similar", str(library), "--method", "embedding"])
        assert result.exit_code == 1
        assert result.stderr.strip().splitlines() == [
            f"error: the daemon's embed slot holds 'echo', not the configured {clip_dir!r}; "
            f"switch explicitly: imageworks models switch {clip_dir} --slot embed"
        ]
        assert c.status().slots["embed"].name == "echo" and counters(c).embed_requests == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
