"""Per-row control of one batched ``generate`` call (the VLM backend's): each row stops at its own
max_new_tokens, EOS or stop sequence (or when its client went away), and samples with its own temperature and
top_p, so one call serves a mixed batch. torch and transformers are imported inside, in the worker only."""

from __future__ import annotations

import math
from collections.abc import Callable


def make_row_stopping(
    prompt_len: int,
    max_new: list[int],
    eos_ids: set[int],
    ignore_eos: list[bool],
    should_stop,
    row_dropped: Callable[[int], bool] = lambda i: False,
    on_row_tokens: Callable[[int, list[int]], None] | None = None,
    row_stopped: dict[int, Callable[[list[int]], bool]] | None = None,
):
    """A StoppingCriteria that finishes each row at its own max_new_tokens or EOS, and all rows when
    ``should_stop()`` turns true (``cancelled`` is then set). ``lengths[i]`` is the number of tokens row i kept.
    A row whose ``row_dropped(i)`` turns true stops there (in ``dropped``); the others go on. ``on_row_tokens``
    sees each running row's tokens after every step (streaming). A row in ``row_stopped`` also finishes at the
    step where its function, given the row's tokens, turns true (its stop sequences)."""
    stops: dict[int, Callable[[list[int]], bool]] = row_stopped or {}  # a new name: the closure below sees it as set
    import torch
    from transformers import StoppingCriteria

    class RowStopping(StoppingCriteria):
        def __init__(self) -> None:
            self.lengths: list[int | None] = [None] * len(max_new)
            self.dropped: set[int] = set()
            self.cancelled = False

        def __call__(self, input_ids, scores, **kwargs):
            generated = input_ids.shape[1] - prompt_len
            last = input_ids[:, -1].tolist()
            for i, token in enumerate(last):
                if self.lengths[i] is not None or i in self.dropped:
                    continue
                if row_dropped(i):
                    self.dropped.add(i)
                    continue
                if (token in eos_ids and not ignore_eos[i]) or generated >= max_new[i]:
                    self.lengths[i] = generated
                if on_row_tokens is not None or i in stops:
                    tokens = input_ids[i, prompt_len:].tolist()
                    if on_row_tokens is not None:
                        on_row_tokens(i, tokens)
                    if self.lengths[i] is None and i in stops and stops[i](tokens):
                        self.lengths[i] = generated
            if should_stop():
                self.cancelled = True
                return torch.ones(len(last), dtype=torch.bool, device=input_ids.device)
            done = [length is not None or i in self.dropped for i, length in enumerate(self.lengths)]
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return RowStopping()


def make_row_sampling(temperatures: list[float], top_ps: list[float]):
    """A LogitsProcessor applying each row's temperature and top_p; a row with temperature 0 keeps only its
    argmax, so greedy and sampled requests share one batch."""
    import torch
    from transformers import LogitsProcessor

    class RowSampling(LogitsProcessor):
        def __call__(self, input_ids, scores):
            scores = scores.clone()
            for i, (temperature, top_p) in enumerate(zip(temperatures, top_ps, strict=True)):
                row = scores[i]
                if temperature <= 0:
                    keep = row.argmax()
                    row.fill_(-math.inf)
                    row[keep] = 0.0
                    continue
                row /= temperature
                if top_p < 1.0:
                    ordered, index = row.sort(descending=True)
                    cumulative = ordered.softmax(-1).cumsum(-1)
                    drop = cumulative - ordered.softmax(-1) > top_p  # keep the smallest prefix reaching top_p
                    row[index[drop]] = -math.inf
            return scores

    _ = torch  # imported for the tensors the processor receives
    return RowSampling()
