"""The transformers backend: Qwen2.5-VL / Qwen2-VL / Qwen3-VL checkpoints (local dir or HF cache), batched.

Runs inside the model worker process only; torch and transformers are imported inside functions, so importing
this module is cheap. A batch, as the daemon's batching queue cut it, becomes one left-padded ``generate`` per
sampling seed (it is not cut again here); each row has its own
max_new_tokens, EOS handling and sampling settings (``row_controls.py``), so one
``generate`` call serves a mixed batch and results come back per request, in order.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from imageworks.checkpoints import model_revision
from imageworks.inference import CANCELLED, GenRequest, GenResult, first_stop

from ..demo_model.build import DEMO_MODEL, DEMO_NAMES, use_tiny_threads
from .base import NO_ROWS, Backend, BackendError, LoadProgress, Rows, TextStream, no_progress
from .feed import ImageFeed, Prepared
from .images import ImageReadError, open_image
from .processor import PreparedImageProcessor, cap_image_processor, load_processor, read_json
from .row_controls import make_row_sampling, make_row_stopping

# ---------------------------------------------------------------------------------------------------------------
# Model resolution and identity


def resolve_model_path(name: str, progress: LoadProgress = no_progress) -> Path:
    """A local checkpoint dir for ``name``: a built-in tiny name, a directory, or an HF id in the local cache.
    A built-in name is built on first use (the demo model trains for a minute or two: reported to ``progress``), by
    one worker while the others wait for its build."""
    if name in DEMO_NAMES:
        from ..demo_model.build import demo_model_path

        trained = DEMO_NAMES[name]
        what = "training the demo model (first run only)" if trained else "building the tiny model (first run only)"
        other = "train the demo model" if trained else "build the tiny model"
        return demo_model_path(
            trained=trained,
            progress=lambda fraction: progress(fraction, what),
            waiting=lambda: progress(-1.0, f"waiting for another worker to {other}"),
        )
    path = Path(name).expanduser()
    if path.is_dir():
        return path.resolve()
    if name.count("/") == 1 and not name.startswith((".", "/", "~")):
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(repo_id=name, local_files_only=True))
        except Exception as exc:
            raise BackendError(
                f"model {name!r} is not in the Hugging Face cache; download it first (`hf download {name}`)"
            ) from exc
    raise BackendError(f"model {name!r}: no such directory, and not a Hugging Face id (owner/name)")


def pick_device_dtype(device: str, dtype: str) -> tuple[str, Any]:
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype == "auto":
        dtype = "bfloat16" if device.startswith("cuda") else "float32"
    try:
        torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
    except KeyError as exc:
        raise BackendError(f"model.dtype {dtype!r}: use auto, float32, bfloat16 or float16") from exc
    return device, torch_dtype


# ---------------------------------------------------------------------------------------------------------------


class VLMBackend(Backend):
    """A Qwen-VL checkpoint served by transformers. ``load`` once, then ``generate`` batches."""

    model_obj: Any = None
    processor: Any = None

    def load(self, progress: LoadProgress = no_progress) -> dict[str, Any]:
        from transformers import AutoModelForImageTextToText

        path = resolve_model_path(self.model.name, progress)
        use_tiny_threads(path)
        progress(-1.0, "loading the weights")
        config = read_json(path / "config.json")
        if not config:
            raise BackendError(f"{path}: no config.json; not a transformers checkpoint")
        if "vision_config" not in config:
            raise BackendError(f"{path}: not a vision-language checkpoint (config.json has no vision_config)")
        device, dtype = pick_device_dtype(self.model.device, self.model.dtype)
        kwargs: dict[str, Any] = {"dtype": dtype, "local_files_only": True}
        if device.startswith("cuda"):
            kwargs["device_map"] = device
        try:
            model = AutoModelForImageTextToText.from_pretrained(path, **kwargs)
            processor = load_processor(path)
        except ImportError as exc:
            hint = " (AWQ checkpoints need `pip install imageworks[awq]`)" if "quantization_config" in config else ""
            raise BackendError(f"cannot load {path}: {exc}{hint}") from exc
        except (OSError, ValueError, KeyError) as exc:
            raise BackendError(f"cannot load {path}: {type(exc).__name__}: {exc}") from exc
        if not device.startswith("cuda"):
            model.to(device)  # type: ignore[arg-type]  # transformers' decorator types `to` as taking a model
        self.attach(model, processor)
        self.path = path
        return {
            # the demo model's records have always named its built checkpoint dir (the JSONL export shows it)
            "name": str(path) if self.model.name == DEMO_MODEL else self.model.name or DEMO_MODEL,
            "path": str(path),
            "revision": model_revision(path),
            "device": device,
            "dtype": str(dtype).removeprefix("torch."),
            "parameters": sum(p.numel() for p in model.parameters()),
            "model_type": config.get("model_type", ""),
            "max_pixels": self.max_pixels,
            "batch_size": self.model.batch_size,
        }

    def attach(self, model: Any, processor: Any) -> None:
        """Serve an already-built model and processor (``load`` ends here; the benchmark, with random weights,
        starts here): caps the processor's pixels, reads EOS / pad ids and the checkpoint's repetition penalty."""
        model.eval()
        self.model_obj = model
        self.device = str(model.device)
        self.processor = processor
        processor.tokenizer.padding_side = "left"
        self.max_pixels = cap_image_processor(processor.image_processor, self.model.max_pixels)
        self.image_processor = PreparedImageProcessor(processor.image_processor, model.dtype)
        processor.image_processor = self.image_processor
        self.feed = ImageFeed(self.prepare_image, budget_bytes=self.model.input_cache_mb * 2**20)
        tokenizer = processor.tokenizer
        gen = model.generation_config
        eos = gen.eos_token_id if gen.eos_token_id is not None else tokenizer.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos]) - {None}
        self.eos_ids.add(tokenizer.convert_tokens_to_ids("<|im_end|>"))
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(self.eos_ids)
        self.repetition_penalty = getattr(gen, "repetition_penalty", None) or 1.0

    def prepare_image(self, source: str | bytes) -> Prepared:
        """One image as the model takes it (in a feed thread, ahead of its batch): decoded within the pixel cap,
        and processed, its outputs kept with it."""
        image = open_image(source, self.max_pixels, self.model.max_image_pixels)
        processed = self.image_processor.prepare(image)
        return Prepared(image, image.width * image.height * 3 + processed)

    def close(self) -> None:
        if self.feed is not None:
            self.feed.close()
        self.model_obj = None
        self.processor = None
        try:
            import gc

            import torch

            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except Exception:
            pass

    # -- generate ------------------------------------------------------------------------------------------------

    def generate(
        self, requests: list[GenRequest], should_stop: Callable[[], bool] = lambda: False, rows: Rows = NO_ROWS
    ) -> list[GenResult]:
        if self.model_obj is None:
            raise BackendError("generate() before load()")
        results: list[GenResult | None] = [None] * len(requests)
        images: dict[int, list[Any]] = {i: [] for i in range(len(requests))}
        wanted = [(i, source) for i, request in enumerate(requests) for source in request.images()]
        assert self.feed is not None  # made by attach()
        for (i, _), prepared in zip(wanted, self.feed.take([source for _, source in wanted]), strict=True):
            if isinstance(prepared, ImageReadError):
                results[i] = results[i] or GenResult(error=str(prepared))
            else:
                images[i].append(prepared.image)
        # one generate() per seed (a seed fixes the sampling of its whole batch); the batching queue sized the batch
        pending = [i for i, r in enumerate(results) if r is None]
        groups: dict[int | None, list[int]] = {}
        for i in pending:
            seed = requests[i].seed if requests[i].temperature > 0 else None  # greedy rows ignore seeds
            groups.setdefault(seed, []).append(i)
        for seed, members in groups.items():
            if should_stop():
                for i in members:
                    results[i] = GenResult(error=CANCELLED)
                continue
            batch = self._generate_batch(
                [requests[i] for i in members], [images[i] for i in members], seed, should_stop, rows
            )
            for i, result in zip(members, batch, strict=True):
                results[i] = result
        return [r if r is not None else GenResult(error=CANCELLED) for r in results]

    def prompt_text(self, request: GenRequest, with_image: bool) -> str:
        if request.chat:
            return self.processor.apply_chat_template(
                chat_messages(request), tokenize=False, add_generation_prompt=True
            )
        content: list[dict[str, Any]] = [{"type": "image"}] if with_image else []
        content.append({"type": "text", "text": request.prompt})
        messages: list[dict[str, Any]] = []
        if request.system:
            messages.append({"role": "system", "content": [{"type": "text", "text": request.system}]})
        messages.append({"role": "user", "content": content})
        return self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def _generate_batch(
        self, batch: list[GenRequest], images: list[list[Any]], seed: int | None, should_stop, rows: Rows = NO_ROWS
    ) -> list[GenResult]:
        import torch
        from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList

        start = time.perf_counter()
        texts = [self.prompt_text(r, bool(imgs)) for r, imgs in zip(batch, images, strict=True)]
        present = [img for imgs in images for img in imgs]
        try:
            inputs = self.processor(text=texts, images=present or None, padding=True, return_tensors="pt")
        except Exception as exc:  # a processor failure concerns the whole batch: retry one by one to isolate it
            if len(batch) == 1:
                return [GenResult(error=f"cannot prepare request: {type(exc).__name__}: {exc}")]
            return [
                self._generate_batch([r], [imgs], seed, should_stop, rows)[0]
                for r, imgs in zip(batch, images, strict=True)
            ]
        inputs = inputs.to(self.model_obj.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.model_obj.dtype)
        prompt_len = inputs["input_ids"].shape[1]
        prompt_tokens = inputs["attention_mask"].sum(dim=1).tolist()
        max_new = [max(1, r.max_new_tokens) for r in batch]
        tokenizer = self.processor.tokenizer
        streams = {i: TextStream() for i, r in enumerate(batch) if r.stream and r.key}

        def stream_tokens(i: int, tokens: list[int]) -> None:
            if i in streams:
                delta = streams[i].delta(tokenizer.decode(tokens, skip_special_tokens=True))
                if delta:
                    rows.emit(batch[i].key, delta)

        def stops_in(stops: tuple[str, ...]) -> Callable[[list[int]], bool]:
            # checked every step, so a stop can only have just ended: its text lies in the last few tokens (a token
            # is at least a character; a few more cover tokens that are parts of one)
            tail = max(len(stop) for stop in stops) + 4
            return lambda tokens: (
                first_stop(tokenizer.decode(tokens[-tail:], skip_special_tokens=True), stops) is not None
            )

        stopping = make_row_stopping(
            prompt_len,
            max_new,
            self.eos_ids,
            [r.ignore_eos for r in batch],
            should_stop,
            row_dropped=lambda i: bool(batch[i].key) and rows.cancelled(batch[i].key),
            on_row_tokens=stream_tokens if streams else None,
            row_stopped={i: stops_in(r.stop) for i, r in enumerate(batch) if r.stop},
        )
        sample = any(r.temperature > 0 for r in batch)
        # built from scratch: a checkpoint's own sampling defaults (Qwen ships top_k=1, top_p=0.001) must not
        # override the request; only its repetition penalty is kept
        options: dict[str, Any] = {"do_sample": sample}
        if sample:
            options.update(temperature=1.0, top_p=1.0, top_k=0)  # RowSampling does the per-row work
        config = GenerationConfig(
            max_new_tokens=max(max_new),
            repetition_penalty=self.repetition_penalty,
            pad_token_id=self.pad_id,
            eos_token_id=[],  # not None (generate would fill in the checkpoint's): RowStopping handles EOS per row
            **options,
        )
        processors = LogitsProcessorList()
        if sample:
            processors.append(make_row_sampling([r.temperature for r in batch], [r.top_p for r in batch]))
            if seed is not None:
                torch.manual_seed(seed)
        with torch.inference_mode():
            try:
                output = self.model_obj.generate(
                    **inputs,
                    generation_config=config,
                    logits_processor=processors,
                    stopping_criteria=StoppingCriteriaList([stopping]),
                )
            except torch.cuda.OutOfMemoryError as exc:
                torch.cuda.empty_cache()
                if len(batch) == 1:
                    return [GenResult(error=f"out of GPU memory: {exc}")]
                half = len(batch) // 2  # split and retry: a batch too big must not fail its requests
                return self._generate_batch(
                    batch[:half], images[:half], seed, should_stop, rows
                ) + self._generate_batch(batch[half:], images[half:], seed, should_stop, rows)
        new_tokens = output[:, prompt_len:].tolist()
        share = (time.perf_counter() - start) / len(batch)
        results = []
        for i, row in enumerate(new_tokens):
            kept = stopping.lengths[i]
            if kept is None:  # the batch stopped, or this request was dropped, before it finished
                results.append(GenResult(error=CANCELLED, seconds=share))
                continue
            tokens = row[:kept]
            text = tokenizer.decode(tokens, skip_special_tokens=True).strip()
            if i in streams and text.startswith(streams[i].sent) and text != streams[i].sent:
                rows.emit(batch[i].key, text[len(streams[i].sent) :])  # the end a step's decode held back
            results.append(GenResult(text=text, tokens=len(tokens), prompt_tokens=int(prompt_tokens[i]), seconds=share))
        return results


def chat_messages(request: GenRequest) -> list[dict[str, Any]]:
    """A conversation in the shape chat templates take, an image part as the placeholder its image fills."""
    return [
        {
            "role": turn.role,
            "content": [
                {"type": "image"} if p.image is not None else {"type": "text", "text": p.text} for p in turn.parts
            ],
        }
        for turn in request.chat
    ]
