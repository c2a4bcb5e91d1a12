"""`imageworks models build-tiny | list`, the tiny-model cache, and the throughput benchmark's --tiny smoke run."""

from __future__ import annotations

import importlib.util
import json
import shutil
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from imageworks.cli import main
from tests.fixtures_models import models_cache, tiny_model_dir  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]


def test_build_tiny_command(tmp_path: Path) -> None:
    out = tmp_path / "tiny"
    result = CliRunner().invoke(main, ["models", "build-tiny", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["path"] == str(out.resolve()) and summary["trained"] is False
    assert summary["parameters"] > 100_000 and len(summary["recipe"]) == 16
    assert (out / "config.json").exists() and (out / "model.safetensors").exists()
    # built once per recipe into the (per-test) cache dir, then copied
    from imageworks import paths

    assert list(paths.models_cache_dir().glob("tiny-qwen2_5_vl-untrained-*"))
    again = CliRunner().invoke(main, ["models", "build-tiny", str(out)])
    assert again.exit_code == 1 and "not an empty directory" in again.output


def test_list_finds_local_dirs_hf_cache_and_built_models(
    tmp_path: Path,
    tiny_model_dir: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    local = tmp_path / "models"
    shutil.copytree(tiny_model_dir, local / "my-tiny")
    (local / "text-only").mkdir()
    (local / "text-only" / "config.json").write_text('{"model_type": "qwen2"}')
    hub = tmp_path / "hub"
    snap = hub / "models--Qwen--Qwen2.5-VL-7B-Instruct-AWQ" / "snapshots" / ("c" * 40)
    snap.mkdir(parents=True)
    (snap / "config.json").write_text(
        json.dumps({"model_type": "qwen2_5_vl", "vision_config": {}, "quantization_config": {"quant_method": "awq"}})
    )
    (hub / "models--Qwen--Qwen2.5-VL-7B-Instruct-AWQ" / "refs").mkdir()
    (hub / "models--Qwen--Qwen2.5-VL-7B-Instruct-AWQ" / "refs" / "main").write_text("c" * 40)
    text_only = hub / "models--Qwen--Qwen2.5-7B" / "snapshots" / ("d" * 40)
    text_only.mkdir(parents=True)
    (text_only / "config.json").write_text('{"model_type": "qwen2"}')
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.setenv("IMAGEWORKS_MODELS_CACHE", str(tiny_model_dir.parent))

    result = CliRunner().invoke(main, ["models", "list", str(local), "--json"])
    assert result.exit_code == 0, result.output
    models = json.loads(result.stdout)["models"]
    by_source = {(m["source"], m["name"]) for m in models}
    assert ("local", str(local / "my-tiny")) in by_source
    assert ("hf-cache", "Qwen/Qwen2.5-VL-7B-Instruct-AWQ") in by_source
    assert ("built", "tiny") in by_source
    assert not any("text-only" in m["name"] or m["name"] == "Qwen/Qwen2.5-7B" for m in models)
    awq = next(m for m in models if m["source"] == "hf-cache")
    assert awq["quantization"] == "awq" and awq["revision"] == "c" * 40 and awq["ref"] == "main"

    text = CliRunner().invoke(main, ["models", "list", str(local)])
    assert text.exit_code == 0 and "Qwen/Qwen2.5-VL-7B-Instruct-AWQ" in text.output
    missing = CliRunner().invoke(main, ["models", "list", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "no such directory" in missing.output


def test_cache_key_follows_the_prompts(monkeypatch: pytest.MonkeyPatch) -> None:
    from imageworks.daemon.demo_model import build as tiny
    from imageworks.tagging import profiles

    before = tiny.recipe_hash(trained=True)
    assert tiny.recipe_hash(trained=False) != before
    changed = profiles.CAPTION.__class__(name="caption", template="Caption this photo in one line.")
    three = profiles.BUILTIN["three-step"]
    monkeypatch.setitem(
        profiles.BUILTIN, "three-step", three.__class__(name=three.name, version=three.version, steps=(changed,))
    )
    assert tiny.recipe_hash(trained=True) != before


def test_concurrent_builders_share_one_cache_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from imageworks.daemon.demo_model.build import demo_model_path

    monkeypatch.setenv("IMAGEWORKS_MODELS_CACHE", str(tmp_path))
    found: list[Path] = []
    errors: list[BaseException] = []

    def build() -> None:
        try:
            found.append(demo_model_path(trained=False))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(found)) == 1
    assert [p.name for p in tmp_path.iterdir()] == [found[0].name]  # the losers' temp dirs are gone
    assert (found[0] / "config.json").exists() and (found[0] / "model.safetensors").exists()


def test_benchmark_tiny_smoke(tmp_path: Path) -> None:
    from imageworks.daemon.demo_model import build as tiny

    recipe = tiny.recipe_hash(trained=True)
    spec = importlib.util.spec_from_file_location("vlm_throughput", ROOT / "bench" / "vlm_throughput.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "figures.json"
    report = bench.main(
        [
            *("--tiny", "--images", "3", "--size", "96x64", "--tokens", "3,4,5"),
            *("--batch-sizes", "1,4", "--warmup", "0", "--json", str(out)),
        ]
    )
    assert report["original"]["tokens"] == 3 * (3 + 4 + 5)  # fixed output length: EOS ignored
    assert set(report["batched"]) == {"1", "4"}
    assert report["batched"]["4"]["tokens"] == report["original"]["tokens"]
    assert report["batched"]["4"]["ratio_vs_original"] > 0
    assert json.loads(out.read_text())["images"] == 3
    assert bench.QWEN25_VL_7B_TEXT["hidden_size"] == 3584  # the real 7B architecture is written in the script
    # the bench builds from the tiny model's configs without changing them (they are the demo model's recipe)
    assert tiny.recipe_hash(trained=True) == recipe and tiny.shipped_demo_model() is not None
