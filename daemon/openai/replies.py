"""The OpenAI shapes of what the endpoint sends: completions, stream chunks, errors; and stop sequences."""

from __future__ import annotations

import time
from typing import Any

from imageworks.inference import GenResult, first_stop

ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error"}


def error_body(message: str, status: int, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    kind = ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def usage(result: GenResult) -> dict[str, int]:
    return {
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.tokens,
        "total_tokens": result.prompt_tokens + result.tokens,
    }


def finish_reason(result: GenResult, max_tokens: int, stopped: bool) -> str:
    return "length" if not stopped and result.tokens >= max_tokens else "stop"


class Reply:
    """One completion's id, time and model name, shared by its chunks."""

    def __init__(self, completion_id: str, model: str) -> None:
        self.id = completion_id
        self.model = model
        self.created = int(time.time())

    def completion(self, text: str, finish: str, result: GenResult) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": finish,
                    "logprobs": None,
                }
            ],
            "usage": usage(result),
        }

    def chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }

    def usage_chunk(self, result: GenResult) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage(result),
        }


class StopScanner:
    """Cuts streamed text at the first stop sequence: text that could be the start of one is held back until the
    next delta tells. ``feed`` returns what may be sent now; ``stopped`` turns true at a stop sequence."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = stops
        self.hold = max((len(s) for s in stops), default=1) - 1
        self.text = ""
        self.sent = 0
        self.stopped = False

    def feed(self, delta: str) -> str:
        if self.stopped:
            return ""
        self.text += delta
        cut = first_stop(self.text, self.stops)
        if cut is not None:
            self.stopped = True
            return self._send_to(cut)
        return self._send_to(max(self.sent, len(self.text) - self.hold))

    def flush(self) -> str:
        """The end of the text, when generation finished."""
        return "" if self.stopped else self._send_to(len(self.text))

    def _send_to(self, end: int) -> str:
        out, self.sent = self.text[self.sent : end], max(self.sent, end)
        return out
