"""Image preview: kitty (TGP) or sixel graphics through textual-image where the terminal supports them, half-cell
blocks otherwise (our own renderer: 24-bit colour, which Textual reduces to 256 or 16 colours when the terminal
has no truecolor, e.g. over SSH without COLORTERM), or a line of text when the file cannot be read.

textual-image asks the terminal what it supports when it is imported, and that only works before Textual takes
over the terminal: ``prepare()`` is called by `imageworks tui` before the app starts. A terminal that does not
answer costs a 0.1 s timeout per question, so ``auto`` asks only terminals whose TERM / TERM_PROGRAM name one that
draws graphics (kitty, ghostty, WezTerm, foot, konsole, mlterm, contour, iTerm2, or a TERM holding "sixel")."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Mapping
from typing import IO, Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.cache import LRUCache
from textual.containers import Container
from textual.widgets import Static

GRAPHICS_TERMINALS = ("kitty", "ghostty", "wezterm", "foot", "konsole", "mlterm", "contour", "iterm", "sixel")
GRAPHICS: type | None = None
"""textual-image's widget class when the terminal answered for kitty or sixel graphics; None = half-cell blocks."""
MODE = "halfcell"
REMOTE_PREVIEW_PX = 768
"""The side asked of the daemon for a photo on its machine: more than a terminal preview shows, a JPEG of ~100 kB."""


def prepare(mode: str) -> str:
    """Choose how previews are drawn; call before the app starts. Returns what was chosen."""
    global GRAPHICS, MODE
    MODE = mode
    GRAPHICS = None
    if mode != "auto" or not (sys.__stdout__ and sys.__stdout__.isatty() and sys.__stdin__ and sys.__stdin__.isatty()):
        return "off" if mode == "off" else "halfcell"
    if not may_draw_graphics(os.environ):
        return "halfcell"
    try:
        import textual_image.renderable as renderables
        import textual_image.widget as widgets
    except Exception:  # a terminal that answers oddly must not stop the app from starting
        return "halfcell"
    if renderables.Image is renderables.TGPImage:
        GRAPHICS = widgets.TGPImage
        return "kitty"
    if renderables.Image is renderables.SixelImage:
        GRAPHICS = widgets.SixelImage
        return "sixel"
    return "halfcell"


def may_draw_graphics(environ: Mapping[str, str]) -> bool:
    """Whether the terminal is worth asking about kitty/sixel graphics (its name says it may draw them)."""
    names = " ".join(environ.get(k, "") for k in ("TERM", "TERM_PROGRAM", "LC_TERMINAL")).lower()
    return any(name in names for name in GRAPHICS_TERMINALS)


class HalfBlocks:
    """A Rich renderable: each cell shows two pixels, the upper as the ▀ glyph, the lower as its background."""

    def __init__(self, image: Any) -> None:
        self.image = image.convert("RGB")

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        img = self.image
        width, height = img.size
        pixels = img.load()
        for y in range(0, height - 1, 2):
            line = []
            for x in range(width):
                top = pixels[x, y]
                bottom = pixels[x, y + 1]
                line.append(Segment("▀", Style.from_color(_rgb(top), _rgb(bottom))))
            yield from line
            yield Segment.line()


def _rgb(pixel: tuple[int, int, int]) -> Any:
    from rich.color import Color

    return Color.from_rgb(*pixel[:3])


def load_thumbnail(path: str | IO[bytes], cells_wide: int, cells_high: int) -> Any:
    """Open ``path`` (or an image file's bytes) and shrink it to fit the cells (two pixels per cell vertically).
    Raises OSError or PIL errors."""
    from PIL import Image, ImageOps

    with Image.open(path) as img:
        img = ImageOps.exif_transpose(img)
        img.thumbnail((max(1, cells_wide), max(2, cells_high * 2)))
        return img.convert("RGB")


THUMBNAILS: LRUCache[tuple[str, int, int], Any] = LRUCache(64)
"""Half-cell thumbnails by (path, cells wide, cells high): stepping back and forth through a review decodes once."""


class ImagePreview(Container):
    """Shows one image; ``show(path)`` loads it in an App-owned thread worker (the latest request in ``group``
    wins: previews shown side by side each need a group of their own), or at once from the thumbnail cache;
    ``prefetch(path)`` decodes the next one ahead into that cache."""

    DEFAULT_CSS = """
    ImagePreview { height: 12; width: 1fr; }
    ImagePreview > Static { width: auto; height: auto; }
    """

    def __init__(self, *, id: str | None = None, group: str = "preview") -> None:
        super().__init__(id=id)
        self.path: str | None = None
        self.group = group
        self._fetched: tuple[int, int] | None = None
        """The cells the shown image was decoded for."""

    def compose(self) -> ComposeResult:
        yield Static("", id="preview-body")

    def show(self, path: str | None) -> None:
        if path == self.path:
            return
        self.path = path
        if MODE == "off":
            self._set(Text("previews are off (tui.image_preview)", style="dim"))
            return
        if not path:
            self._set(Text("no image", style="dim"))
            return
        if not self.size.width:  # not laid out yet: decode for the size it is about to have, not a guess
            self.call_after_refresh(self._fetch, path)
            return
        self._fetch(path)

    def on_resize(self) -> None:
        """A new size (a zoomed pane, a resized terminal): decode the image again for it."""
        if self.path and MODE != "off" and self._fetched is not None and self._cells() != self._fetched:
            self._fetch(self.path)

    def _fetch(self, path: str) -> None:
        if path != self.path:
            return
        width, height = self._fetched = self._cells()
        cached = THUMBNAILS.get((path, width, height)) if GRAPHICS is None else None
        if cached is not None:
            self._loaded(path, cached)
            return
        self.app.run_worker(
            lambda: self._load(path, width, height), thread=True, group=self.group, exclusive=True, exit_on_error=False
        )

    def prefetch(self, path: str | None) -> None:
        """Decode ``path`` into the thumbnail cache ahead of its ``show`` (half-cell previews only)."""
        if not path or MODE == "off" or GRAPHICS is not None:
            return
        width, height = self._cells()
        if (path, width, height) not in THUMBNAILS:
            self.app.run_worker(
                lambda: self._decode(path, width, height),
                thread=True,
                group="preview-prefetch",
                exclusive=True,
                exit_on_error=False,
            )

    def _cells(self) -> tuple[int, int]:
        return max(8, self.size.width or 30), max(4, self.size.height or 12)

    def _source(self, path: str) -> str | IO[bytes]:
        """The file, or its thumbnail from the daemon when the photos are on the daemon's machine (on the worker
        thread: the App asks the daemon on its loop)."""
        remote = getattr(self.app, "remote_thumbnail", None)
        jpeg = remote(path, REMOTE_PREVIEW_PX) if remote is not None else None
        return path if jpeg is None else io.BytesIO(jpeg)

    def _decode(self, path: str, width: int, height: int) -> Any:
        try:
            source = self._source(path)
            if GRAPHICS is not None:
                from PIL import Image

                with Image.open(source) as img:
                    img.load()
                    return img.copy()
            result = load_thumbnail(source, width, height)
        except Exception as exc:  # any unreadable file: one line, never a traceback
            return Text(f"no preview: {type(exc).__name__}: {exc}"[:200], style="dim")
        THUMBNAILS[(path, width, height)] = result
        return result

    def _load(self, path: str, width: int, height: int) -> None:
        self.app.call_from_thread(self._loaded, path, self._decode(path, width, height))

    def _loaded(self, path: str, result: Any) -> None:
        if path != self.path:
            return
        if isinstance(result, Text):
            self._set(result)
        elif GRAPHICS is not None:
            self._set_graphics(result)
        else:
            self._set(HalfBlocks(result))

    def _set(self, renderable: Any) -> None:
        for child in list(self.children):
            if child.id != "preview-body":
                child.remove()
        body = self.query_one("#preview-body", Static)
        body.display = True
        body.update(renderable)

    def _set_graphics(self, image: Any) -> None:
        assert GRAPHICS is not None
        self.query_one("#preview-body", Static).display = False
        for child in list(self.children):
            if child.id != "preview-body":
                child.remove()
        self.mount(GRAPHICS(image))
