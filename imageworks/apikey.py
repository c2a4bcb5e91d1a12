"""The OpenAI-compatible endpoint's bearer key: made on first use, kept 0600 in the state dir, rotatable.

Both sides read it here: the CLI prints and rotates it (`imageworks daemon openai-key [--rotate]`), the daemon checks
every HTTP request against it (re-reading the file when it changes, so a rotation takes effect at once).
"""

from __future__ import annotations

import os
import secrets

from imageworks import paths

KEY_PREFIX = "iw-"


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def read_key(create: bool = True) -> str:
    """The current key; made (and written 0600) when there is none and ``create``; empty when none and not."""
    path = paths.openai_key_file()
    data = paths.read_private(path)
    if data is not None and data.strip():
        return data.decode().strip()
    if not create:
        return ""
    return rotate_key()


def rotate_key() -> str:
    """Replace the key with a fresh one (clients holding the old one get 401 from then on)."""
    key = new_key()
    paths.write_private(paths.openai_key_file(), key + "\n")
    return key


class KeyWatch:
    """The key as the file holds it now: re-read only when the file changed (a stat per request)."""

    def __init__(self) -> None:
        self._seen: tuple[int, int, int] | None = None
        self._key = ""

    def current(self) -> str:
        path = paths.openai_key_file()
        try:
            st = os.stat(path)
        except FileNotFoundError:
            self._seen, self._key = None, read_key()  # removed by hand: a fresh key, as on first use
            return self._key
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp != self._seen:
            self._key, self._seen = read_key(), stamp
        return self._key
