"""The transformers VLM backend on the untrained tiny Qwen2.5-VL: loading like a real checkpoint, the processor
without torchvision, batched left-padded generation, per-row options, bad and huge images, cancellation."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from imageworks.config import ModelConfig
from imageworks.daemon.backends.base import BackendError
from imageworks.daemon.backends.registry import create_backend
from imageworks.inference import GenRequest
from tests.fixtures_models import models_cache, tiny_model_dir  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def loaded(tiny_model_dir: Path):  # noqa: F811
    """The tiny model loaded once for the module, and what its load reported."""
    from imageworks.daemon.backends.vlm import VLMBackend

    b = VLMBackend(ModelConfig(name=str(tiny_model_dir), batch_size=4))
    info = b.load()
    yield b, info
    b.close()


@pytest.fixture(scope="module")
def backend(loaded):
    return loaded[0]


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from imageworks.daemon.demo_model.train import draw

    root = tmp_path_factory.mktemp("images")
    out = {}
    for name, (colour, shape, bg, size) in {
        "red": ("red", "square", "white", (224, 224)),
        "blue": ("blue", "circle", "yellow", (300, 160)),
        "green": ("green", "triangle", "black", (90, 140)),
    }.items():
        path = root / f"{name}.png"
        draw(colour, shape, bg, size).save(path)
        out[name] = str(path)
    jpeg = root / "red.jpg"
    draw("red", "circle", "blue", (640, 480)).save(jpeg, quality=90)
    out["jpeg"] = str(jpeg)
    return out


def png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def write_huge_png(path: Path, width: int, height: int, rows: int | None = None) -> None:
    """A 1-bit all-white PNG: 76 KB on disk for 20000x20000, width*height pixels once decoded. ``rows`` writes
    only that many rows of pixel data (a header-only giant, for checks that must refuse before decoding)."""
    row = b"\x00" + b"\xff" * ((width + 7) // 8)
    comp = zlib.compressobj(9)
    body = b"".join(comp.compress(row) for _ in range(height if rows is None else rows)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", body) + png_chunk(b"IEND", b"")
    )


# -- building and loading ----------------------------------------------------------------------------------------


def test_tiny_builds_small_with_the_real_architecture(tmp_path: Path) -> None:
    from imageworks.daemon.demo_model.build import TEXT_CONFIG, build_tiny

    summary = build_tiny(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["model_type"] == "qwen2_5_vl"
    text = config["text_config"]
    assert text["hidden_size"] == 64 and text["num_hidden_layers"] == 2
    head_dim = TEXT_CONFIG["hidden_size"] // TEXT_CONFIG["num_attention_heads"]
    assert sum(text["rope_parameters"]["mrope_section"]) == head_dim // 2
    assert config["vision_config"]["depth"] == 2
    # special ids live in the text config too (transformers warns otherwise) and inside the tiny vocab
    for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
        assert 0 <= text[key] < text["vocab_size"]
    assert summary["parameters"] < 1_000_000


def test_loads_through_the_real_checkpoint_path(loaded, tiny_model_dir: Path) -> None:  # noqa: F811
    _, info = loaded
    assert info["device"] == "cpu" and info["dtype"] == "float32"
    assert info["parameters"] > 100_000
    assert info["revision"].startswith("local-") and len(info["revision"]) > 8
    assert info["path"] == str(tiny_model_dir)
    # the factory routes any non-echo name to this backend
    assert type(create_backend(ModelConfig(name=str(tiny_model_dir)))).__name__ == "VLMBackend"


def test_a_first_build_reports_load_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from imageworks.daemon.backends.vlm import VLMBackend

    monkeypatch.setenv("IMAGEWORKS_MODELS_CACHE", str(tmp_path))  # empty: "tiny" is built on this first use
    reports: list[tuple[float, str]] = []
    info = VLMBackend(ModelConfig(name="tiny")).load(lambda fraction, what: reports.append((fraction, what)))
    assert info["model_type"] == "qwen2_5_vl"
    assert reports == [(0.0, "building the tiny model (first run only)"), (-1.0, "loading the weights")]


def test_training_reports_rising_progress_to_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from imageworks.daemon.demo_model import train
    from imageworks.daemon.demo_model.build import build_tiny

    monkeypatch.setitem(train.RECIPE, "steps", 3)  # a token run: the figures, not the fit, are under test
    monkeypatch.setitem(train.RECIPE, "warmup", 1)
    monkeypatch.setitem(train.RECIPE, "pool", 130)
    fractions: list[float] = []
    build_tiny(tmp_path / "m", trained=True, progress=fractions.append)
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert len([f for f in fractions if f < train.ENCODE_SHARE]) == 3  # the pool is encoded in steps of 64


def test_revision_of_an_hf_cache_snapshot(tmp_path: Path) -> None:
    from imageworks.daemon.backends.vlm import model_revision

    snap = tmp_path / "models--Qwen--X" / "snapshots" / ("a" * 40)
    snap.mkdir(parents=True)
    assert model_revision(snap) == "a" * 40


def test_local_revision_changes_when_weights_are_rewritten(tmp_path: Path, tiny_model_dir: Path) -> None:  # noqa: F811
    from imageworks.daemon.backends.vlm import model_revision

    copy = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, copy)
    before = model_revision(copy)
    weights = copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes() + b"")
    import os

    os.utime(weights, ns=(1, 1))
    assert model_revision(copy) != before


def test_unknown_or_non_vlm_model_is_a_clear_error(tmp_path: Path) -> None:
    from imageworks.daemon.backends.vlm import VLMBackend

    with pytest.raises(BackendError, match="no such directory"):
        VLMBackend(ModelConfig(name=str(tmp_path / "missing"))).load()
    (tmp_path / "llm").mkdir()
    (tmp_path / "llm" / "config.json").write_text('{"model_type": "qwen2"}')
    with pytest.raises(BackendError, match="not a vision-language"):
        VLMBackend(ModelConfig(name=str(tmp_path / "llm"))).load()
    with pytest.raises(BackendError, match="Hugging Face cache"):
        VLMBackend(ModelConfig(name="nobody/no-such-model")).load()


def test_importing_the_backend_does_not_import_torch() -> None:
    code = "import daemon.backends.vlm, daemon.demo_model.build, sys; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"


# -- the processor, with and without torchvision -----------------------------------------------------------------


def _check_processor(path: Path, image: str) -> None:
    from PIL import Image

    from imageworks.daemon.backends.processor import load_processor

    processor = load_processor(path)
    assert processor.tokenizer.padding_side == "left"
    text = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert "<|vision_start|><|image_pad|><|vision_end|>" in text and text.endswith("<|im_start|>assistant\n")
    enc = processor(text=[text], images=[Image.open(image).convert("RGB")], return_tensors="pt")
    grid = enc["image_grid_thw"][0]
    image_tokens = int((enc["input_ids"][0] == processor.image_token_id).sum())
    assert image_tokens == int(grid.prod()) // 4  # the image pad was expanded to the merged patch count


def test_processor_loads_from_our_dir(tiny_model_dir: Path, images) -> None:  # noqa: F811
    pre = json.loads((tiny_model_dir / "preprocessor_config.json").read_text())
    # our dirs name the released classes, not our image-only subclass
    assert pre["processor_class"] == "Qwen2_5_VLProcessor"
    assert pre["image_processor_type"] == "Qwen2VLImageProcessor"
    _check_processor(tiny_model_dir, images["red"])


def test_processor_loads_from_a_released_layout(tmp_path: Path, tiny_model_dir: Path, images) -> None:  # noqa: F811
    """Qwen2.5-VL as released: chat_template.json, processor_class Qwen2_5_VLProcessor everywhere."""
    released = tmp_path / "released"
    shutil.copytree(tiny_model_dir, released)
    template = (released / "chat_template.jinja").read_text()
    (released / "chat_template.jinja").unlink()
    (released / "chat_template.json").write_text(json.dumps({"chat_template": template}))
    (released / "processor_config.json").write_text(json.dumps({"processor_class": "Qwen2_5_VLProcessor"}))
    _check_processor(released, images["blue"])


def test_auto_processor_is_not_enough_without_torchvision(tiny_model_dir: Path) -> None:  # noqa: F811
    """Why load_processor exists: here AutoProcessor cannot build a Qwen2_5_VLProcessor at all."""
    from transformers.utils import is_torchvision_available

    if is_torchvision_available():
        pytest.skip("torchvision is installed here: AutoProcessor works, load_processor is not needed")
    from transformers import AutoProcessor

    try:
        processor = AutoProcessor.from_pretrained(tiny_model_dir)
    except Exception:
        return
    assert not hasattr(processor, "image_processor")


# -- generation --------------------------------------------------------------------------------------------------


def test_batch_of_four_left_padded_equals_one_by_one(backend, images) -> None:
    requests = [
        GenRequest(prompt="Write a caption.", image=images["red"], max_new_tokens=12),
        GenRequest(prompt="List keywords for this photo please, as JSON.", image=images["blue"], max_new_tokens=20),
        GenRequest(prompt="Hi", image=None, max_new_tokens=7, system="Be brief."),
        GenRequest(prompt="Describe it.", image=images["green"], max_new_tokens=16, system="You tag photos."),
    ]
    batched = backend.generate(requests)
    alone = [backend.generate([r])[0] for r in requests]
    assert [r.error for r in batched] == [None] * 4
    assert [r.text for r in batched] == [r.text for r in alone]
    assert [r.tokens for r in batched] == [r.tokens for r in alone]
    for request, result in zip(requests, batched, strict=True):
        assert 0 < result.tokens <= request.max_new_tokens and result.seconds > 0


def test_ignore_eos_gives_fixed_lengths(backend, images) -> None:
    requests = [GenRequest(prompt="a", image=images["red"], max_new_tokens=n, ignore_eos=True) for n in (5, 17, 30, 9)]
    assert [r.tokens for r in backend.generate(requests)] == [5, 17, 30, 9]


def test_a_batch_larger_than_the_configured_size_runs_whole_in_order(backend, images) -> None:
    requests = [GenRequest(prompt=f"p{i}", image=images["red"], max_new_tokens=3 + i) for i in range(9)]
    batched = backend.generate(requests)  # batch_size 4, but the batching queue is what cuts batches: one call
    assert [r.text for r in batched] == [backend.generate([r])[0].text for r in requests]


def test_sampling_is_seeded_and_mixes_with_greedy_rows(backend, images) -> None:
    greedy = GenRequest(prompt="caption", image=images["red"], max_new_tokens=15)
    hot = GenRequest(prompt="caption", image=images["red"], max_new_tokens=15, temperature=1.5, top_p=0.95, seed=7)
    a = backend.generate([greedy, hot])
    b = backend.generate([greedy, hot])
    assert a[1].text == b[1].text  # same seed, same sample
    assert a[0].text == backend.generate([greedy])[0].text  # a greedy row is unaffected by sampled neighbours
    other = backend.generate([GenRequest(**{**_fields(hot), "seed": 8})])[0]
    assert other.text != a[1].text or other.tokens != a[1].tokens


def _fields(request: GenRequest) -> dict:
    import msgspec

    return msgspec.structs.asdict(request)


def test_checkpoint_sampling_defaults_do_not_leak(tmp_path: Path, tiny_model_dir: Path, images) -> None:  # noqa: F811
    """Qwen ships generation_config.json with top_k=1, top_p=0.001 and EOS ids; a request's own settings win."""
    from imageworks.daemon.backends.vlm import VLMBackend

    copy = tmp_path / "qwen-like"
    shutil.copytree(tiny_model_dir, copy)
    gen = json.loads((copy / "generation_config.json").read_text())
    gen.update(do_sample=True, top_k=1, top_p=0.001, temperature=0.01)
    (copy / "generation_config.json").write_text(json.dumps(gen))
    b = VLMBackend(ModelConfig(name=str(copy)))
    b.load()
    hot = [
        GenRequest(prompt="caption", image=images["red"], max_new_tokens=20, temperature=2.0, seed=s, ignore_eos=True)
        for s in range(4)
    ]
    texts = {b.generate([r])[0].text for r in hot}
    assert len(texts) > 1  # top_k=1 from the checkpoint would make every sample the argmax
    greedy = GenRequest(prompt="caption", image=images["red"], max_new_tokens=20, ignore_eos=True)
    assert b.generate([greedy])[0].tokens == 20


def test_bad_images_fail_alone(backend, images, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"this is not an image at all" * 10)
    truncated = tmp_path / "truncated.jpg"
    data = Path(images["jpeg"]).read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    requests = [
        GenRequest(prompt="caption", image=images["red"], max_new_tokens=8),
        GenRequest(prompt="caption", image=str(empty), max_new_tokens=8),
        GenRequest(prompt="caption", image=str(garbage), max_new_tokens=8),
        GenRequest(prompt="caption", image=str(truncated), max_new_tokens=8),
        GenRequest(prompt="caption", image=str(tmp_path / "missing.jpg"), max_new_tokens=8),
        GenRequest(prompt="caption", image=images["jpeg"], max_new_tokens=8),
    ]
    results = backend.generate(requests)
    assert results[0].ok and results[5].ok and results[0].tokens > 0
    assert "empty (0 bytes)" in results[1].error
    assert "not an image format" in results[2].error
    assert "truncated" in results[3].error
    assert "No such file" in results[4].error
    for r in results[1:5]:
        assert not r.ok and r.text == ""
    # the good rows match what they give alone
    assert results[0].text == backend.generate([requests[0]])[0].text


def test_huge_png_is_downscaled_under_the_cap_and_refused_above_it(backend, tmp_path: Path) -> None:
    from imageworks.daemon.backends.images import open_image

    huge = tmp_path / "huge.png"
    write_huge_png(huge, 20000, 20000)  # 400 Mpx: beyond Pillow's decompression-bomb guard
    img = open_image(str(huge), 1024 * 28 * 28, max_image_pixels=400_000_000)  # a cap raised for stitched panoramas
    assert img.mode == "RGB" and img.width * img.height <= 1024 * 28 * 28 and img.width >= 800
    result = backend.generate([GenRequest(prompt="caption", image=str(huge), max_new_tokens=4)])[0]
    assert not result.ok and "model.max_image_pixels" in str(result.error)  # the default cap: this item alone fails


def test_image_modes_orientation_and_size_limit(tmp_path: Path) -> None:
    from PIL import Image

    from imageworks.daemon.backends.images import ImageReadError, open_image

    # EXIF orientation 6 (rotate 90° clockwise to view): a 300x100 file is shown 100x300
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (300, 100), "red").save(tmp_path / "rotated.jpg", exif=exif)
    assert open_image(str(tmp_path / "rotated.jpg"), 10**6).size == (100, 300)
    # transparency is flattened onto white, not black
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(tmp_path / "clear.png")
    assert open_image(str(tmp_path / "clear.png"), 10**6).getpixel((0, 0)) == (255, 255, 255)
    # 16-bit greys are scaled to 8 bits, not clipped to white
    Image.new("I;16", (8, 8), 32768).save(tmp_path / "grey16.png")
    assert open_image(str(tmp_path / "grey16.png"), 10**6).getpixel((0, 0))[0] in range(120, 136)
    # beyond the cap (model.max_image_pixels): refused from the header, before decoding
    write_huge_png(tmp_path / "giant.png", 30000, 30000, rows=1)
    with pytest.raises(ImageReadError, match="more than"):
        open_image(str(tmp_path / "giant.png"), 10**6)


def test_max_pixels_caps_what_the_vision_tower_sees(tiny_model_dir: Path, images) -> None:  # noqa: F811
    from imageworks.daemon.backends.images import open_image
    from imageworks.daemon.backends.vlm import VLMBackend

    b = VLMBackend(ModelConfig(name=str(tiny_model_dir), max_pixels=56 * 56))
    b.load()
    assert b.max_pixels == 56 * 56
    img = open_image(images["jpeg"], b.max_pixels)
    assert img.width * img.height <= 56 * 56
    enc = b.processor(text=[b.prompt_text(GenRequest(prompt="x"), True)], images=[img], return_tensors="pt")
    assert int(enc["image_grid_thw"][0].prod()) * 14 * 14 <= 56 * 56


def test_a_batch_uses_the_processor_outputs_prepared_with_its_images(backend, images) -> None:
    """Each image is processed once, in the feed, ahead of its batch: the batch concatenates those outputs, and they
    equal what the processor gives for the batch as a whole."""
    import torch

    from imageworks.daemon.backends.images import open_image

    processor = backend.image_processor
    pictures = [open_image(images[name], backend.max_pixels) for name in ("red", "blue", "green")]
    whole = processor.inner(images=list(pictures), return_tensors="pt")
    for picture in pictures:
        processor.prepare(picture)
    joined = processor(images=pictures, return_tensors="pt")
    assert torch.equal(joined["pixel_values"], whole["pixel_values"])
    assert torch.equal(joined["image_grid_thw"], whole["image_grid_thw"])
    computed = processor.computed
    requests = [GenRequest(prompt=f"p{i}", image=images[name], max_new_tokens=4) for i, name in enumerate(images)]
    for _round in range(3):
        assert all(r.ok for r in backend.generate(requests))
    assert processor.computed == computed  # no image processed at a batch: all in the feed, once


def test_should_stop_cancels_mid_generate(backend, images) -> None:
    calls = {"n": 0}

    def should_stop() -> bool:
        calls["n"] += 1
        return calls["n"] > 5

    requests = [
        GenRequest(prompt="go on", image=images["red"], max_new_tokens=3),
        GenRequest(prompt="go on forever", image=images["blue"], max_new_tokens=4000, ignore_eos=True),
        GenRequest(prompt="later", image=images["green"], max_new_tokens=4000, ignore_eos=True),
        GenRequest(prompt="later", image=images["green"], max_new_tokens=4000, ignore_eos=True),
        GenRequest(prompt="next batch", image=images["green"], max_new_tokens=4000, ignore_eos=True),
    ]
    start = time.perf_counter()
    results = backend.generate(requests, should_stop=should_stop)
    assert time.perf_counter() - start < 10
    assert results[0].ok and results[0].tokens == 3  # finished before the stop
    assert [r.error for r in results[1:]] == ["cancelled"] * 4
