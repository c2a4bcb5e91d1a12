"""Private APIs of dependencies we still rely on, each named here so an upgrade that breaks one fails this test
(and pyproject.toml pins an upper bound on the dependency)."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyexiv2
import pytest
from PIL import Image


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(out, "JPEG")
    return out.getvalue()


def test_pyexiv2_raw_tables_are_rows_of_bytes() -> None:
    """imageworks/metadata/exiv.py reads ``ImageData._exiv2api_image.read_xmp/iptc/exif()``: pyexiv2's public
    ``read_*`` decode every value as UTF-8 and raise on Latin-1 bytes, so we decode each raw value ourselves. The
    assumption: the private attribute exists and yields dicts with ``tag`` and ``value`` as bytes (lists of bytes for
    XMP arrays)."""
    data = _jpeg()
    with pyexiv2.ImageData(data) as img:
        img.modify_xmp({"Xmp.dc.subject": ["a", "b"], "Xmp.dc.title": {'lang="x-default"': "t"}})
        img.modify_iptc({"Iptc.Application2.Keywords": ["k"]})
        data = img.get_bytes()
    img = pyexiv2.ImageData(data)
    try:
        native = img._exiv2api_image
        xmp, iptc = native.read_xmp(), native.read_iptc()
        assert isinstance(native.read_exif(), list)
    finally:
        img.close()
    subject = next(r for r in xmp if r["tag"] == b"Xmp.dc.subject")
    assert subject["value"] == [b"a", b"b"]
    keywords = next(r for r in iptc if r["tag"] == b"Iptc.Application2.Keywords")
    assert keywords["value"] == b"k"


def test_pyexiv2_image_of_a_path_has_the_same_native_image_and_closes_it(tmp_path: Path) -> None:
    """The scan's probe reads through ``pyexiv2.Image(path)._exiv2api_image`` (exiv2 reads only the metadata of the
    file) and frees it with the native ``close_image()`` (pyexiv2's ``close()`` costs as much as the read)."""
    path = tmp_path / "p.jpg"
    path.write_bytes(_jpeg())
    native = pyexiv2.Image(str(path))._exiv2api_image
    assert isinstance(native.read_xmp(), list) and isinstance(native.read_iptc(), list)
    native.close_image()


async def test_textual_compositor_render_strips_is_the_screen_as_lines() -> None:
    """tests/test_tui_helpers.py ``screen_text`` (used by most TUI tests) reads ``Screen._compositor.render_strips()``:
    Textual's public ``App.export_screenshot()`` gives the same screen as an SVG, about six times slower, and tests
    that time the App against the daemon's events poll the screen. The assumption: it returns one Strip per line of
    the screen, each a run of Segments whose text is what the terminal shows there."""
    from textual.app import App, ComposeResult
    from textual.widgets import Static

    class Two(App[None]):
        def compose(self) -> ComposeResult:
            yield Static("first line")
            yield Static("second line")

    app = Two()
    async with app.run_test(size=(30, 4)) as pilot:
        await pilot.pause()
        strips = app.screen._compositor.render_strips()
        lines = ["".join(segment.text for segment in strip) for strip in strips]
    assert len(lines) == 4 and all(len(line) == 30 for line in lines)
    assert [line.rstrip() for line in lines[:2]] == ["first line", "second line"]


async def test_textual_app_display_and_batch_count_see_each_frame() -> None:
    """tests/test_tui_startup.py records the frames the App would write to the terminal by overriding
    ``App._display(screen, renderable)`` and skipping those inside a batch (``App._batch_count``): no public hook
    sees a frame. The assumption: ``_display`` is called for each frame with the screen, and ``_batch_count`` is
    non-zero inside ``batch_update``."""
    from textual.app import App, ComposeResult
    from textual.widgets import Static

    frames: list[tuple[int, bool]] = []

    class Recording(App[None]):
        def compose(self) -> ComposeResult:
            yield Static("hello", id="hello")

        def _display(self, screen, renderable) -> None:
            frames.append((self._batch_count, renderable is not None))
            super()._display(screen, renderable)

    app = Recording()
    async with app.run_test(size=(20, 3)) as pilot:
        await pilot.pause()
        before = len(frames)
        with app.batch_update():
            assert app._batch_count == 1
            app.query_one("#hello", Static).update("again")
        await pilot.pause()
    assert frames and any(painted for _, painted in frames)
    assert len(frames) > before and frames[-1][0] == 0


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool not installed")
def test_windows_xp_fields_survive_usearch_in_the_same_process(tmp_path: Path) -> None:
    """usearch's extension exports its own copy of libstdc++'s codecvt facets: loaded before exiv2 it emptied every
    XP field exiv2 wrote afterwards in that process (the daemon imports the similarity search beside the metadata
    writer). imageworks/similarity/ann.py loads exiv2 first; this writes through our writer after importing it, in a
    fresh interpreter, and reads the file back with exiftool."""
    photo = tmp_path / "p.jpg"
    Image.new("RGB", (16, 12), "red").save(photo)
    code = (
        "import sys\n"
        "import imageworks.similarity.ann\n"
        "from imageworks import metadata as md\n"
        "from imageworks.config import MetadataConfig\n"
        "md.apply(md.plan(sys.argv[1], md.Proposed(caption='Harbour', keywords=['beach', 'sea']), 'merge',"
        " options=MetadataConfig()))\n"
    )
    subprocess.run([sys.executable, "-c", code, str(photo)], check=True, capture_output=True)
    out = subprocess.run(
        ["exiftool", "-j", "-XPKeywords", "-XPTitle", str(photo)], check=True, capture_output=True, text=True
    ).stdout
    tags = json.loads(out)[0]
    assert tags.get("XPKeywords") == "beach;sea" and tags.get("XPTitle") == "Harbour"


def test_textual_serve_page_context_and_websocket_url() -> None:
    """tui/serve.py hands the served page's token on to its websocket: it takes the page's context from
    ``Server.handle_index.__wrapped__`` (the handler under aiohttp_jinja2's ``template`` decorator), adds the token to
    ``app_websocket_url`` and renders textual-serve's ``app_index.html`` itself; the page's script appends
    ``?width=…`` to that URL (so the token's parameter ends with ``&``). tests/test_tui_serve.py serves it for real."""
    import inspect
    from pathlib import Path

    from textual_serve import server

    assert inspect.iscoroutinefunction(inspect.unwrap(server.Server.handle_index))
    package = Path(server.__file__).parent
    assert 'data-session-websocket-url="{{ app_websocket_url }}"' in (package / "templates/app_index.html").read_text()
    assert 'this.websocket_url+"?width="' in (package / "static/js/textual.js").read_text()
