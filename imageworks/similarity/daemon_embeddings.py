"""``DaemonEmbeddings``: the embedding source that asks the daemon's ``embed`` slot (``model.embed`` requests).

The model's identity (name and revision) is read from the checkpoint on disk, not from the daemon, so that cached
vectors and stored searches are found without starting or asking the daemon at all. The daemon is contacted on the
first batch that needs computing; its embed slot is loaded then, by the rule jobs follow for the VLM: only when the
slot is empty, and another model in it is refused (``imageworks models switch NAME --slot embed``), never replaced.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from imageworks.models import local_checkpoint, model_revision
from imageworks.similarity.search import Outcome, SimilarityError

if TYPE_CHECKING:
    from imageworks import protocol as P

EMBED_SLOT = "embed"
IMAGE_PROBLEMS = ("cannot read image", "cannot decode image")
"""How a backend's per-image failures begin (a file that cannot be read): skipped and cached like a hash problem.
Any other error (the model failed, the worker died) fails the whole search instead: it says nothing of the file."""


class EmbedClient(Protocol):
    """The requests this source makes, blocking: ``imageworks.client.Client``, or the TUI's one client seen from its
    worker thread (tui/services/client.py)."""

    def status(self) -> P.StatusReply: ...

    def load_model(self, name: str = "", *, slot: str = "vlm", wait: bool = False) -> P.ModelState: ...

    def wait_model(self, *, slot: str = "vlm") -> P.ModelState: ...

    def embed(self, images: list[str], *, model: str = "") -> P.Embeddings: ...

    def close(self) -> None: ...


def model_key(name: str) -> str:
    """The name the embed slot and the cache know a model by: a directory as its absolute path, an HF id as is."""
    path = Path(name).expanduser()
    return str(path.resolve()) if path.is_dir() else name


class DaemonEmbeddings:
    """Vectors from the daemon's embed slot. ``connect`` returns a client (starting the daemon if need be);
    ``on_load(model)`` is told before this source loads the model into an empty slot."""

    def __init__(
        self, model: str, connect: Callable[[], EmbedClient], on_load: Callable[[str], None] = lambda model: None
    ) -> None:
        self.model = model_key(model)
        checkpoint = local_checkpoint(self.model)
        if checkpoint is None:
            raise SimilarityError(
                f"embedding model {model!r}: no such directory, and not in the Hugging Face cache "
                f"(download it first: hf download {model})"
            )
        self.revision = model_revision(checkpoint)
        self.connect = connect
        self.on_load = on_load
        self.client: EmbedClient | None = None

    def _ready(self) -> EmbedClient:
        """A client whose daemon has this model in its embed slot (loaded now if the slot was empty)."""
        if self.client is not None:
            return self.client
        client = self.connect()
        state = client.status().slots.get(EMBED_SLOT)
        if state is None or state.state not in ("loading", "loaded"):
            self.on_load(self.model)
            client.load_model(self.model, slot=EMBED_SLOT, wait=True)
        elif state.name != self.model:
            client.close()
            raise SimilarityError(
                f"the daemon's embed slot holds {state.name!r}, not the configured {self.model!r}; "
                f"switch explicitly: imageworks models switch {self.model} --slot embed"
            )
        else:
            client.wait_model(slot=EMBED_SLOT)
        self.client = client
        return client

    def embed(self, paths: Sequence[str]) -> list[Outcome]:
        reply = self._ready().embed(list(paths), model=self.model)
        if reply.revision != self.revision:
            raise SimilarityError(
                f"the daemon's {self.model!r} is revision {reply.revision}, the checkpoint on disk {self.revision} "
                f"(rewritten since it was loaded?): reload it with imageworks models switch {self.model} --slot embed"
            )
        outcomes: list[Outcome] = []
        for path, vector, error in zip(paths, reply.vectors, reply.errors, strict=True):
            if not error:
                outcomes.append((np.frombuffer(vector, "<f4"), None))
            elif error.startswith(IMAGE_PROBLEMS):
                outcomes.append((None, error.replace(f" {path}:", ":", 1)))  # the report names the file already
            else:
                raise SimilarityError(f"embedding failed: {error}")
        return outcomes

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
