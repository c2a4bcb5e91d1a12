"""Helpers for the OpenAI-endpoint tests: a daemon's endpoint URL and key, images as data: URIs."""

from __future__ import annotations

import base64
import io
import json
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

from imageworks import apikey
from imageworks.client import Client

if TYPE_CHECKING:
    from openai.types import CompletionUsage, Model
    from openai.types.chat import (
        ChatCompletion,
        ChatCompletionChunk,
        ChatCompletionMessageParam,
        ChatCompletionUserMessageParam,
    )


def endpoint() -> tuple[str, str]:
    """The running daemon's endpoint URL (from `status`) and its key (from the state dir, as the CLI reads it)."""
    with Client("test") as c:
        status = c.status()
    assert status.openai is not None, "the daemon runs no OpenAI endpoint"
    return status.openai.url, apikey.read_key(create=False)


def status():
    with Client("test") as c:
        return c.status()


def data_uri(image, fmt: str = "PNG") -> str:
    buf = io.BytesIO()
    image.save(buf, fmt)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode()


def image_message(text: str, uri: str, system: str = "") -> list[ChatCompletionMessageParam]:
    """A user message with the image first, then the text (the order the tagger's prompts use)."""
    user: ChatCompletionUserMessageParam = {
        "role": "user",
        "content": [{"type": "image_url", "image_url": {"url": uri}}, {"type": "text", "text": text}],
    }
    messages: list[ChatCompletionMessageParam] = [{"role": "system", "content": system}] if system else []
    return [*messages, user]


def text_of(completion: ChatCompletion) -> str:
    """The first choice's text (the endpoint always answers with text)."""
    content = completion.choices[0].message.content
    assert content is not None, completion
    return content


def usage_of(completion: ChatCompletion | ChatCompletionChunk) -> CompletionUsage:
    """The token counts (the endpoint reports them on every answer, and on a stream's last chunk when asked)."""
    assert completion.usage is not None, completion
    return completion.usage


def extra_of(model: Model) -> dict[str, Any]:
    """What the endpoint adds to an OpenAI model entry (state, progress, label)."""
    assert model.model_extra is not None, model
    return model.model_extra


def raw_request(url: str, key: str | None, body: object = None, method: str = "POST") -> tuple[int, dict]:
    """One HTTP request without the SDK (to send what it would not): (status, JSON body)."""
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
