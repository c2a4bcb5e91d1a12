"""The embedding backend: CLIP and SigLIP checkpoints (local dir or HF cache) as image embedders, batched.

Runs inside the model worker process only; torch and transformers are imported inside functions. A checkpoint loads
through ``AutoModel`` and ``AutoImageProcessor`` (the PIL image processors: no torchvision needed); each image's
vector is the model's projected image features (``get_image_features``), L2-normalised, so a dot product is the
cosine that imageworks.similarity scores pairs with.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from imageworks.checkpoints import EMBEDDING_MODEL_TYPES, model_revision
from imageworks.inference import EMBED, EmbedRequest, EmbedResult

from .base import Backend, BackendError, LoadProgress, no_progress
from .images import ImageReadError, open_image
from .processor import read_json
from .vlm import pick_device_dtype, resolve_model_path

DECODE_MARGIN = 1.5
"""Images are decoded to about this many times the model's input side (JPEG draft mode: a camera photo decodes at
1/4 or 1/8 scale for a 224-px model), leaving the processor's own resize a little to average over."""
DEFAULT_INPUT_SIDE = 512


def input_side(image_processor: Any) -> int:
    """The side of the square the model sees (CLIP: shortest_edge then crop; SigLIP: height × width)."""
    sides = []
    for spec in (getattr(image_processor, "size", None), getattr(image_processor, "crop_size", None)):
        values = dict(spec) if spec else {}
        sides += [v for k, v in values.items() if k in ("shortest_edge", "height", "width") and isinstance(v, int)]
    return max(sides, default=DEFAULT_INPUT_SIDE)


class EmbeddingBackend(Backend):
    """A CLIP/SigLIP checkpoint served by transformers. ``load`` once, then ``embed`` batches."""

    capabilities = frozenset({EMBED})
    model_obj: Any = None
    image_processor: Any = None

    def load(self, progress: LoadProgress = no_progress) -> dict[str, Any]:
        from transformers import AutoImageProcessor, AutoModel

        path = resolve_model_path(self.model.name, progress)
        progress(-1.0, "loading the weights")
        model_type = read_json(path / "config.json").get("model_type", "")
        if model_type not in EMBEDDING_MODEL_TYPES:
            raise BackendError(
                f"{path}: model_type {model_type!r} is not an image-embedding model "
                f"(served: {', '.join(sorted(EMBEDDING_MODEL_TYPES))})"
            )
        device, dtype = pick_device_dtype(self.model.device, self.model.dtype)
        try:
            model = AutoModel.from_pretrained(path, dtype=dtype, local_files_only=True)
            image_processor = AutoImageProcessor.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError, KeyError, ImportError) as exc:
            raise BackendError(f"cannot load {path}: {type(exc).__name__}: {exc}") from exc
        model.to(device)
        model.eval()
        self.model_obj, self.image_processor = model, image_processor
        self.decode_pixels = int((DECODE_MARGIN * input_side(image_processor)) ** 2)
        return {
            "name": self.model.name,
            "path": str(path),
            "revision": model_revision(path),
            "device": device,
            "dtype": str(dtype).removeprefix("torch."),
            "parameters": sum(p.numel() for p in model.parameters()),
            "model_type": model_type,
            "batch_size": self.model.batch_size,
            "input_side": input_side(image_processor),
        }

    def close(self) -> None:
        self.model_obj = None
        self.image_processor = None

    def embed(self, requests: list[EmbedRequest], should_stop: Callable[[], bool] = lambda: False) -> list[EmbedResult]:
        if self.model_obj is None:
            raise BackendError("embed() before load()")
        results: list[EmbedResult | None] = [None] * len(requests)
        images: dict[int, Any] = {}
        for i, request in enumerate(requests):
            try:
                images[i] = open_image(request.image, self.decode_pixels, self.model.max_image_pixels)
            except ImageReadError as exc:
                results[i] = EmbedResult(error=str(exc))
        pending = list(images)
        size = max(1, self.model.batch_size)
        for start in range(0, len(pending), size):
            chunk = pending[start : start + size]
            if should_stop():
                for i in chunk:
                    results[i] = EmbedResult(error="cancelled")
                continue
            for i, result in zip(chunk, self._embed_batch([images[i] for i in chunk]), strict=True):
                results[i] = result
        return [r if r is not None else EmbedResult(error="cancelled") for r in results]

    def _embed_batch(self, images: list[Any]) -> list[EmbedResult]:
        import torch

        start = time.perf_counter()
        inputs = self.image_processor(images=images, return_tensors="pt").to(self.model_obj.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self.model_obj.dtype)
        with torch.inference_mode():
            features = self.model_obj.get_image_features(**inputs)
        if not isinstance(features, torch.Tensor):  # transformers 5 returns the vision output, projected pooler
            features = features.pooler_output
        vectors = torch.nn.functional.normalize(features.float(), dim=-1).cpu().numpy()
        share = (time.perf_counter() - start) / len(images)
        return [EmbedResult(vector=row.tobytes(), seconds=share) for row in vectors]
