"""Tagging throughput: the original method (one image, three sequential requests) vs our batched backend.

Builds Qwen2.5-VL-7B with its real architecture (config values below, as published with the checkpoint) and random
weights, so nothing is downloaded; outputs have a fixed length (EOS ignored), so the figures measure the machine,
not the answers. Every request goes through ``daemon.backends.vlm.VLMBackend.generate``: the daemon's code path.

    python bench/vlm_throughput.py                 # on a GPU: 7B, bf16, 64 photos, batch sizes 1 4 8 16 32
    python bench/vlm_throughput.py --tiny          # smoke test on CPU with the tiny model (seconds)
    python bench/vlm_throughput.py --json out.json # also write the figures as JSON

(a) the original: per image, caption → keywords → description, each a separate generate() of one request.
(b) ours: the same 3·N requests in batches of B (captions and keywords of a chunk of images together, then their
descriptions, since a description's prompt quotes its caption and keywords).
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from imageworks.config import ModelConfig  # noqa: E402
from imageworks.daemon.backends.processor import save_processor  # noqa: E402
from imageworks.daemon.backends.vlm import VLMBackend  # noqa: E402
from imageworks.inference import GenRequest  # noqa: E402
from imageworks.tagging import profiles  # noqa: E402

# Qwen/Qwen2.5-VL-7B-Instruct config.json (public). Token ids are replaced by our tokenizer's; vocab size is kept.
QWEN25_VL_7B_TEXT: dict[str, Any] = {
    "vocab_size": 152064,
    "hidden_size": 3584,
    "intermediate_size": 18944,
    "num_hidden_layers": 28,
    "num_attention_heads": 28,
    "num_key_value_heads": 4,
    "hidden_act": "silu",
    "max_position_embeddings": 128000,
    "max_window_layers": 28,
    "rms_norm_eps": 1e-6,
    "rope_theta": 1000000.0,
    "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
    "sliding_window": 32768,
    "use_sliding_window": False,
    "tie_word_embeddings": False,
}
QWEN25_VL_7B_VISION: dict[str, Any] = {
    "depth": 32,
    "hidden_act": "silu",
    "hidden_size": 1280,
    "intermediate_size": 3420,
    "num_heads": 16,
    "in_chans": 3,
    "out_hidden_size": 3584,
    "patch_size": 14,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
    "window_size": 112,
    "fullatt_block_indexes": [7, 15, 23, 31],
    "tokens_per_second": 2,
}
# Qwen2.5-VL's released image processor: min 56·56 pixels, max 12845056 (ModelConfig.max_pixels caps it lower).
QWEN_MIN_PIXELS, QWEN_MAX_PIXELS = 3136, 12845056


def build_backend(tiny: bool, device: str, dtype_name: str, max_pixels: int, batch_size: int, workdir: Path):
    """A VLMBackend around a random-weight model: Qwen2.5-VL-7B's architecture, or the tiny one with --tiny."""
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from imageworks.daemon.backends.processor import load_processor
    from imageworks.daemon.backends.vlm import pick_device_dtype
    from imageworks.daemon.demo_model import build as tiny_model

    device, dtype = pick_device_dtype(device, dtype_name)
    tokenizer = tiny_model.train_tokenizer(tiny_model.tokenizer_corpus())
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in tiny_model.SPECIAL_TOKENS}
    special = {
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
    }
    if tiny:
        # deep copies: the config classes change nested dicts (the rope parameters) in place, and the tiny
        # model's dicts are its recipe (a changed one made the shipped demo model look stale to the same process)
        text = {**copy.deepcopy(tiny_model.TEXT_CONFIG), "vocab_size": len(tokenizer)}
        vision = copy.deepcopy(tiny_model.VISION_CONFIG)
    else:
        text, vision = copy.deepcopy(QWEN25_VL_7B_TEXT), copy.deepcopy(QWEN25_VL_7B_VISION)
    config = Qwen2_5_VLConfig(
        text_config={**text, **special},
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
        **special,
    )
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    save_processor(
        workdir,
        Qwen2VLImageProcessorPil(min_pixels=QWEN_MIN_PIXELS, max_pixels=QWEN_MAX_PIXELS),
        tokenizer,
        tiny_model.CHAT_TEMPLATE,
    )
    (workdir / "config.json").write_text(config.to_json_string())
    start = time.perf_counter()
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2_5_VLForConditionalGeneration._from_config(config, dtype=dtype)
    model.generation_config = GenerationConfig(
        eos_token_id=special["eos_token_id"], pad_token_id=special["pad_token_id"]
    )
    build_s = time.perf_counter() - start
    backend = VLMBackend(ModelConfig(name=str(workdir), batch_size=batch_size, max_pixels=max_pixels, device=device))
    backend.attach(model, load_processor(workdir))
    info = {
        "model": "tiny Qwen2.5-VL" if tiny else "Qwen2.5-VL-7B architecture, random weights",
        "parameters": sum(p.numel() for p in model.parameters()),
        "device": device,
        "dtype": str(dtype).removeprefix("torch."),
        "build_seconds": round(build_s, 1),
    }
    return backend, info


def synthetic_photos(n: int, size: tuple[int, int], out: Path) -> list[str]:
    """Photo-like JPEGs: gradient sky, ground, a few shapes and noise (so the encoder sees real entropy)."""
    from PIL import Image, ImageDraw, ImageFilter

    rng = random.Random(0)
    paths = []
    width, height = size
    for i in range(n):
        top = tuple(rng.randint(60, 200) for _ in range(3))
        bottom = tuple(rng.randint(20, 160) for _ in range(3))
        img = Image.linear_gradient("L").resize(size)
        img = Image.merge(
            "RGB", [img.point(lambda v, a=a, b=b: a + (b - a) * v // 255) for a, b in zip(top, bottom, strict=True)]
        )
        pen = ImageDraw.Draw(img)
        for _ in range(rng.randint(3, 8)):
            x, y = rng.randint(0, width), rng.randint(0, height)
            r = rng.randint(width // 20, width // 5)
            fill = tuple(rng.randint(0, 255) for _ in range(3))
            (pen.ellipse if rng.random() < 0.5 else pen.rectangle)((x - r, y - r, x + r, y + r), fill=fill)
        noise = Image.effect_noise(size, 24).convert("RGB")
        img = Image.blend(img, noise, 0.15).filter(ImageFilter.SMOOTH)
        path = out / f"photo_{i:04d}.jpg"
        img.save(path, quality=90)
        paths.append(str(path))
    return paths


def step_requests(step: profiles.PromptStep, image: str, tokens: int) -> GenRequest:
    prompt = profiles.render(step, max_keywords=25, caption="A placeholder caption.", keywords=["a", "b", "c"])
    return GenRequest(prompt=prompt, system=step.system, image=image, max_new_tokens=tokens, ignore_eos=True)


def run_original(backend: VLMBackend, photos: list[str], tokens: list[int]) -> dict[str, Any]:
    """(a) per image: caption, keywords, description, one request per generate() call, in sequence."""
    steps = (profiles.CAPTION, profiles.KEYWORDS, profiles.DESCRIPTION)
    return _timed(
        backend,
        lambda: [
            backend.generate([step_requests(step, photo, n)])[0]
            for photo in photos
            for step, n in zip(steps, tokens, strict=True)
        ],
        len(photos),
    )


def run_batched(backend: VLMBackend, photos: list[str], tokens: list[int], batch: int) -> dict[str, Any]:
    """(b) chunks of ``batch`` requests: captions and keywords of a chunk of images, then their descriptions."""
    import msgspec

    backend.model = msgspec.structs.replace(backend.model, batch_size=batch)

    def work():
        results = []
        for start in range(0, len(photos), batch):
            chunk = photos[start : start + batch]  # 2·batch first-stage requests, then batch descriptions
            first = [
                step_requests(s, p, n)
                for p in chunk
                for s, n in zip((profiles.CAPTION, profiles.KEYWORDS), tokens[:2], strict=True)
            ]
            for at in range(0, len(first), batch):  # the daemon's batching queue cuts batches: here, we do
                results += backend.generate(first[at : at + batch])
            results += backend.generate([step_requests(profiles.DESCRIPTION, p, tokens[2]) for p in chunk])
        return results

    return _timed(backend, work, len(photos))


def _timed(backend: VLMBackend, work, n_images: int) -> dict[str, Any]:
    import torch

    cuda = backend.device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    results = work()
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    errors = [r.error for r in results if r.error]
    if errors:
        raise RuntimeError(f"benchmark requests failed: {errors[:3]}")
    tokens = sum(r.tokens for r in results)
    return {
        "seconds": round(seconds, 3),
        "images_per_s": round(n_images / seconds, 3),
        "tokens_per_s": round(tokens / seconds, 1),
        "tokens": tokens,
        "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny model on CPU: a smoke test of this script")
    parser.add_argument("--images", type=int, help="synthetic photos (default 64; 8 with --tiny)")
    parser.add_argument("--size", default=None, help="photo size WxH (default 1600x1067; 320x240 with --tiny)")
    parser.add_argument("--max-pixels", type=int, default=1024 * 28 * 28, help="ModelConfig.max_pixels")
    parser.add_argument(
        "--tokens", default=None, help="fixed output tokens of caption,keywords,description (default 32,48,96)"
    )
    parser.add_argument("--batch-sizes", default=None, help="default 1,4,8,16,32 (1,4,8 with --tiny)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--warmup", type=int, default=1, help="untimed warm-up images")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    n = args.images or (8 if args.tiny else 64)
    width, height = map(int, (args.size or ("320x240" if args.tiny else "1600x1067")).split("x"))
    tokens = [int(t) for t in (args.tokens or "32,48,96").split(",")]
    batch_sizes = [int(b) for b in (args.batch_sizes or ("1,4,8" if args.tiny else "1,4,8,16,32")).split(",")]
    if not args.tiny and args.device == "auto":
        import torch

        if not torch.cuda.is_available():
            parser.error("no GPU here: the 7B benchmark needs one (use --tiny for a CPU smoke test)")

    with tempfile.TemporaryDirectory(prefix="iw-bench-") as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "model").mkdir()
        (tmp_path / "photos").mkdir()
        backend, info = build_backend(args.tiny, args.device, args.dtype, args.max_pixels, 1, tmp_path / "model")
        photos = synthetic_photos(n + args.warmup, (width, height), tmp_path / "photos")
        warm, photos = photos[: args.warmup], photos[args.warmup :]
        if warm:
            run_original(backend, warm, tokens)
            run_batched(backend, warm, tokens, max(batch_sizes))
        report: dict[str, Any] = {
            **info,
            "gpu": _gpu_name(),
            "host": platform.node(),
            "images": n,
            "photo_size": f"{width}x{height}",
            "max_pixels": args.max_pixels,
            "tokens_per_step": tokens,
        }
        params = info["parameters"]
        size = f"{params / 1e9:.2f} B" if params >= 1e9 else f"{params / 1e6:.2f} M"
        print(f"{info['model']}: {size} parameters on {info['device']} ({info['dtype']})")
        print(f"{n} photos {width}x{height}, fixed outputs {tokens} tokens (caption, keywords, description)")
        original = run_original(backend, photos, tokens)
        report["original"] = original
        print(_line("(a) original, 3 sequential requests", original))
        report["batched"] = {}
        for b in batch_sizes:
            figures = run_batched(backend, photos, tokens, b)
            figures["ratio_vs_original"] = round(figures["images_per_s"] / original["images_per_s"], 2)
            report["batched"][str(b)] = figures
            print(_line(f"(b) batched, batch size {b:>2}", figures) + f"  ×{figures['ratio_vs_original']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return report


def _gpu_name() -> str | None:
    import torch

    return torch.cuda.get_device_name() if torch.cuda.is_available() else None


def _line(label: str, f: dict[str, Any]) -> str:
    mem = f"  peak {f['peak_gpu_gib']:.1f} GiB" if f.get("peak_gpu_gib") is not None else ""
    return f"{label:<40} {f['images_per_s']:8.2f} images/s  {f['tokens_per_s']:9.1f} tokens/s{mem}"


if __name__ == "__main__":
    main()
