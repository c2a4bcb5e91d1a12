"""Training data and the CPU training loop of the trained tiny model (the demo model).

Images are drawn by Pillow: one coloured shape (circle, square or triangle) on a plain background of another
colour, with jittered colours, sizes and positions. Answers follow the tagger's prompts
(imageworks/tagging/profiles.py): a caption sentence, ``{"keywords": [...]}`` JSON, a four-sentence description
and the single-pass ``{"caption", "keywords", "description"}`` JSON. Training feeds the model through the same
processor and chat template the backend uses at inference, so the backend's generate gives the learned answers.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 35, 35),
    "green": (40, 165, 60),
    "blue": (40, 75, 215),
    "yellow": (240, 215, 40),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}
SHAPES = ("circle", "square", "triangle")
MAX_KEYWORDS = (5, 8, 10, 15, 20, 25)

# Everything here changes the trained weights, so it is part of the cache key (build.recipe()).
RECIPE: dict[str, Any] = {
    "colours": COLOURS,
    "shapes": SHAPES,
    "max_keywords": MAX_KEYWORDS,
    "steps": 900,
    "batch": 16,
    "lr": 3e-3,
    "warmup": 30,
    "pool": 2048,
    "image_sizes": [56, 168],
    "extent": [0.6, 0.85],  # the shape's size, as a fraction of the image's shorter side
    "shift": 0.05,  # how far its centre may move, as a fraction of the image
    "threads": 1,
    # auxiliary loss: a linear probe on the mean-pooled vision output predicts colour, shape and background, so
    # the vision tower gets a direct signal (the probe is discarded; the checkpoint is a plain Qwen2.5-VL)
    "aux_weight": 1.0,
}


# ---------------------------------------------------------------------------------------------------------------
# Answers


def caption(colour: str, shape: str, background: str) -> str:
    return f"A {colour} {shape} on a {background} background."


def keywords(colour: str, shape: str, background: str) -> list[str]:
    return [colour, shape, f"{background} background", f"{colour} {shape}", "simple shapes"]


def description(colour: str, shape: str, background: str) -> str:
    return (
        f"The photo shows a {colour} {shape} on a plain {background} background. "
        f"The {shape} is flat and {colour}, with clean edges. "
        "Nothing else is in the frame. "
        "It is a simple synthetic picture."
    )


def answer(step: str, colour: str, shape: str, background: str) -> str:
    if step == "caption":
        return caption(colour, shape, background)
    if step == "keywords":
        return json.dumps({"keywords": keywords(colour, shape, background)})
    if step == "description":
        return description(colour, shape, background)
    return json.dumps(
        {
            "caption": caption(colour, shape, background),
            "keywords": keywords(colour, shape, background),
            "description": description(colour, shape, background),
        }
    )


def prompt(step_name: str, colour: str, shape: str, background: str, max_keywords: int) -> tuple[str, str]:
    """(system, user text) of the tagger's step ``step_name``, as the tagger renders it."""
    from imageworks.tagging import profiles

    steps: dict[str, profiles.PromptStep] = {s.name: s for p in profiles.BUILTIN.values() for s in p.steps}
    step = steps[step_name]
    text = profiles.render(
        step,
        max_keywords=max_keywords,
        caption=caption(colour, shape, background),
        keywords=keywords(colour, shape, background),
    )
    return step.system, text


STEP_NAMES = ("caption", "keywords", "description", "all")


def corpus() -> list[str]:
    """Texts the tokenizer is trained on: every prompt and every answer (so both tokenize short)."""
    texts = []
    for colour in COLOURS:
        for background in COLOURS:
            if background == colour:
                continue
            for shape in SHAPES:
                for step in STEP_NAMES:
                    system, text = prompt(step, colour, shape, background, 25)
                    texts += [system, text, answer(step, colour, shape, background)]
    texts += [f"List up to {n} keywords" for n in range(1, 101)]
    return texts


# ---------------------------------------------------------------------------------------------------------------
# Images


def draw(
    colour: str, shape: str, background: str, size: tuple[int, int] = (112, 112), rng: random.Random | None = None
):
    """A Pillow image: ``shape`` in ``colour`` on ``background``, jittered when ``rng`` is given."""
    from PIL import Image, ImageDraw

    jitter = rng is not None
    rng = rng or random.Random(0)

    def tone(name: str) -> tuple[int, int, int]:
        r, g, b = COLOURS[name]
        d = 18 if jitter else 0
        return tuple(max(0, min(255, c + rng.randint(-d, d))) for c in (r, g, b))  # type: ignore[return-value]

    width, height = size
    img = Image.new("RGB", size, tone(background))
    pen = ImageDraw.Draw(img)
    side = min(width, height)
    extent = rng.uniform(*RECIPE["extent"]) * side
    shift = RECIPE["shift"]
    cx = width / 2 + rng.uniform(-shift, shift) * width
    cy = height / 2 + rng.uniform(-shift, shift) * height
    half = extent / 2
    box = (cx - half, cy - half, cx + half, cy + half)
    fill = tone(colour)
    if shape == "circle":
        pen.ellipse(box, fill=fill)
    elif shape == "square":
        pen.rectangle(box, fill=fill)
    else:
        pen.polygon([(cx, cy - half), (cx + half, cy + half), (cx - half, cy + half)], fill=fill)
    return img


def sample_attributes(rng: random.Random) -> tuple[str, str, str]:
    colour, background = rng.sample(list(COLOURS), 2)
    return colour, rng.choice(SHAPES), background


# ---------------------------------------------------------------------------------------------------------------
# Training


def _encode_pool(
    processor, n: int, rng: random.Random, progress: Callable[[float], None] | None = None
) -> list[dict[str, Any]]:
    """``n`` training examples run through the backend's processor: input ids, pixels, grid, mm types, labels."""
    lo, hi = RECIPE["image_sizes"]
    examples = []
    tokenizer = processor.tokenizer
    for index in range(n):
        if progress and index % 64 == 0:
            progress(index / n)
        colour, shape, background = sample_attributes(rng)
        step = rng.choice(STEP_NAMES)
        system, text = prompt(step, colour, shape, background, rng.choice(MAX_KEYWORDS))
        size = (rng.randint(lo, hi), rng.randint(lo, hi))
        messages = [
            {"role": "system", "content": [{"type": "text", "text": system}]},
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]},
        ]
        reply = answer(step, colour, shape, background) + "<|im_end|>"
        full = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) + reply
        enc = processor(text=[full], images=[draw(colour, shape, background, size, rng)], return_tensors="pt")
        reply_ids = tokenizer(reply, add_special_tokens=False)["input_ids"]
        ids = enc["input_ids"][0]
        if ids[-len(reply_ids) :].tolist() != reply_ids:
            raise RuntimeError("tiny training: the answer does not tokenize the same inside the prompt")
        labels = ids.clone()
        labels[: len(ids) - len(reply_ids)] = -100
        examples.append(
            {
                "attributes": (list(COLOURS).index(colour), SHAPES.index(shape), list(COLOURS).index(background)),
                "input_ids": ids,
                "labels": labels,
                "mm_token_type_ids": enc["mm_token_type_ids"][0],
                "pixel_values": enc["pixel_values"],
                "image_grid_thw": enc["image_grid_thw"],
            }
        )
    return examples


def _collate(examples: list[dict[str, Any]], pad_id: int) -> dict[str, Any]:
    import torch

    longest = max(len(e["input_ids"]) for e in examples)

    def pad(key: str, value: int):
        return torch.stack([torch.nn.functional.pad(e[key], (0, longest - len(e[key])), value=value) for e in examples])

    ids = pad("input_ids", pad_id)
    return {
        "input_ids": ids,
        "attention_mask": pad("input_ids", -1).ne(-1).long(),
        "labels": pad("labels", -100),
        "mm_token_type_ids": pad("mm_token_type_ids", 0),
        "pixel_values": torch.cat([e["pixel_values"] for e in examples]),
        "image_grid_thw": torch.cat([e["image_grid_thw"] for e in examples]),
        "attributes": torch.tensor([e["attributes"] for e in examples]),
    }


def _vision_probe(model):
    """A linear probe on the vision tower's merged output, fed by a forward hook during the normal forward."""
    import torch

    visual = model.model.visual
    probe = torch.nn.Linear(visual.config.out_hidden_size, 2 * len(COLOURS) + len(SHAPES))
    captured: dict[str, Any] = {}
    hook = visual.merger.register_forward_hook(lambda _m, _i, out: captured.__setitem__("merged", out))
    return probe, captured, hook


def _probe_loss(probe, merged, batch: dict[str, Any], attributes) -> Any:
    import torch
    from torch.nn.functional import cross_entropy

    sizes = (batch["image_grid_thw"].prod(-1) // 4).tolist()  # merged tokens per image (2x2 spatial merge)
    pooled = torch.stack([chunk.mean(0) for chunk in merged.split(sizes)])
    logits = probe(pooled)
    n = len(COLOURS)
    return (
        cross_entropy(logits[:, :n], attributes[:, 0])
        + cross_entropy(logits[:, n : n + len(SHAPES)], attributes[:, 1])
        + cross_entropy(logits[:, n + len(SHAPES) :], attributes[:, 2])
    )


# Share of the training's progress spent encoding the example pool (the rest is the optimisation steps).
ENCODE_SHARE = 0.1


def train(
    model,
    checkpoint_dir: Path,
    *,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
    progress: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Fit ``model`` in place on synthetic examples encoded by the processor saved in ``checkpoint_dir``.
    Single-threaded (the machine is shared), about a minute on one core. Returns steps, seconds, final loss.
    ``progress`` gets the fraction done (0..1) as it goes: the daemon shows it while the demo model builds."""
    import torch

    from ..backends.processor import load_processor

    start = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(RECIPE["threads"])
    try:
        rng = random.Random(seed)
        torch.manual_seed(seed)
        processor = load_processor(checkpoint_dir)
        encode_progress = (lambda f: progress(f * ENCODE_SHARE)) if progress else None
        pool = _encode_pool(processor, RECIPE["pool"], rng, encode_progress)
        encoded_s = time.perf_counter() - start
        pad_id = processor.tokenizer.pad_token_id
        model.train()
        probe, captured, hook = _vision_probe(model)
        optimizer = torch.optim.AdamW(
            [*model.parameters(), *probe.parameters()], lr=RECIPE["lr"], weight_decay=0.01, betas=(0.9, 0.98)
        )
        steps, warmup = RECIPE["steps"], RECIPE["warmup"]

        def lr_at(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / (steps - warmup)))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
        losses: list[float] = []
        for step in range(steps):
            batch = _collate(rng.sample(pool, RECIPE["batch"]), pad_id)
            attributes = batch.pop("attributes")
            loss = model(**batch, use_cache=False).loss
            if RECIPE["aux_weight"]:
                loss = loss + RECIPE["aux_weight"] * _probe_loss(probe, captured["merged"], batch, attributes)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            if progress:
                progress(ENCODE_SHARE + (1 - ENCODE_SHARE) * (step + 1) / steps)
            if log and (step % 50 == 0 or step == steps - 1):
                log(f"step {step + 1}/{steps} loss {sum(losses[-50:]) / len(losses[-50:]):.3f}")
        hook.remove()
        model.eval()
        return {
            "steps": steps,
            "batch": RECIPE["batch"],
            "encode_seconds": round(encoded_s, 2),
            "seconds": round(time.perf_counter() - start, 2),
            "final_loss": round(sum(losses[-20:]) / len(losses[-20:]), 4),
        }
    finally:
        torch.set_num_threads(threads)
