"""Helpers for the OpenAI-endpoint tests: a daemon's endpoint URL and key, images as data: URIs."""

from __future__ import annotations

import base64
import io
import json
import urllib.error
import urllib.request

from imageworks import apikey
from imageworks.client import Client


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


def image_message(text: str, uri: str, system: str = "") -> list[dict]:
    """A user message with the image first, then the text (the order the tagger's prompts use)."""
    user = {
        "role": "user",
        "content": [{"type": "image_url", "image_url": {"url": uri}}, {"type": "text", "text": text}],
    }
    return ([{"role": "system", "content": system}] if system else []) + [user]


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
