"""The process worker: a spawned child process that owns the backend (and so the GPU memory).

Unloading a model means ending this process: the only reliable way to give VRAM back (vLLM and Ollama do the
same). The daemon talks to it over a ``multiprocessing`` pipe; a reader thread turns the child's messages into
asyncio futures. If the child dies (SIGKILL, OOM, segfault in a CUDA kernel), the pipe closes, every pending
request fails with ``WorkerCrashed`` naming the exit signal, and the daemon keeps serving.

Pipe messages (dicts): daemon -> child ``{"op": "generate"|"embed", "id", "requests"}``, ``{"op": "cancel", "keys"}``
(read at once by the child's inbox thread, while a batch runs) and ``{"op": "shutdown"}``; child -> daemon
``progress`` (while loading), ``loaded``/``load_failed``, then ``partial`` (``id``, ``key``, ``text``: a streamed
request's new text) and ``results`` per request message.
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

from daemon.backends.base import NO_ROWS, Rows
from daemon.workers.base import ProgressSink, TextSink, Worker, WorkerCrashed, WorkerLoadFailed
from imageworks.config import ModelConfig
from imageworks.inference import EMBED, GENERATE, EmbedRequest, EmbedResult, GenRequest, GenResult

RESULT_TYPES = {GENERATE: GenResult, EMBED: EmbedResult}


# ---- child side ---------------------------------------------------------------------------------------------


def worker_main(conn: Connection, model: dict[str, Any], cancel_flag: Any) -> None:
    """Entry point of the child process: load, then serve requests until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the daemon's terminal is the daemon's to handle
    try:
        from daemon.backends.registry import create_backend

        backend = create_backend(ModelConfig(**model))
        info = backend.load(lambda fraction, what: conn.send({"op": "progress", "fraction": fraction, "what": what}))
        conn.send({"op": "loaded", "info": info, "pid": os.getpid()})
    except BaseException as exc:
        conn.send({"op": "load_failed", "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()})
        return
    rows = PipeRows(conn)
    inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
    threading.Thread(target=read_inbox, args=(conn, inbox, rows), name="worker-inbox", daemon=True).start()
    while True:
        msg = inbox.get()
        if msg is None or msg["op"] == "shutdown":
            break  # the daemon went away, or asked
        rows.batch = msg["id"]
        results = serve(backend, msg["op"], msg["requests"], cancel_flag, rows)
        rows.forget(request.key for request in msg["requests"] if getattr(request, "key", ""))
        conn.send({"op": "results", "id": msg["id"], "results": results})
    with contextlib.suppress(Exception):
        backend.close()


class PipeRows(Rows):
    """The child's side of per-request control: keys the daemon cancelled, and streamed text sent up the pipe."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.batch = 0
        self._cancelled: set[str] = set()

    def cancelled(self, key: str) -> bool:
        return key in self._cancelled

    def cancel(self, keys: list[str]) -> None:
        self._cancelled.update(keys)

    def forget(self, keys: Any) -> None:
        self._cancelled.difference_update(keys)

    def emit(self, key: str, delta: str) -> None:
        self.conn.send({"op": "partial", "id": self.batch, "key": key, "text": delta})


def read_inbox(conn: Connection, inbox: queue.Queue[dict[str, Any] | None], rows: PipeRows) -> None:
    """The child's reader thread: cancels take effect at once (the main thread is busy in a batch); the rest
    queues for the main thread, in order. None tells it the daemon is gone."""
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            break
        if msg["op"] == "cancel":
            rows.cancel(msg["keys"])
        else:
            inbox.put(msg)
    inbox.put(None)


def serve(backend: Any, op: str, requests: list[Any], cancel_flag: Any, rows: Rows = NO_ROWS) -> list[Any]:
    """One result per request: a backend failure or an operation it does not serve fails each request of the
    batch with one line saying so (the worker itself keeps serving)."""
    result_type = RESULT_TYPES.get(op)
    if result_type is None:
        return [GenResult(error=f"model worker: unknown operation {op!r}") for _ in requests]
    if op not in backend.capabilities:
        served = ", ".join(sorted(backend.capabilities))
        error = f"model {backend.model.name!r} cannot {op} (its backend serves: {served})"
        return [result_type(error=error) for _ in requests]
    try:
        options = {"rows": rows} if op == GENERATE else {}
        results = getattr(backend, op)(requests, should_stop=cancel_flag.is_set, **options)
        if len(results) != len(requests):
            raise RuntimeError(f"backend returned {len(results)} results for {len(requests)} requests")
    except BaseException as exc:
        error = f"model error: {type(exc).__name__}: {exc}"
        results = [result_type(error=error) for _ in requests]
    return results


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
            args=(child, msgspec.structs.asdict(model), self.cancel_flag),
            name="imageworks-model-worker",
            daemon=True,
        )
        self.process.start()
        child.close()  # so the parent sees EOF when the child dies
        self._send_lock = threading.Lock()
        self._pending: dict[int, asyncio.Future[list[Any]]] = {}
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
                msg = self.conn.recv()
            except (EOFError, OSError):
                break
            except Exception as exc:  # unpicklable garbage: treat as a crash
                msg = {"op": "load_failed", "error": f"bad message from worker: {exc}"}
            self.loop.call_soon_threadsafe(self._dispatch, msg)
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

    def _dispatch(self, msg: dict[str, Any]) -> None:
        op = msg.get("op")
        if op == "progress" and self.on_progress is not None and not self.loaded.done():
            self.on_progress(msg["fraction"], msg["what"])
        elif op == "loaded" and not self.loaded.done():
            self.loaded.set_result(msg["info"])
        elif op == "load_failed" and not self.loaded.done():
            self.loaded.set_exception(WorkerLoadFailed(msg["error"]))
        elif op == "partial":
            sink = self._text_sinks.get(msg["id"])
            if sink is not None:
                sink(msg["key"], msg["text"])
        elif op == "results":
            self._text_sinks.pop(msg["id"], None)
            fut = self._pending.pop(msg["id"], None)
            if fut is not None and not fut.done():
                self.inferences += len(msg["results"])
                fut.set_result(msg["results"])

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
        return await self._call(GENERATE, requests)

    async def generate_streaming(self, requests: list[GenRequest], on_text: TextSink) -> list[GenResult]:
        return await self._call(GENERATE, requests, on_text)

    async def embed(self, requests: list[EmbedRequest]) -> list[EmbedResult]:
        return await self._call(EMBED, requests)

    def cancel(self, keys: Collection[str]) -> None:
        if keys and not self.exited.done():  # off the loop: a big batch may be filling the pipe
            self.loop.run_in_executor(None, self._send_quietly, {"op": "cancel", "keys": list(keys)})

    async def _call(self, op: str, requests: list[Any], on_text: TextSink | None = None) -> list[Any]:
        if self.exited.done():
            raise WorkerCrashed(self.exited.result())
        self._next_id += 1
        request_id = self._next_id
        fut: asyncio.Future[list[Any]] = self.loop.create_future()
        self._pending[request_id] = fut
        if on_text is not None:
            self._text_sinks[request_id] = on_text
        try:
            await asyncio.to_thread(self._send, {"op": op, "id": request_id, "requests": requests})
        except (OSError, BrokenPipeError) as exc:
            self._pending.pop(request_id, None)
            self._text_sinks.pop(request_id, None)
            reason = f"model worker is gone ({exc})"
            with contextlib.suppress(asyncio.TimeoutError):  # the exit reason names the signal: say that, not "pipe"
                reason = await asyncio.wait_for(asyncio.shield(self.exited), 2)
            self.last_error = reason
            raise WorkerCrashed(reason) from exc
        return await fut

    def _send(self, msg: dict[str, Any]) -> None:
        with self._send_lock:
            self.conn.send(msg)

    def _send_quietly(self, msg: dict[str, Any]) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self._send(msg)

    def request_stop(self) -> None:
        self.cancel_flag.set()

    def clear_stop(self) -> None:
        self.cancel_flag.clear()

    async def stop(self, timeout: float = 5.0) -> None:
        """Ask the worker to exit; kill it if it does not within ``timeout``. Memory is freed either way."""
        if self.process.is_alive():
            with contextlib.suppress(OSError, BrokenPipeError):
                await asyncio.to_thread(self._send, {"op": "shutdown"})
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
