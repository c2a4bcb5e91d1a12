"""The embedding backend on tiny CLIP and SigLIP checkpoints, loaded through the real path (``create_backend`` on a
saved checkpoint dir, ``from_pretrained``): unit vectors, batched == one by one, bad files failing alone, and the
tiny builder behind `imageworks models build-tiny --embedding`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imageworks.config import ModelConfig
from imageworks.daemon.backends.embedding import EmbeddingBackend
from imageworks.daemon.backends.registry import create_backend
from imageworks.daemon.backends.vlm import VLMBackend
from imageworks.daemon.demo_model.embedding import FAMILIES, build_tiny_embedding
from imageworks.inference import EmbedRequest
from tests.fixtures_models import models_cache, tiny_model_dir  # noqa: F401


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("embedding-models")
    return {family: Path(build_tiny_embedding(root / family, family)["path"]) for family in FAMILIES}


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Seven distinct noise images of several sizes and modes, one of them twice under two names."""
    folder = tmp_path_factory.mktemp("embed-images")
    rng = np.random.default_rng(3)
    paths = []
    for i in range(6):
        pixels = rng.integers(0, 256, (40 + 7 * i, 60 - 3 * i, 3), dtype=np.uint8)
        img = Image.fromarray(pixels).convert("L" if i == 4 else "RGB")
        path = folder / f"noise{i}.{'png' if i % 2 else 'jpg'}"
        img.save(path)
        paths.append(str(path))
    (folder / "copy.png").write_bytes(Path(paths[1]).read_bytes())
    return [*paths, str(folder / "copy.png")]


def loaded(path: Path, batch_size: int = 8) -> EmbeddingBackend:
    backend = create_backend(ModelConfig(name=str(path), batch_size=batch_size))
    assert isinstance(backend, EmbeddingBackend)
    backend.load()
    return backend


def vectors(backend: EmbeddingBackend, paths: list[str]) -> np.ndarray:
    results = backend.embed([EmbedRequest(image=p) for p in paths])
    assert all(r.ok for r in results)
    return np.array([np.frombuffer(r.vector, np.float32) for r in results])


@pytest.mark.parametrize("family", FAMILIES)
def test_vectors_are_unit_length_and_batched_equals_one_by_one(
    family: str, checkpoints: dict[str, Path], images: list[str]
) -> None:
    backend = loaded(checkpoints[family], batch_size=3)  # 8 images: batches of 3, 3 and 2
    info_dim = backend.model_obj.config.projection_dim if family == "clip" else None
    batched = vectors(backend, images)
    assert batched.shape[0] == len(images) and (info_dim is None or batched.shape[1] == info_dim)
    assert np.allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    one_by_one = np.concatenate([vectors(backend, [p]) for p in images])
    assert np.allclose(batched, one_by_one, atol=1e-5)
    assert np.allclose(batched[1], batched[-1], atol=1e-6)  # the same file under two names: the same vector
    assert (batched @ batched.T)[np.triu_indices(6, 1)].max() < 0.999  # distinct images differ


@pytest.mark.parametrize("family", FAMILIES)
def test_both_families_load_through_the_real_path_and_report_their_identity(
    family: str, checkpoints: dict[str, Path]
) -> None:
    path = checkpoints[family]
    info = create_backend(ModelConfig(name=str(path))).load()
    assert info["model_type"] == family and info["path"] == str(path) and info["device"] == "cpu"
    assert info["revision"].startswith("local-") and info["parameters"] > 0
    saved = {p.name for p in path.iterdir()}
    assert {"config.json", "model.safetensors", "preprocessor_config.json"} <= saved


def test_a_bad_file_fails_alone(checkpoints: dict[str, Path], images: list[str], tmp_path: Path) -> None:
    empty, truncated = tmp_path / "empty.jpg", tmp_path / "truncated.jpg"
    empty.write_bytes(b"")
    Image.new("RGB", (300, 200), "red").save(tmp_path / "whole.jpg")
    truncated.write_bytes((tmp_path / "whole.jpg").read_bytes()[:200])
    backend = loaded(checkpoints["clip"], batch_size=2)
    results = backend.embed([EmbedRequest(image=p) for p in (images[0], str(empty), str(truncated), images[2])])
    assert [r.ok for r in results] == [True, False, False, True]
    assert "empty (0 bytes)" in (results[1].error or "") and (results[2].error or "").startswith("cannot")
    assert np.allclose(np.frombuffer(results[3].vector, np.float32), vectors(backend, [images[2]])[0], atol=1e-5)


def test_the_registry_tells_embedding_checkpoints_from_vlms_by_model_type(
    checkpoints: dict[str, Path],
    tiny_model_dir: Path,  # noqa: F811
) -> None:
    assert type(create_backend(ModelConfig(name=str(checkpoints["siglip"])))) is EmbeddingBackend
    assert type(create_backend(ModelConfig(name=str(tiny_model_dir)))) is VLMBackend
    assert type(create_backend(ModelConfig(name="tiny"))) is VLMBackend  # built-in names are not looked up
    assert EmbeddingBackend.capabilities == frozenset({"embed"})


def test_build_tiny_embedding_cli_writes_a_loadable_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "tiny-siglip"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "imageworks",
            "models",
            "build-tiny",
            str(out),
            "--embedding",
            "--family",
            "siglip",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["model_type"] == "siglip" and summary["path"] == str(out.resolve())
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "siglip" and config["vision_config"]["image_size"] == 32
    assert json.loads((out / "preprocessor_config.json").read_text())["image_processor_type"].startswith("Siglip")
