"""``SlotEmbeddings``: the embedding source of a ``similar`` job's search, the daemon's ``embed`` slot.

The model's identity (name and revision) is read from the checkpoint on disk, so cached vectors and stored searches
are found without touching the model at all. The slot is loaded by the rule jobs follow for the VLM: only when it is
empty; another model in it is refused (``imageworks models switch NAME --slot embed``), never replaced.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from imageworks.checkpoints import local_checkpoint, model_revision
from imageworks.similarity.search import Outcome, SimilarityError

if TYPE_CHECKING:
    from imageworks.jobs.cpu import ConcludeContext

IMAGE_PROBLEMS = ("cannot read image", "cannot decode image")
"""How a backend's per-image failures begin (a file that cannot be read): skipped and cached like a hash problem.
Any other error (the model failed, the worker died) fails the whole search instead: it says nothing of the file."""


def read_outcomes(
    model: str, expected: str, revision: str, paths: Sequence[str], vectors: Sequence[bytes], errors: Sequence[str]
) -> list[Outcome]:
    """The embed slot's answer as outcomes: a vector, or an unreadable image's problem (cached like a hash's); any
    other error, or another revision of the model than the checkpoint on disk, fails the search."""
    if revision != expected:
        raise SimilarityError(
            f"the daemon's {model!r} is revision {revision}, the checkpoint on disk {expected} "
            f"(rewritten since it was loaded?): reload it with imageworks models switch {model} --slot embed"
        )
    outcomes: list[Outcome] = []
    for path, vector, error in zip(paths, vectors, errors, strict=True):
        if not error:
            outcomes.append((np.frombuffer(vector, "<f4"), None))
        elif error.startswith(IMAGE_PROBLEMS):
            outcomes.append((None, error.replace(f" {path}:", ":", 1)))  # the report names the file already
        else:
            raise SimilarityError(f"embedding failed: {error}")
    return outcomes


def checkpoint_revision(model: str) -> str:
    """The revision of the checkpoint ``model`` names on disk (the vectors' cache key); SimilarityError if none."""
    checkpoint = local_checkpoint(model)
    if checkpoint is None:
        raise SimilarityError(
            f"embedding model {model!r}: no such directory, and not in the Hugging Face cache "
            f"(download it first: hf download {model})"
        )
    return model_revision(checkpoint)


def model_key(name: str) -> str:
    """The name the embed slot and the cache know a model by: a directory as its absolute path, an HF id as is."""
    path = Path(name).expanduser()
    return str(path.resolve()) if path.is_dir() else name


class SlotEmbeddings:
    """The embed slot through the job's ``context.embed`` (the daemon loads the model only into an empty slot)."""

    def __init__(self, model: str, context: ConcludeContext) -> None:
        self.model = model_key(model)
        self.revision = checkpoint_revision(self.model)
        self.context = context

    def embed(self, paths: Sequence[str]) -> list[Outcome]:
        revision, answers = self.context.embed(list(paths), self.model)
        vectors = [vector for vector, _ in answers]
        errors = [error for _, error in answers]
        return read_outcomes(self.model, self.revision, revision, paths, vectors, errors)
