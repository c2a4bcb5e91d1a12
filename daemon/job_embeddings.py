"""The embed slot lent to a CPU job's job-level step (a similarity search with ``--method embedding|both``).

The rule is the one ``similar`` always followed: the configured model is loaded into the embed slot only when the
slot is empty; another model there is refused with the command that replaces it, never swapped behind the
person's back."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from imageworks import protocol as P
from imageworks.errors import DaemonError, ImageWorksError
from imageworks.inference import EmbedRequest

from .slots import EMBED, ModelManager
from .workers.base import WorkerCrashed


async def embed_for_job(
    models: ModelManager,
    counters: P.Counters,
    paths: list[str],
    model: str,
    on_load: Callable[[str], None],
) -> tuple[str, list[tuple[bytes, str]]]:
    """(the model's revision, per path: (float32 vector bytes, "") or (b"", the problem)). ``on_load(model)`` is told
    before the model is loaded into the empty slot; each call counts as one embed request."""
    slot = models.slot(EMBED)
    state = slot.state
    if state.state in ("loading", "loaded") and state.name != model:
        raise ImageWorksError(
            f"the daemon's embed slot holds {state.name!r}, not the configured {model!r}; "
            f"switch explicitly: imageworks models switch {model} --slot embed"
        )
    if state.state not in ("loading", "loaded"):
        on_load(model)
    counters.embed_requests += 1
    try:
        info = await slot.ensure_for_job(model)
        results = await slot.embed([EmbedRequest(image=path) for path in paths])
    except WorkerCrashed as exc:
        raise ImageWorksError(f"the embedding model's worker is gone: {exc}") from None
    except DaemonError as exc:  # refused (no model, a load that failed): the job's error says why
        raise ImageWorksError(str(exc)) from None
    vectors = [
        (np.frombuffer(r.vector, np.float32).astype("<f4").tobytes(), "") if r.ok else (b"", r.error or "failed")
        for r in results
    ]
    return str(info.get("revision", "")), vectors
