"""msgpack for our Structs, whatever file names they hold: the one encoding of the wire, the daemon's pipes to its
workers, and the stored drafts.

A file name that is not UTF-8 reaches Python as a str holding surrogate escapes (``os.fsdecode``), which UTF-8, and
so msgpack's str, cannot carry. Such a string travels as a msgpack ext value holding the name's bytes
(``FS_BYTES_EXT``) and comes back as the same surrogate-escaped str. Messages without one (nearly all) take
msgspec's fast typed path both ways.
"""

from __future__ import annotations

import os
from typing import Any, Generic, TypeVar

import msgspec

T = TypeVar("T")

FS_BYTES_EXT = 1
"""msgpack ext code of a string carried as its file-system bytes."""

_encoder = msgspec.msgpack.Encoder()


def _ext_hook(code: int, data: memoryview) -> Any:
    if code != FS_BYTES_EXT:
        raise msgspec.DecodeError(f"unknown msgpack extension {code}")
    return os.fsdecode(bytes(data))


_loose = msgspec.msgpack.Decoder(ext_hook=_ext_hook)


def _escape(value: Any) -> Any:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return msgspec.msgpack.Ext(FS_BYTES_EXT, os.fsencode(value))
        return value
    if isinstance(value, dict):
        return {_escape(k): _escape(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_escape(v) for v in value]
    return value


def pack(value: Any) -> bytes:
    """``value`` (a Struct, or builtins) as msgpack; surrogate-escaped strings as ext values."""
    try:
        return _encoder.encode(value)
    except UnicodeEncodeError:  # rare: a non-UTF-8 file name somewhere in it
        return _encoder.encode(_escape(msgspec.to_builtins(value, builtin_types=(bytes,))))


class Unpacker(Generic[T]):
    """Decodes msgpack made by ``pack`` as a ``type_`` (msgspec.ValidationError / DecodeError for anything else)."""

    def __init__(self, type_: Any) -> None:
        self.type = type_
        # the hook turns ext values in Any positions (items, records) back into str; an ext in a typed str field
        # fails validation, and decode() then decodes to builtins and converts
        self._typed: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder(type_, ext_hook=_ext_hook)

    def decode(self, data: bytes | memoryview) -> T:
        try:
            return self._typed.decode(data)
        except msgspec.ValidationError as exc:
            if "`ext`" not in str(exc):
                raise
            result: T = msgspec.convert(_loose.decode(data), self.type)
            return result
