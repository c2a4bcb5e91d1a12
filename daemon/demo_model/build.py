"""Tiny Qwen2.5-VL checkpoints, built offline in a fraction of a second (and optionally trained in about a minute).

``build_tiny(out)`` writes a real ``Qwen2_5_VLForConditionalGeneration`` checkpoint with random weights: a
byte-level BPE tokenizer trained on the spot (plus Qwen's special tokens and chat template), a 2-layer text model
of hidden size 64 and a 2-layer vision tower. It loads through exactly the code path of a downloaded checkpoint
(``daemon.backends.vlm``), so tests exercise real batching, padding and decoding; its output is garbage, which is
what tests of garbage-output handling want.

``build_tiny(out, trained=True)`` also fits it on CPU to answer the tagger's prompts (imageworks/tagging/profiles.py)
about synthetic Pillow images — a coloured shape on a plain background — see ``daemon.demo_model.train``.
``demo_model_path()`` returns the trained build (the demo model used when no real model is configured): the one that
ships as package data (``shipped.py``), or, when that is stale, a cached build made once per recipe (the cache key
hashes the recipe, the prompt texts and the library versions).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

DEMO_MODEL = "demo"
"""Model name meaning: the bundled tiny Qwen2.5-VL trained on synthetic shapes (shipped built: shipped.py)."""
DEMO_NAMES = {"": True, DEMO_MODEL: True, "tiny": False}
"""Names that select a built-in tiny checkpoint instead of a path or HF id -> whether it is the trained one."""

# Bump when the architecture, tokenizer or training data change: the cache key includes it.
RECIPE_VERSION = 1

# Qwen2.5-VL's special tokens, in the order of the real tokenizer (their ids differ: our vocab is tiny).
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

# The chat template of Qwen2-VL / Qwen2.5-VL checkpoints.
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Architecture of the tiny model. head_dim = 64 / 4 = 16, so the mrope sections sum to 8.
TEXT_CONFIG: dict[str, Any] = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 4096,
    "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]},
    "rope_theta": 10000.0,
    "rms_norm_eps": 1e-6,
}
VISION_CONFIG: dict[str, Any] = {
    "depth": 2,
    "hidden_size": 48,
    "intermediate_size": 96,
    "num_heads": 2,
    "out_hidden_size": 64,
    "patch_size": 14,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
    "window_size": 112,
    "fullatt_block_indexes": [1],
    "tokens_per_second": 2,
}
# The image processor of a tiny checkpoint caps images at 56x56 pixels (4x4 patches, 4 image tokens): what the
# trained model saw (at this size a 2-layer tower learns shapes, at 112x112 it did not within the time budget).
# The backend takes the smaller of this and the configured max_pixels.
TINY_MIN_PIXELS = 28 * 28
TINY_MAX_PIXELS = 84 * 84
VOCAB_SIZE = 512


def tokenizer_corpus() -> list[str]:
    """Text the tokenizer is trained on: the tagger's prompts and the trained model's answers, so both are short."""
    from . import train as tiny_train

    return tiny_train.corpus()


def train_tokenizer(corpus: list[str], vocab_size: int = VOCAB_SIZE):
    """A byte-level BPE with Qwen2's pre-tokenizer, trained on ``corpus``; returns a transformers Qwen2Tokenizer."""
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, trainers
    from tokenizers.models import BPE
    from transformers import Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    bpe = Tokenizer(BPE(unk_token=None, continuing_subword_prefix="", end_of_word_suffix="", fuse_unk=False))
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - len(SPECIAL_TOKENS),
        min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(corpus, trainer=trainer)
    state = json.loads(bpe.to_str())
    vocab = state["model"]["vocab"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in state["model"]["merges"]]
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,  # type: ignore[arg-type]  # transformers annotates list[str]; its tokenizers take (a, b) pairs
        unk_token=None,  # type: ignore[arg-type]  # annotated str, but None is its documented "no unknown token"
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS[1:],
        model_max_length=4096,
    )
    tokenizer.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS[1:]})
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def _model_config(tokenizer):
    from transformers import Qwen2_5_VLConfig

    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in SPECIAL_TOKENS}
    vocab_size = len(tokenizer)
    special = {
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
    }
    # bos/eos/pad in the text config too, or transformers warns that they lie outside the (tiny) vocab; deep copies,
    # as transformers fills in the nested rope_scaling dict (which would change recipe() after a first build)
    text = {**copy.deepcopy(TEXT_CONFIG), "vocab_size": vocab_size, **special}
    return Qwen2_5_VLConfig(
        text_config=text,
        vision_config=copy.deepcopy(VISION_CONFIG),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        vocab_size=vocab_size,  # type: ignore[call-arg]  # kept as an attribute at run time; the signature omits it
        tie_word_embeddings=False,
        **special,
    )


def build_tiny(
    out: str | os.PathLike[str], *, trained: bool = False, seed: int = 0, log=None, progress=None
) -> dict[str, Any]:
    """Write a tiny Qwen2.5-VL checkpoint to ``out`` (created; must not exist or be empty). Returns a summary:
    path, parameters, seconds, and for a trained build the training figures. ``log`` gets training messages,
    ``progress`` the training's fraction done."""
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLForConditionalGeneration

    from ..backends.processor import save_processor

    start = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    tokenizer = train_tokenizer(tokenizer_corpus())
    config = _model_config(tokenizer)
    model = Qwen2_5_VLForConditionalGeneration(config)
    model.eval()
    image_processor = _image_processor_cls()(min_pixels=TINY_MIN_PIXELS, max_pixels=TINY_MAX_PIXELS)
    model.generation_config = GenerationConfig(
        bos_token_id=config.text_config.bos_token_id,
        eos_token_id=[config.text_config.eos_token_id, config.text_config.pad_token_id],
        pad_token_id=config.text_config.pad_token_id,
        do_sample=False,
    )
    summary: dict[str, Any] = {"path": str(out), "trained": trained}
    save_processor(out, image_processor, tokenizer, CHAT_TEMPLATE)
    if trained:
        from .train import train

        summary["training"] = train(model, out, seed=seed, log=log, progress=progress)
    model.save_pretrained(out)
    summary["parameters"] = sum(p.numel() for p in model.parameters())
    summary["seconds"] = round(time.perf_counter() - start, 3)
    recorded = {k: v for k, v in summary.items() if k != "path"}  # out may be a temp dir renamed later
    (out / "imageworks_tiny.json").write_text(json.dumps({**recorded, "recipe": recipe(trained)}, indent=2) + "\n")
    return summary


TINY_THREADS = 1
"""torch threads a tiny build runs on: its matrices are too small for threads to pay. With torch's default (one per
core) the demo model tagged 8 images in 37 s instead of 1.8 s on this 2-core machine under load, at 20x the CPU:
the threads spend it waiting on each other (bench/RESULTS.md, "First results")."""


def use_tiny_threads(model_dir: Path) -> None:
    """Run on ``TINY_THREADS`` torch threads if ``model_dir`` is a tiny build (it carries imageworks_tiny.json: the
    demo model, ``tiny``, a copy made by ``models build-tiny``); any other checkpoint keeps torch's default."""
    if (model_dir / "imageworks_tiny.json").exists():
        import torch

        torch.set_num_threads(TINY_THREADS)


def _image_processor_cls():
    # the PIL implementation works with or without torchvision, and gives the same pixels everywhere
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    return Qwen2VLImageProcessorPil


def recipe(trained: bool = True) -> dict[str, Any]:
    """Everything the built files depend on; its hash names the cache entry."""
    import tokenizers
    import torch
    import transformers

    from imageworks.tagging import profiles

    prompts = [[step.system, step.template] for profile in profiles.BUILTIN.values() for step in profile.steps]
    data: dict[str, Any] = {
        "version": RECIPE_VERSION,
        "trained": trained,
        "text": TEXT_CONFIG,
        "vision": VISION_CONFIG,
        "pixels": [TINY_MIN_PIXELS, TINY_MAX_PIXELS],
        "vocab": VOCAB_SIZE,
        "prompts": prompts,
        "libs": [transformers.__version__, torch.__version__.split("+")[0], tokenizers.__version__],
    }
    if trained:
        from . import train as tiny_train

        data["train"] = tiny_train.RECIPE
    return data


def recipe_hash(trained: bool = True) -> str:
    return hashlib.sha256(json.dumps(recipe(trained), sort_keys=True).encode()).hexdigest()[:16]


def models_cache_root() -> Path:
    """Where built tiny models are cached: ``$IMAGEWORKS_MODELS_CACHE`` when set (tests share one across a
    session), else the cache dir's ``models/``."""
    override = os.environ.get("IMAGEWORKS_MODELS_CACHE")
    if override:
        path = Path(override)
        path.mkdir(parents=True, exist_ok=True)
        return path
    from imageworks import paths

    return paths.models_cache_dir()


def shipped_demo_model() -> Path | None:
    """The demo model shipped as package data (shipped.py), when it is there and current; else None."""
    from .shipped import shipped_model_path

    return shipped_model_path(recipe(trained=True))


def demo_model_path(trained: bool = True, *, shipped: bool = True, log=None, progress=None, waiting=None) -> Path:
    """The tiny model (trained: the demo model). The trained one ships built (``shipped.py``): that build, unless
    ``shipped`` is false or it is stale. Otherwise the cached build, made on first use, by one process at a time:
    builders take an exclusive lock on a file beside the cache entry, so of several workers starting together one
    trains and the others wait (``waiting()`` is called once when they start to), then load its build. The build goes
    into a temp dir renamed into place, so a builder killed mid-way leaves no half-built entry (the next one removes
    its temp dir). ``progress`` (fraction 0..1) is called only when this process builds."""
    import fcntl

    if trained and shipped:
        found = shipped_demo_model()
        if found is not None:
            return found
    root = models_cache_root()
    kind = "trained" if trained else "untrained"
    final = root / f"tiny-qwen2_5_vl-{kind}-{recipe_hash(trained)}"
    if (final / "config.json").exists():
        return final
    lock_path = root / f"{final.name}.lock"
    with open(lock_path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting:
                waiting()
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the builder ends, however it ends
        if not (final / "config.json").exists():  # else built by the process we waited for
            for stale in root.glob(f".{final.name}.*"):
                shutil.rmtree(stale, ignore_errors=True)  # a killed builder's: we hold the lock, so nobody owns it
            if progress:
                progress(0.0)  # building starts (an untrained build reports nothing else; training reports as it goes)
            tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=root))
            try:
                build_tiny(tmp, trained=trained, log=log, progress=progress)
                os.rename(tmp, final)  # atomic: the entry appears whole or not at all
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        # the entry exists, so every later caller returns before locking: the lock file is no longer needed
        lock_path.unlink(missing_ok=True)
    return final


def main(argv: list[str] | None = None) -> int:
    """``python -m daemon.demo_model.build OUT [--trained] [--quiet]``: copy the cached build (building it first if
    needed; --trained trains, whatever ships) to OUT and print a JSON summary on stdout; training progress goes to
    stderr unless --quiet. This is what ``imageworks models build-tiny`` runs."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m daemon.demo_model.build", description=main.__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--trained", action="store_true")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Writing model shards" bars are noise here
    start = time.perf_counter()
    log = None if args.quiet else (lambda msg: print(f"training: {msg}", file=sys.stderr, flush=True))
    try:
        cached = demo_model_path(trained=args.trained, shipped=False, log=log)
        if args.out.exists():
            args.out.rmdir()  # the CLI checked it is empty
        shutil.copytree(cached, args.out)
    except Exception as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    built = json.loads((args.out / "imageworks_tiny.json").read_text())
    summary = {
        "path": str(args.out.resolve()),
        "trained": args.trained,
        "parameters": built.get("parameters"),
        "recipe": recipe_hash(args.trained),
        "seconds": round(time.perf_counter() - start, 3),
        "build_seconds": built.get("seconds"),
        "training": built.get("training"),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
