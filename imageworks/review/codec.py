"""Drafts to bytes and back (msgpack), for the store's rows and its history.

A path may hold surrogate escapes (a non-UTF-8 file name, as ``os`` functions give it), which UTF-8 cannot
encode: such a draft is stored with those strings as msgpack ext values holding the name's bytes
(``imageworks.packing``, as on the wire).
"""

from __future__ import annotations

import os

from imageworks.packing import Unpacker, pack
from imageworks.review.drafts import Draft

_drafts = Unpacker[Draft](Draft)


def path_key(path: str) -> bytes:
    """A draft's key in SQLite: the path's file-system bytes (any file name, and byte order for root ranges)."""
    return os.fsencode(path)


def encode_draft(draft: Draft) -> bytes:
    return pack(draft)


def decode_draft(data: bytes) -> Draft:
    return _drafts.decode(data)
