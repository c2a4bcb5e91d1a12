"""The model workers as ``status`` shows them: each worker of a slot, and how it fed its model (the image decodes
and the time its batches waited for their inputs)."""

from __future__ import annotations

import msgspec


class FeedStats(msgspec.Struct, kw_only=True):
    """How a model worker fed its model: the images it decoded and how long its batches waited for their inputs.
    Cumulative since the worker loaded."""

    decodes: int = 0
    """Images decoded for the model (a photo's later rounds in a job reuse its first decode)."""
    reused: int = 0
    """Image uses served by an earlier decode (a later round, or a decode done ahead of its batch)."""
    prefetched: int = 0
    """Images decoded ahead, while an earlier batch generated."""
    decode_s: float = 0.0
    """Seconds spent decoding and preparing images, summed over the threads that did it."""
    input_wait_s: float = 0.0
    """Seconds batches spent waiting for their images after reaching the model."""
    busy_s: float = 0.0
    """Seconds batches spent in the worker, waiting for inputs included."""
    kept_bytes: int = 0
    """Bytes of decoded images (and processor outputs) kept now for later rounds and coming batches."""

    @property
    def input_wait_share(self) -> float:
        """The share of the model's busy time spent waiting for inputs (0 when it has done nothing)."""
        return self.input_wait_s / self.busy_s if self.busy_s > 0 else 0.0

    def plus(self, other: FeedStats) -> FeedStats:
        """Both added up (a slot's workers), ``kept_bytes`` included."""
        return FeedStats(
            decodes=self.decodes + other.decodes,
            reused=self.reused + other.reused,
            prefetched=self.prefetched + other.prefetched,
            decode_s=self.decode_s + other.decode_s,
            input_wait_s=self.input_wait_s + other.input_wait_s,
            busy_s=self.busy_s + other.busy_s,
            kept_bytes=self.kept_bytes + other.kept_bytes,
        )


class WorkerInfo(msgspec.Struct, kw_only=True):
    """One model worker of a slot, as ``status`` shows it."""

    id: str
    node: str
    """Where it runs: a host name for a local process, a Ray node id for an actor."""
    pid: int = 0
    state: str = "loading"
    """loading, loaded, restarting (a Ray actor being restarted by Ray), exited."""
    inferences: int = 0
    """Requests it has answered."""
    last_error: str = ""
    """The last failure of a whole batch on it (a crash, a lost actor); empty when none."""
    feed: FeedStats = msgspec.field(default_factory=FeedStats)
    """Its image decodes and the time its batches waited for inputs."""
