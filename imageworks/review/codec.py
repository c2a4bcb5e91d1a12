"""Drafts to bytes and back (msgpack), for the store's rows and its history.

A path may hold surrogate escapes (a non-UTF-8 file name, as ``os`` functions give it), which UTF-8 cannot
encode: such a draft is stored with those strings as msgpack ext values holding the name's bytes.
"""

from __future__ import annotations

import os
from typing import Any

import msgspec

from imageworks.review.model import Draft

FS_BYTES_EXT = 1
"""msgpack ext code of a string carried as its file-system bytes (the same convention as the wire protocol)."""

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Draft)


def _ext_hook(code: int, data: memoryview) -> Any:
    if code != FS_BYTES_EXT:
        raise ValueError(f"unknown msgpack extension {code} in a stored draft")
    return os.fsdecode(bytes(data))


_any_decoder = msgspec.msgpack.Decoder(ext_hook=_ext_hook)


def _escape(value: Any) -> Any:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return msgspec.msgpack.Ext(FS_BYTES_EXT, os.fsencode(value))
        return value
    if isinstance(value, dict):
        return {k: _escape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escape(v) for v in value]
    return value


def path_key(path: str) -> bytes:
    """A draft's key in SQLite: the path's file-system bytes (any file name, and byte order for root ranges)."""
    return os.fsencode(path)


def encode_draft(draft: Draft) -> bytes:
    try:
        return _encoder.encode(draft)
    except UnicodeEncodeError:
        return _encoder.encode(_escape(msgspec.to_builtins(draft)))


def decode_draft(data: bytes) -> Draft:
    try:
        return _decoder.decode(data)
    except msgspec.ValidationError:  # an escaped string in a typed field: decode loosely, then convert
        return msgspec.convert(_any_decoder.decode(data), Draft)
