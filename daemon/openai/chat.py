"""A chat-completions request body, checked and turned into the model's GenRequest.

The body is decoded into typed Structs (msgspec): unknown fields are ignored, a wrong type is a 400 naming the
field's path. Images come only inline, as ``data:`` URIs; each is decoded here (off the loop) with the same reader
and pixel cap as jobs' images, so a broken image is a 400 before it takes a place in a batch.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Literal

import msgspec

from imageworks.errors import DaemonError
from imageworks.inference import ChatPart, ChatTurn, GenRequest

from ..backends.images import ImageReadError, open_image

DEFAULT_MAX_TOKENS = 512
"""The answer's length cap when the request names none."""
MAX_STOPS = 4


class Refusal(DaemonError):
    """The OpenAI endpoint's one error type: an HTTP status answered with OpenAI's error body (``code``: OpenAI's
    error code, empty for none; ``param``: the request field at fault)."""

    code = ""

    def __init__(self, status: int, message: str, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.param = param


def bad_request(message: str, param: str | None = None) -> Refusal:
    """A 400 saying what is wrong with the request; ``param`` names the field."""
    return Refusal(400, message, "invalid_request", param)


class TextPart(msgspec.Struct, tag="text", tag_field="type"):
    text: str


class ImageURL(msgspec.Struct):
    url: str


class ImagePart(msgspec.Struct, tag="image_url", tag_field="type"):
    image_url: ImageURL


class Message(msgspec.Struct):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart | ImagePart] | None = None


class StreamOptions(msgspec.Struct):
    include_usage: bool = False


class ChatBody(msgspec.Struct):
    model: str
    messages: Annotated[list[Message], msgspec.Meta(min_length=1)]
    max_tokens: Annotated[int, msgspec.Meta(ge=1)] | None = None
    max_completion_tokens: Annotated[int, msgspec.Meta(ge=1)] | None = None
    temperature: Annotated[float, msgspec.Meta(ge=0, le=2)] | None = None
    top_p: Annotated[float, msgspec.Meta(gt=0, le=1)] | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    n: int | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None


class Chat(msgspec.Struct, kw_only=True):
    """A checked request: what the model runs, and what the reply needs."""

    model: str
    request: GenRequest
    stops: list[str]
    stream: bool
    include_usage: bool


_FIELD = re.compile(r"at `\$\.?([^`]*)`")


def decode_body(body: bytes) -> ChatBody:
    """The body as a ChatBody; a 400 Refusal naming the field on a wrong type or missing field."""
    try:
        return msgspec.json.decode(body, type=ChatBody)
    except msgspec.ValidationError as exc:
        found = _FIELD.search(str(exc))
        raise bad_request(f"invalid request: {exc}", found.group(1) if found else None) from None
    except msgspec.DecodeError as exc:
        raise bad_request(f"the body is not valid JSON: {exc}") from None


def parse_chat(body: ChatBody, max_pixels: int, max_image_pixels: int) -> Chat:
    """The GenRequest for a decoded body (decodes its images: call it off the event loop)."""
    if body.n not in (None, 1):
        raise bad_request("only n=1 is supported", "n")
    stops = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    if len(stops) > MAX_STOPS or not all(stops):
        raise bad_request(f"stop takes up to {MAX_STOPS} non-empty strings", "stop")
    turns = tuple(_turn(i, message, (max_pixels, max_image_pixels)) for i, message in enumerate(body.messages))
    temperature = 1.0 if body.temperature is None else body.temperature  # OpenAI's default
    request = GenRequest(
        prompt="",
        chat=turns,
        max_new_tokens=body.max_completion_tokens or body.max_tokens or DEFAULT_MAX_TOKENS,
        temperature=temperature,
        top_p=1.0 if body.top_p is None else body.top_p,
        seed=body.seed,
        stream=bool(body.stream),
        stop=tuple(stops),
    )
    include_usage = body.stream_options is not None and body.stream_options.include_usage
    return Chat(model=body.model, request=request, stops=stops, stream=bool(body.stream), include_usage=include_usage)


def _turn(index: int, message: Message, caps: tuple[int, int]) -> ChatTurn:
    role = "system" if message.role == "developer" else message.role
    content = message.content
    if content is None or isinstance(content, str):
        return ChatTurn(role=role, parts=(ChatPart(text=content or ""),))
    parts = []
    for j, part in enumerate(content):
        if isinstance(part, TextPart):
            parts.append(ChatPart(text=part.text))
            continue
        if role != "user":
            raise bad_request("only user messages may hold images", f"messages[{index}].content[{j}]")
        parts.append(ChatPart(image=image_bytes(part.image_url.url, caps, f"messages[{index}].content[{j}]")))
    return ChatTurn(role=role, parts=tuple(parts))


def image_bytes(url: str, caps: tuple[int, int], param: str) -> bytes:
    """A data: URI's image, checked to decode within the pixel caps jobs use (``model.max_pixels`` and
    ``model.max_image_pixels``); a 400 Refusal saying why not."""
    if not url.startswith("data:"):
        scheme = url.split(":", 1)[0] if ":" in url else "a bare path"
        raise bad_request(
            f"image_url must be a data: URI (base64); {scheme} URLs are refused: the daemon fetches nothing",
            param + ".image_url.url",
        )
    header, _, payload = url.partition(",")
    if not header.endswith(";base64"):
        raise bad_request("image_url data: URIs must be base64 (data:image/png;base64,...)", param + ".image_url.url")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise bad_request(f"image_url: the base64 data does not decode: {exc}", param + ".image_url.url") from None
    try:
        open_image(data, *caps)
    except ImageReadError as exc:
        raise bad_request(str(exc), param + ".image_url.url") from None
    return data
