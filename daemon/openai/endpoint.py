"""The OpenAI-compatible endpoint: an aiohttp server on the daemon's loop, keyed, feeding the batching queue.

Routes: ``GET /v1/models`` (the loaded or loading model, with its state) and ``POST /v1/chat/completions`` (plain
or streamed as SSE). Every route, unknown ones included, needs the bearer key (imageworks.apikey); errors have OpenAI's
shape. The endpoint never loads a model: with none loaded it answers 503 (a request for the model being loaded waits
for it), and a request naming another model than the loaded one is refused (the daemon's model_mismatch rule). A
client that disconnects has its handler cancelled by aiohttp, which cancels its place in the batching queue: its
generation stops at the next step.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
import uuid
from typing import Any

from aiohttp import web

from imageworks import protocol as P
from imageworks.apikey import KeyWatch
from imageworks.config import ModelConfig, OpenAIConfig
from imageworks.errors import DaemonError
from imageworks.inference import GenRequest, GenResult, first_stop

from ..slots import ModelManager
from ..workers.base import WorkerCrashed
from .chat import Chat, Refusal, decode_body, parse_chat
from .replies import Reply, StopScanner, error_body, finish_reason

log = logging.getLogger("imageworks.daemon")

DEMO_LABEL = "demo model (bundled, tiny, trained on synthetic shapes)"


def parse_listen(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8765`` for IPv6) -> (host, port); DaemonError when it is not that."""
    host, sep, port = listen.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise DaemonError(f"openai listen address must look like HOST:PORT (127.0.0.1:8765), got {listen!r}")
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


class OpenAIEndpoint:
    def __init__(self, config: OpenAIConfig, models: ModelManager, model_config: ModelConfig) -> None:
        self.config = config
        self.models = models
        self.model_config = model_config
        self.keys = KeyWatch()
        self.requests = 0
        self.url = ""
        self._runner: web.AppRunner | None = None

    # ---- lifecycle -------------------------------------------------------------------------------------------

    async def start(self) -> None:
        host, port = parse_listen(self.config.listen)
        if not is_loopback(host):
            log.warning("the OpenAI endpoint listens on %s, beyond this machine: only its key guards it", host)
        self.keys.current()  # made on first use: `imageworks daemon openai-key` prints it
        self.models.batching.gather_s = self.config.max_queue_delay_ms / 1000
        app = web.Application(client_max_size=self.config.max_body_bytes, middlewares=[self._guard])
        app.router.add_get("/v1/models", self.list_models)
        app.router.add_post("/v1/chat/completions", self.chat_completions)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, host, port).start()
        except OSError as exc:
            await self._runner.cleanup()
            raise DaemonError(f"the OpenAI endpoint cannot listen on {self.config.listen}: {exc.strerror}") from exc
        bound_port = self._runner.addresses[0][1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{bound_port}/v1"
        log.info("OpenAI-compatible endpoint at %s", self.url)

    async def stop(self) -> None:
        if self._runner is not None:
            with contextlib.suppress(Exception):
                await self._runner.cleanup()

    def status(self) -> P.OpenAIStatus:
        stats = self.models.batching.stats
        return P.OpenAIStatus(
            url=self.url,
            requests=self.requests,
            completions=stats.endpoint_requests,
            cancelled=stats.cancelled,
            max_batches_behind=stats.max_behind,
        )

    # ---- the key and errors ----------------------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not given or not hmac.compare_digest(given.encode(), self.keys.current().encode()):
            message = "missing or wrong API key: send `Authorization: Bearer KEY` (`imageworks daemon openai-key`)"
            return self._error(Refusal(401, message, "invalid_api_key"))
        self.requests += 1
        try:
            return await handler(request)
        except Refusal as exc:
            return self._error(exc)
        except web.HTTPRequestEntityTooLarge:
            limit = self.config.max_body_bytes
            return self._error(Refusal(413, f"the request body is over {limit} bytes (openai.max_body_bytes)"))
        except web.HTTPException as exc:
            return self._error(Refusal(exc.status, exc.reason))

    @staticmethod
    def _error(refusal: Refusal) -> web.Response:
        body = error_body(str(refusal), refusal.status, refusal.code or None, refusal.param)
        return web.json_response(body, status=refusal.status)

    # ---- routes ----------------------------------------------------------------------------------------------

    async def list_models(self, request: web.Request) -> web.Response:
        """The model loaded or loading (``state`` says which; a loading one has its ``progress`` and ``message``):
        a client that polls here sees the model it waits for from the daemon's start, never an empty list."""
        state = self.models.state
        data = []
        if state.state in ("loading", "loaded"):
            entry: dict[str, Any] = {
                "id": state.name,
                "object": "model",
                "created": 0,
                "owned_by": "imageworks",
                "state": state.state,
            }
            if state.state == "loading":
                entry["progress"] = state.progress if state.progress >= 0 else None
                entry["message"] = state.message
            if state.demo:
                entry["label"] = DEMO_LABEL
            data.append(entry)
        return web.json_response({"object": "list", "data": data})

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        body = decode_body(await request.read())
        model = await self._serving(body.model)
        chat = await asyncio.to_thread(parse_chat, body, self._pixels(), self.model_config.max_image_pixels)
        reply = Reply("chatcmpl-" + uuid.uuid4().hex, model)
        if chat.stream:
            return await self._stream(request, chat, reply)
        result = await self._generate(chat.request)
        cut = first_stop(result.text, chat.stops)
        text = result.text if cut is None else result.text[:cut]
        finish = finish_reason(result, chat.request.max_new_tokens, stopped=cut is not None)
        return web.json_response(reply.completion(text, finish, result))

    async def _serving(self, asked: str) -> str:
        """The loaded model's name when the request may use it; Refusal (503: none loaded, 404: another one). A
        request for the model that is loading waits for its load (as Ollama queues them), and gets 503 if it fails."""
        state = self.models.state
        if state.state == "loading" and asked in {state.name, state.info.get("name", "")}:
            await self.models.vlm.load_settled()  # a failed load is answered below, from its state
            state = self.models.state
        if state.state != "loaded":
            doing = f"model {state.name!r} is {state.state}" if state.state != "none" else "no model is loaded"
            raise Refusal(
                503,
                f"{doing}: load one first (`imageworks models load NAME`); the endpoint never loads a model",
                "model_not_loaded",
            )
        if asked not in {state.name, state.info.get("name", "")}:
            raise Refusal(
                404,
                f"model {asked!r} is not loaded ({state.name!r} is); switch models explicitly (`imageworks models "
                "switch`)",
                "model_mismatch",
                "model",
            )
        return state.name

    def _pixels(self) -> int:
        return int(self.models.state.info.get("max_pixels") or self.model_config.max_pixels)

    async def _generate(self, request: GenRequest, on_text: Any = None) -> GenResult:
        try:
            result = await self.models.batching.submit(request, on_text)
        except WorkerCrashed as exc:
            raise Refusal(503, f"the model is gone: {exc}", "model_not_loaded") from None
        if result.error:
            raise Refusal(500, f"generation failed: {result.error}", "generation_failed")
        return result

    async def _stream(self, request: web.Request, chat: Chat, reply: Reply) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        deltas: asyncio.Queue[str | None] = asyncio.Queue()
        task = asyncio.ensure_future(self._generate(chat.request, deltas.put_nowait))
        task.add_done_callback(lambda _: deltas.put_nowait(None))
        scanner = StopScanner(chat.stops)
        try:  # a disconnect cancels this handler (or fails a write): the finally then cancels the generation
            await send_event(response, reply.chunk({"role": "assistant", "content": ""}))
            while (delta := await deltas.get()) is not None:
                if text := scanner.feed(delta):
                    await send_event(response, reply.chunk({"content": text}))
            try:
                result = task.result()
            except Refusal as exc:
                await send_event(response, error_body(str(exc), exc.status, exc.code or None))
            else:
                if text := scanner.flush():
                    await send_event(response, reply.chunk({"content": text}))
                finish = finish_reason(result, chat.request.max_new_tokens, scanner.stopped)
                await send_event(response, reply.chunk({}, finish))
                if chat.include_usage:
                    await send_event(response, reply.usage_chunk(result))
            await response.write(b"data: [DONE]\n\n")
        finally:
            if not task.done():
                task.cancel()
        return response


async def send_event(response: web.StreamResponse, data: dict[str, Any]) -> None:
    await response.write(b"data: " + json.dumps(data, ensure_ascii=False).encode() + b"\n\n")
