"""The process worker: a spawned child process that owns the backend (and so the GPU memory).

Unloading a model means ending this process: the only reliable way to give VRAM back (vLLM and Ollama do the
same). The daemon talks to it over a ``multiprocessing`` pipe carrying the typed messages of ``messages.py`` as
msgpack bytes, decoded once at each end; a reader thread turns the child's messages into asyncio futures. The
child's inbox thread reads ``Cancel``, ``Prefetch`` and ``Forget`` at once (the main thread is busy in a batch) and
queues batches for the main thread, in order. If the child dies (SIGKILL, OOM, segfault in a CUDA kernel), the pipe
closes, every pending request fails with ``WorkerCrashed`` naming the exit signal, and the daemon keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import queue
import signal
import socket
import threading
import time
import traceback
from collections.abc import Collection
from multiprocessing.connection import Connection
from typing import Any

import msgspec

from imageworks.config import ModelConfig
from imageworks.inference import EmbedRequest, EmbedResult, GenRequest, GenResult
from imageworks.protocol import FeedStats, WorkerInfo

from ..backends.base import NO_ROWS, Rows
from . import messages as M
from .base import ProgressSink, TextSink, Worker, WorkerCrashed, WorkerLoadFailed

# ---- child side ---------------------------------------------------------------------------------------------


def worker_main(conn: Connection, model: bytes, cancel_flag: Any) -> None:
    """Entry point of the child process: load, then serve requests until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the daemon's terminal is the daemon's to handle

    sending = threading.Lock()  # the main thread answers batches, the inbox thread reports on forgets

    def send(message: msgspec.Struct) -> None:
        data = M.encode(message)
        with sending:
            conn.send_bytes(data)

    try:
        from ..backends.registry import create_backend

        backend = create_backend(msgspec.msgpack.decode(model, type=ModelConfig))
        info = backend.load(lambda fraction, what: send(M.Progress(fraction=fraction, what=what)))
        send(M.Loaded(info=info, pid=os.getpid(), node=socket.gethostname()))
    except BaseException as exc:
        send(M.LoadFailed(error=f"{type(exc).__name__}: {exc}", trace=traceback.format_exc()))
        return
    rows = PipeRows(send)
    inbox: queue.Queue[M.Generate | M.Embed | None] = queue.Queue()
    threading.Thread(
        target=read_inbox, args=(conn, inbox, rows, backend, send), name="worker-inbox", daemon=True
    ).start()
    while True:
        batch = inbox.get()
        if batch is None:
            break  # the daemon went away, or asked
        rows.batch = batch.id
        answer = serve(backend, batch, cancel_flag, rows)
        rows.forget(key for request in batch.requests if (key := getattr(request, "key", "")))
        send(answer)
    with contextlib.suppress(Exception):
        backend.close()


class PipeRows(Rows):
    """The child's side of per-request control: keys the daemon cancelled, and streamed text sent up the pipe."""

    def __init__(self, send: Any) -> None:
        self.send = send
        self.batch = 0
        self._cancelled: set[str] = set()

    def cancelled(self, key: str) -> bool:
        return key in self._cancelled

    def cancel(self, keys: list[str]) -> None:
        self._cancelled.update(keys)

    def forget(self, keys: Any) -> None:
        self._cancelled.difference_update(keys)

    def emit(self, key: str, delta: str) -> None:
        self.send(M.Partial(id=self.batch, key=key, text=delta))


def read_inbox(
    conn: Connection, inbox: queue.Queue[M.Generate | M.Embed | None], rows: PipeRows, backend: Any, send: Any
) -> None:
    """The child's reader thread: cancels, prefetch hints and forgets take effect at once (the main thread is busy
    in a batch); batches queue for the main thread, in order. None tells it the daemon is gone (or said so)."""
    while True:
        try:
            message = M.decode_to_worker(conn.recv_bytes())
        except (EOFError, OSError):
            break
        if isinstance(message, M.Cancel):
            rows.cancel(message.keys)
        elif isinstance(message, M.Prefetch):
            backend.prefetch(message.images)
        elif isinstance(message, M.Forget):
            backend.forget(message.images)
            with contextlib.suppress(OSError):
                send(M.FeedReport(feed=backend.feed_stats()))
        elif isinstance(message, M.Shutdown):
            break
        else:
            inbox.put(message)
    inbox.put(None)


def serve(backend: Any, batch: M.Batch, cancel_flag: Any, rows: Rows = NO_ROWS) -> M.Answer:
    """One result per request: a backend failure or an operation it does not serve fails each request of the
    batch with one line saying so (the worker itself keeps serving). The answer carries the worker's feed
    counters, the time this batch spent here added."""
    generating = isinstance(batch, M.Generate)
    op, result_type = ("generate", GenResult) if generating else ("embed", EmbedResult)
    requests: list[Any] = batch.requests
    results: list[Any]
    start = time.perf_counter()
    if op not in backend.capabilities:
        served = ", ".join(sorted(backend.capabilities))
        error = f"model {backend.model.name!r} cannot {op} (its backend serves: {served})"
        results = [result_type(error=error) for _ in requests]
    else:
        try:
            options = {"rows": rows} if generating else {}
            results = getattr(backend, op)(requests, should_stop=cancel_flag.is_set, **options)
            if len(results) != len(requests):
                raise RuntimeError(f"backend returned {len(results)} results for {len(requests)} requests")
        except BaseException as exc:
            error = f"model error: {type(exc).__name__}: {exc}"
            results = [result_type(error=error) for _ in requests]
    feed = getattr(backend, "feed", None)
    if feed is not None:
        feed.note_busy(time.perf_counter() - start)
    stats = backend.feed_stats() if hasattr(backend, "feed_stats") else FeedStats()
    if generating:
        return M.Generated(id=batch.id, results=results, feed=stats)
    return M.Embedded(id=batch.id, results=results, feed=stats)


# ---- daemon side --------------------------------------------------------------------------------------------


class WorkerHandle(Worker):
    """One running worker process, seen from the daemon's event loop."""

    def __init__(
        self,
        model: ModelConfig,
        loop: asyncio.AbstractEventLoop,
        *,
        worker_id: str = "process-0",
        on_progress: ProgressSink | None = None,
    ) -> None:
        self.model = model
        self.loop = loop
        self.worker_id = worker_id
        self.node = socket.gethostname()
        self.inferences = 0
        self.last_error = ""
        self.on_progress = on_progress
        ctx = multiprocessing.get_context("spawn")
        self.cancel_flag = ctx.Event()
        parent, child = ctx.Pipe(duplex=True)
        self.conn = parent
        self.process = ctx.Process(
            target=worker_main,
            args=(child, M.encode(model), self.cancel_flag),
            name="imageworks-model-worker",
            daemon=True,
        )
        self.process.start()
        child.close()  # so the parent sees EOF when the child dies
        self._send_lock = threading.Lock()
        self._pending: dict[int, asyncio.Future[list[Any]]] = {}
        self.feed = FeedStats()
        """The child's feed counters, as its last answer gave them."""
        self._text_sinks: dict[int, TextSink] = {}
        self._next_id = 0
        self.loaded: asyncio.Future[dict[str, Any]] = loop.create_future()
        self.exited: asyncio.Future[str] = loop.create_future()
        self._reader = threading.Thread(target=self._read_loop, name="worker-reader", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int | None:
        return self.process.pid

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def _read_loop(self) -> None:
        while True:
            try:
                data = self.conn.recv_bytes()
            except (EOFError, OSError):
                break
            try:
                message = M.decode_from_worker(data)
            except msgspec.DecodeError as exc:  # garbage on the pipe: a load in progress fails with it
                message = M.LoadFailed(error=f"bad message from worker: {exc}")
            self.loop.call_soon_threadsafe(self._dispatch, message)
        self.process.join(timeout=5)
        self.loop.call_soon_threadsafe(self._on_exit, self._exit_reason())

    def _exit_reason(self) -> str:
        code = self.process.exitcode
        if code is None:
            return "model worker stopped answering"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"model worker crashed (killed by {name}; out of memory or killed by hand?)"
        return f"model worker exited with code {code}"

    def _dispatch(self, message: M.FromWorker) -> None:
        if isinstance(message, M.Progress):
            if self.on_progress is not None and not self.loaded.done():
                self.on_progress(message.fraction, message.what)
        elif isinstance(message, M.Loaded):
            if not self.loaded.done():
                self.loaded.set_result(message.info)
        elif isinstance(message, M.LoadFailed):
            if not self.loaded.done():
                self.loaded.set_exception(WorkerLoadFailed(message.error))
        elif isinstance(message, M.Partial):
            sink = self._text_sinks.get(message.id)
            if sink is not None:
                sink(message.key, message.text)
        elif isinstance(message, M.FeedReport):
            self.feed = message.feed
        else:  # a batch's answer
            self._text_sinks.pop(message.id, None)
            self.feed = message.feed
            fut = self._pending.pop(message.id, None)
            if fut is not None and not fut.done():
                self.inferences += len(message.results)
                fut.set_result(message.results)

    def _on_exit(self, reason: str) -> None:
        if not self.loaded.done():
            self.loaded.set_exception(WorkerLoadFailed(reason))
        if self._pending:
            self.last_error = reason
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(WorkerCrashed(reason))
        self._pending.clear()
        self._text_sinks.clear()
        if not self.exited.done():
            self.exited.set_result(reason)

    async def generate(self, requests: list[GenRequest]) -> list[GenResult]:
        return await self._call(M.Generate(id=self._new_id(), requests=requests))

    async def generate_streaming(self, requests: list[GenRequest], on_text: TextSink) -> list[GenResult]:
        return await self._call(M.Generate(id=self._new_id(), requests=requests), on_text)

    async def embed(self, requests: list[EmbedRequest]) -> list[EmbedResult]:
        return await self._call(M.Embed(id=self._new_id(), requests=requests))

    def cancel(self, keys: Collection[str]) -> None:
        self._tell(M.Cancel(keys=list(keys)) if keys else None)

    def prefetch(self, images: Collection[str]) -> None:
        self._tell(M.Prefetch(images=list(images)) if images else None)

    def forget(self, images: Collection[str]) -> None:
        self._tell(M.Forget(images=list(images)) if images else None)

    def _tell(self, message: msgspec.Struct | None) -> None:
        """A message the child reads at once, sent off the loop (a big batch may be filling the pipe)."""
        if message is not None and not self.exited.done():
            self.loop.run_in_executor(None, self._send_quietly, message)

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def describe(self) -> WorkerInfo:
        return msgspec.structs.replace(super().describe(), feed=self.feed)

    async def _call(self, batch: M.Batch, on_text: TextSink | None = None) -> list[Any]:
        if self.exited.done():
            raise WorkerCrashed(self.exited.result())
        request_id = batch.id
        fut: asyncio.Future[list[Any]] = self.loop.create_future()
        self._pending[request_id] = fut
        if on_text is not None:
            self._text_sinks[request_id] = on_text
        try:
            await asyncio.to_thread(self._send, batch)
        except (OSError, BrokenPipeError) as exc:
            self._pending.pop(request_id, None)
            self._text_sinks.pop(request_id, None)
            reason = f"model worker is gone ({exc})"
            with contextlib.suppress(asyncio.TimeoutError):  # the exit reason names the signal: say that, not "pipe"
                reason = await asyncio.wait_for(asyncio.shield(self.exited), 2)
            self.last_error = reason
            raise WorkerCrashed(reason) from exc
        return await fut

    def _send(self, message: msgspec.Struct) -> None:
        data = M.encode(message)
        with self._send_lock:
            self.conn.send_bytes(data)

    def _send_quietly(self, message: msgspec.Struct) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self._send(message)

    def request_stop(self) -> None:
        self.cancel_flag.set()

    def clear_stop(self) -> None:
        self.cancel_flag.clear()

    async def stop(self, timeout: float = 5.0) -> None:
        """Ask the worker to exit; kill it if it does not within ``timeout``. Memory is freed either way."""
        if self.process.is_alive():
            with contextlib.suppress(OSError, BrokenPipeError):
                await asyncio.to_thread(self._send, M.Shutdown())
            deadline = time.monotonic() + timeout
            while self.process.is_alive() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            if self.process.is_alive():
                self.process.kill()
        await asyncio.to_thread(self.process.join, 5)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.exited), 5)
        self.conn.close()

    def kill_now(self) -> None:
        if self.process.is_alive():
            self.process.kill()
            self.process.join(2)
