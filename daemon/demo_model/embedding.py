"""Tiny CLIP / SigLIP checkpoints for tests and benchmarks: real config classes with small dims, random weights.

Built offline in well under a second and saved the way released checkpoints are (``save_pretrained`` for the model
and its image processor), so the embedding backend loads them through the same ``from_pretrained`` path as
``openai/clip-vit-base-patch32`` or ``google/siglip-base-patch16-224``. The slow (PIL) image processors are saved:
no torchvision needed. With random weights the vectors still follow the pixels (identical images embed
identically, resized copies nearly so), but they know nothing of what a photo shows.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Literal

Family = Literal["clip", "siglip"]
FAMILIES: tuple[Family, ...] = ("clip", "siglip")
IMAGE_SIDE = 32
"""The tiny models see 32×32 images in 8×8 patches."""
SEED = 0


def _tower(hidden: int = 32) -> dict[str, Any]:
    return {"hidden_size": hidden, "intermediate_size": 2 * hidden, "num_hidden_layers": 2, "num_attention_heads": 2}


def build_tiny_embedding(out: str | Path, family: Family = "clip") -> dict[str, Any]:
    """Write a tiny ``family`` checkpoint (model + image processor) into ``out``; returns a summary."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, SiglipConfig, SiglipImageProcessor, SiglipModel

    start = time.perf_counter()
    out = Path(out)
    torch.manual_seed(SEED)
    vision = {**_tower(), "image_size": IMAGE_SIDE, "patch_size": 8}
    # token ids inside the tiny vocabulary (the config classes default to CLIP's 49406/49407)
    text = {**_tower(), "vocab_size": 64, "max_position_embeddings": 16, "bos_token_id": 0, "eos_token_id": 1}
    model: CLIPModel | SiglipModel
    processor: CLIPImageProcessor | SiglipImageProcessor
    if family == "clip":
        config = CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)
        model = CLIPModel(config)
        processor = CLIPImageProcessor(
            size={"shortest_edge": IMAGE_SIDE}, crop_size={"height": IMAGE_SIDE, "width": IMAGE_SIDE}
        )
    elif family == "siglip":
        model = SiglipModel(SiglipConfig(text_config=text, vision_config=vision))
        processor = SiglipImageProcessor(size={"height": IMAGE_SIDE, "width": IMAGE_SIDE})
    else:
        raise ValueError(f"unknown embedding family {family!r} (one of {', '.join(FAMILIES)})")
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return {
        "path": str(out.resolve()),
        "family": family,
        "model_type": model.config.model_type,
        "parameters": sum(p.numel() for p in model.parameters()),
        "seconds": round(time.perf_counter() - start, 3),
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m daemon.demo_model.embedding OUT [--family clip|siglip]``: build a tiny embedding checkpoint in
    OUT and print a JSON summary on stdout. This is what ``imageworks models build-tiny --embedding`` runs."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m daemon.demo_model.embedding", description=main.__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--family", choices=FAMILIES, default="clip")
    args = parser.parse_args(argv)
    try:
        summary = build_tiny_embedding(args.out, args.family)
    except Exception as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
