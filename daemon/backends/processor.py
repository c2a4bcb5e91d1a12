"""The processor of a Qwen-VL checkpoint: one loader for every machine, with or without torchvision.

Without torchvision, ``Qwen2_5_VLProcessor`` cannot be built (it resolves a video processor), and a checkpoint saved
with a subclass of it is read back by ``AutoProcessor`` as a bare tokenizer. ``load_processor`` builds an image-only
subclass of the family's processor from the checkpoint's own image processor, tokenizer and chat template.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from imageworks.checkpoints import VLM_PROCESSOR_CLASSES


def _image_only_processor_class(base: type) -> type:
    """``base`` (e.g. Qwen2_5_VLProcessor) without its video processor: the video processor needs torchvision,
    and we never send videos. ProcessorMixin derives its sub-processors from ``__init__``'s parameters, so an
    ``__init__`` naming only image_processor and tokenizer is all it takes."""

    class ImageOnlyProcessor(base):
        def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
            super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)

    ImageOnlyProcessor.__name__ = ImageOnlyProcessor.__qualname__ = f"{base.__name__}ImageOnly"
    return ImageOnlyProcessor


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _chat_template(path: Path, tokenizer) -> str | None:
    """Checkpoints keep the template in chat_template.jinja (new), chat_template.json (Qwen2.5-VL as released)
    or tokenizer_config.json."""
    if (path / "chat_template.jinja").exists():
        return (path / "chat_template.jinja").read_text(encoding="utf-8")
    template = read_json(path / "chat_template.json").get("chat_template")
    return template or getattr(tokenizer, "chat_template", None)


def load_processor(path: str | os.PathLike[str], *, max_pixels: int | None = None):
    """The processor of a Qwen-VL checkpoint dir, built the same way on every machine: tokenizer + image
    processor (AutoImageProcessor picks the torchvision or the PIL implementation) + the family's processor class
    without its video processor. ``AutoProcessor`` cannot be used: without torchvision it fails on real checkpoints
    (they name Qwen2_5_VLProcessor, which insists on a video processor). ``max_pixels`` lowers the image processor's
    pixel cap (never raises it). The tokenizer pads on the left, for batched generation."""
    import transformers
    from transformers import AutoImageProcessor, AutoTokenizer

    path = Path(path)
    model_type = read_json(path / "config.json").get("model_type", "qwen2_5_vl")
    base_name = VLM_PROCESSOR_CLASSES.get(model_type, "Qwen2_5_VLProcessor")
    base = getattr(transformers, base_name)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    tokenizer.padding_side = "left"
    image_processor = AutoImageProcessor.from_pretrained(path, local_files_only=True)
    if max_pixels is not None:
        cap_image_processor(image_processor, max_pixels)
    processor = _image_only_processor_class(base)(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=_chat_template(path, tokenizer)
    )
    return processor


def image_pixel_cap(image_processor) -> int | None:
    size = getattr(image_processor, "size", None) or {}
    cap = size.get("longest_edge") if isinstance(size, dict) else getattr(size, "longest_edge", None)
    return cap or getattr(image_processor, "max_pixels", None)


def cap_image_processor(image_processor, max_pixels: int) -> int:
    """Lower the processor's max pixels to ``max_pixels`` (keeps a smaller cap the checkpoint already has)."""
    current = image_pixel_cap(image_processor)
    cap = min(max_pixels, current) if current else max_pixels
    size = dict(getattr(image_processor, "size", None) or {})
    size["longest_edge"] = cap
    size.setdefault("shortest_edge", 56 * 56)
    if size["shortest_edge"] > cap:
        size["shortest_edge"] = cap
    image_processor.size = size
    if hasattr(image_processor, "max_pixels"):
        image_processor.max_pixels = cap
    return cap


PREPARED = "imageworks.prepared"
"""Where an image prepared ahead carries its own processor outputs (in the PIL image's ``info``)."""


class PreparedImageProcessor:
    """The checkpoint's image processor, answering a batch from its images' own outputs where they were prepared
    ahead (``prepare``, in the image feed's threads): Qwen's image processor treats each image on its own, so the
    batch's outputs are theirs concatenated, and a photo's later rounds, or a batch prepared while another
    generated, cost no processing when the batch runs. Any other call goes to the wrapped processor (``computed``
    counts the images it processed there)."""

    def __init__(self, inner: Any, dtype: Any = None) -> None:
        self.inner = inner
        self.dtype = dtype
        """Outputs are kept in the model's dtype (the model casts them to it anyway): half the memory in bf16."""
        self.computed = 0

    def __getattr__(self, name: str) -> Any:  # merge_size, size, ...: the processor's own
        return getattr(self.inner, name)

    def prepare(self, image: Any) -> int:
        """Process ``image`` alone and attach the outputs to it; returns the bytes they take."""
        out = self.inner(images=[image], return_tensors="pt")
        pixels = out["pixel_values"]
        if self.dtype is not None and pixels.is_floating_point():
            pixels = pixels.to(self.dtype)
        grid = out["image_grid_thw"]
        image.info[PREPARED] = (pixels, grid)
        return pixels.element_size() * pixels.nelement() + grid.element_size() * grid.nelement()

    def __call__(self, images: Any = None, *args: Any, **kwargs: Any) -> Any:
        found = [getattr(img, "info", {}).get(PREPARED) for img in images] if isinstance(images, list) else [None]
        ready = [entry for entry in found if entry is not None]
        plain = (
            not args
            and kwargs.get("return_tensors") == "pt"
            and all(value is None for key, value in kwargs.items() if key != "return_tensors")
        )
        if ready and plain and len(ready) == len(found):
            import torch
            from transformers import BatchFeature

            return BatchFeature(
                {
                    "pixel_values": torch.cat([pixels for pixels, _ in ready]),
                    "image_grid_thw": torch.cat([grid for _, grid in ready]),
                }
            )
        self.computed += len(images) if isinstance(images, list) else 1
        return self.inner(images, *args, **kwargs)


def save_processor(out: str | os.PathLike[str], image_processor, tokenizer, chat_template: str) -> None:
    """Save tokenizer, image processor and chat template the way released Qwen2.5-VL checkpoints lay them out,
    naming ``Qwen2_5_VLProcessor`` and ``Qwen2VLImageProcessor`` (not our classes), so our dirs and downloaded
    ones load through the same path."""
    out = Path(out)
    tokenizer.save_pretrained(out)
    image_processor.save_pretrained(out)
    pre = read_json(out / "preprocessor_config.json")
    pre.update({"image_processor_type": "Qwen2VLImageProcessor", "processor_class": "Qwen2_5_VLProcessor"})
    pre.pop("auto_map", None)
    (out / "preprocessor_config.json").write_text(json.dumps(pre, indent=2, sort_keys=True) + "\n")
    tok = read_json(out / "tokenizer_config.json")
    tok["processor_class"] = "Qwen2_5_VLProcessor"
    (out / "tokenizer_config.json").write_text(json.dumps(tok, indent=2, sort_keys=True) + "\n")
    (out / "chat_template.jinja").write_text(chat_template, encoding="utf-8")
