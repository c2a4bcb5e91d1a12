"""The model worker: a spawned child process that owns the backend (and so the GPU memory).

Unloading a model means ending this process: the only reliable way to give VRAM back (vLLM and Ollama do the
same). The daemon talks to it over a ``multiprocessing`` pipe; a reader thread turns the child's messages into
asyncio futures. If the child dies (SIGKILL, OOM, segfault in a CUDA kernel), the pipe closes, every pending
request fails with ``WorkerCrashed`` naming the exit signal, and the daemon keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import threading
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

from imageworks.config import ModelConfig
from imageworks.inference import GenRequest, GenResult

DEMO_MODEL = "demo"
"""Model name meaning: the bundled tiny Qwen2.5-VL trained on synthetic shapes (built on first use)."""


class WorkerCrashed(Exception):
    """The worker process exited while requests were pending."""


class WorkerLoadFailed(Exception):
    """The backend raised while loading; the message says why (missing dir, bad config, OOM...)."""


# ---- child side ---------------------------------------------------------------------------------------------


def worker_main(conn: Connection, model: dict[str, Any], cancel_flag: Any) -> None:
    """Entry point of the child process: load, then serve generate requests until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the daemon's terminal is the daemon's to handle
    try:
        from daemon.backends.base import create_backend

        config = ModelConfig(**model)
        if config.name == DEMO_MODEL:
            from daemon.backends.tiny import demo_model_path

            path = demo_model_path(trained=True)
            import msgspec

            config = msgspec.structs.replace(config, name=str(path))
        backend = create_backend(config)
        info = backend.load()
        conn.send({"op": "loaded", "info": info, "pid": os.getpid()})
    except BaseException as exc:
        conn.send({"op": "load_failed", "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()})
        return
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            break  # daemon went away
        if msg["op"] == "shutdown":
            break
        if msg["op"] == "generate":
            requests: list[GenRequest] = msg["requests"]
            try:
                results = backend.generate(requests, should_stop=cancel_flag.is_set)
                if len(results) != len(requests):
                    raise RuntimeError(f"backend returned {len(results)} results for {len(requests)} requests")
            except BaseException as exc:
                err = f"model error: {type(exc).__name__}: {exc}"
                results = [GenResult(error=err) for _ in requests]
            conn.send({"op": "results", "id": msg["id"], "results": results})
    with contextlib.suppress(Exception):
        backend.close()


# ---- daemon side --------------------------------------------------------------------------------------------


class WorkerHandle:
    """One running worker process, seen from the daemon's event loop."""

    def __init__(self, model: ModelConfig, loop: asyncio.AbstractEventLoop) -> None:
        self.model = model
        self.loop = loop
        ctx = multiprocessing.get_context("spawn")
        self.cancel_flag = ctx.Event()
        parent, child = ctx.Pipe(duplex=True)
        self.conn = parent
        self.process = ctx.Process(
            target=worker_main,
            args=(child, _model_dict(model), self.cancel_flag),
            name="imageworks-model-worker",
            daemon=True,
        )
        self.process.start()
        child.close()  # so the parent sees EOF when the child dies
        self._send_lock = threading.Lock()
        self._pending: dict[int, asyncio.Future[list[GenResult]]] = {}
        self._next_id = 0
        self.loaded: asyncio.Future[dict[str, Any]] = loop.create_future()
        self.exited: asyncio.Future[str] = loop.create_future()
        self._reader = threading.Thread(target=self._read_loop, name="worker-reader", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int | None:
        return self.process.pid

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
        if op == "loaded" and not self.loaded.done():
            self.loaded.set_result(msg["info"])
        elif op == "load_failed" and not self.loaded.done():
            self.loaded.set_exception(WorkerLoadFailed(msg["error"]))
        elif op == "results":
            fut = self._pending.pop(msg["id"], None)
            if fut is not None and not fut.done():
                fut.set_result(msg["results"])

    def _on_exit(self, reason: str) -> None:
        if not self.loaded.done():
            self.loaded.set_exception(WorkerLoadFailed(reason))
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(WorkerCrashed(reason))
        self._pending.clear()
        if not self.exited.done():
            self.exited.set_result(reason)

    async def generate(self, requests: list[GenRequest]) -> list[GenResult]:
        if self.exited.done():
            raise WorkerCrashed(self.exited.result())
        self._next_id += 1
        fut: asyncio.Future[list[GenResult]] = self.loop.create_future()
        self._pending[self._next_id] = fut
        msg = {"op": "generate", "id": self._next_id, "requests": requests}
        try:
            await asyncio.to_thread(self._send, msg)
        except (OSError, BrokenPipeError) as exc:
            self._pending.pop(self._next_id, None)
            raise WorkerCrashed(f"model worker is gone ({exc})") from exc
        return await fut

    def _send(self, msg: dict[str, Any]) -> None:
        with self._send_lock:
            self.conn.send(msg)

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
        """Synchronous last resort at daemon exit."""
        if self.process.is_alive():
            self.process.kill()
            self.process.join(2)


def _model_dict(model: ModelConfig) -> dict[str, Any]:
    import msgspec

    return msgspec.structs.asdict(model)
