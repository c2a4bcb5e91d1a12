"""The demo model ships built: package data made by a script in the repo from a fixed seed, current with the prompts,
small, found by an installed ImageWorks, and loaded instead of trained. The script itself still trains (a token run
here; `python -m imageworks.daemon.demo_model.ship --check` compares a full run with the shipped bytes). That the
shipped weights name colours and shapes is tests/test_vlm_trained.py's subject."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from imageworks.config import ModelConfig
from imageworks.daemon.demo_model import ship, shipped
from imageworks.daemon.demo_model.build import recipe, shipped_demo_model
from tests.fixtures_models import models_cache, tiny_model_dir  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_build_is_current_small_and_whole() -> None:
    assert shipped_demo_model() == shipped.SHIPPED_DIR, (
        f"the shipped demo model is stale (the prompts or the recipe changed): run `{shipped.REBUILD_COMMAND}`"
    )
    record = json.loads((shipped.SHIPPED_DIR / "imageworks_tiny.json").read_text())
    assert record["trained"] is True and record["training"]["steps"] == recipe()["train"]["steps"]
    size = sum(p.stat().st_size for p in shipped.SHIPPED_DIR.iterdir())
    assert size < 3_000_000
    for path in shipped.SHIPPED_DIR.iterdir():
        assert path.stat().st_mode & 0o044 == 0o044, f"{path.name} is not readable by all"


def test_a_change_of_the_prompts_makes_it_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    from imageworks.tagging import profiles

    three = profiles.BUILTIN["three-step"]
    changed = profiles.CAPTION.__class__(name="caption", template="Caption this photo in one line.")
    monkeypatch.setitem(
        profiles.BUILTIN, "three-step", three.__class__(name=three.name, version=three.version, steps=(changed,))
    )
    assert shipped_demo_model() is None  # so `demo` trains a build of the new recipe instead


def test_an_installed_imageworks_finds_it_outside_the_repo(tmp_path: Path) -> None:
    """Run from elsewhere, so the import goes through the install (editable here), not the repo on sys.path."""
    code = "from imageworks.daemon.demo_model.build import shipped_demo_model; print(shipped_demo_model())"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    found = Path(out.stdout.strip())
    assert (found / "model.safetensors").is_file() and found.resolve() == shipped.SHIPPED_DIR.resolve()


def test_the_wheel_carries_it(tmp_path: Path) -> None:
    """The package-data globs of pyproject.toml, applied as setuptools applies them when it builds a wheel."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10
        import tomli as tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    globs = data["imageworks.daemon.demo_model"]
    package = ROOT / "daemon" / "demo_model"
    carried = {p.relative_to(package).as_posix() for pattern in globs for p in package.glob(pattern) if p.is_file()}
    shipped_files = {f"shipped/{p.name}" for p in shipped.SHIPPED_DIR.iterdir()}
    assert shipped_files <= carried


def test_a_token_run_of_the_script_trains_a_model_that_loads_and_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from imageworks.daemon.backends.vlm import VLMBackend
    from imageworks.daemon.demo_model import train
    from imageworks.daemon.demo_model.train import draw
    from imageworks.inference import GenRequest

    monkeypatch.setitem(train.RECIPE, "steps", 3)  # the script's path, not the fit, is under test
    monkeypatch.setitem(train.RECIPE, "warmup", 1)
    monkeypatch.setitem(train.RECIPE, "pool", 130)
    out = tmp_path / "demo"
    assert ship.main([str(out)]) == 0
    assert "demo model built in" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]  # the staging dir is gone
    record = json.loads((out / "imageworks_tiny.json").read_text())
    assert record["training"]["steps"] == 3 and record["recipe"]["train"]["steps"] == 3
    backend = VLMBackend(ModelConfig(name=str(out)))
    backend.load()
    image = tmp_path / "red.png"
    draw("red", "circle", "white", (112, 112)).save(image)
    result = backend.generate([GenRequest(prompt="Caption this.", image=str(image), max_new_tokens=8)])[0]
    assert result.ok and result.tokens > 0
    backend.close()
    # three steps of training do not give the shipped weights: --check says so, naming the file
    assert ship.differing_files(out) == ["model.safetensors"]


def test_a_tiny_build_runs_on_one_torch_thread_and_other_checkpoints_keep_the_default(
    tiny_model_dir: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    import shutil

    import torch

    from imageworks.daemon.backends.vlm import VLMBackend

    default = torch.get_num_threads()
    plain = tmp_path / "plain"  # the same checkpoint without the tiny build's record: any other checkpoint
    shutil.copytree(tiny_model_dir, plain)
    (plain / "imageworks_tiny.json").unlink()
    try:
        torch.set_num_threads(2)
        VLMBackend(ModelConfig(name=str(plain))).load()
        assert torch.get_num_threads() == 2
        VLMBackend(ModelConfig(name=str(tiny_model_dir))).load()
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(default)
