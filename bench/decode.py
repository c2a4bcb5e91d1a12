"""Decode budget: peak RSS and seconds of reading the worst images for the model, before vs after the decode budget.

    python bench/decode.py [--before REV] [--files DIR]

"Before" is ``daemon/backends/images.py`` as of REV (git), "after" the working tree's; each decode runs in a
fresh interpreter (one per image and variant), so its peak RSS (``VmHWM``) is that decode's alone, on top of
an interpreter with Pillow imported (the "baseline" row). Images (built once, kept in DIR):

- a PNG bomb: 23000x23000 1-bit, a few hundred kB on disk (529 Mpx, just under the old 536 Mpx cap);
- a JPEG of 20000x20000 (400 Mpx, grey, low quality);
- a 150 Mpx TIFF (14142x10607 RGB, deflate), the largest legitimate medium-format file.

The model is given at most 1024*28*28 pixels (the default ``model.max_pixels``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_PIXELS = 1024 * 28 * 28

CHILD = """
import json, sys, time, importlib.util
spec = importlib.util.spec_from_file_location("images_under_test", sys.argv[1])
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
import PIL.Image
start = time.perf_counter()
outcome = "-"
if sys.argv[2] != "-":
    try:
        img = mod.open_image(sys.argv[2], int(sys.argv[3]))
        outcome = "decoded to %dx%d" % img.size
    except mod.ImageReadError as exc:
        outcome = "refused from the header" if "max_image_pixels" in str(exc) else "error: " + str(exc)[-60:]
seconds = time.perf_counter() - start
# VmHWM, not ru_maxrss: the latter carries the parent's peak across fork and exec
peak = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"seconds": seconds, "peak": peak, "outcome": outcome}))
"""


def png_bomb(path: Path, width: int, height: int) -> None:
    import struct

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\x00" + b"\xff" * ((width + 7) // 8)
    comp = zlib.compressobj(9)
    body = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b""))


def build(folder: Path) -> dict[str, Path]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "PNG bomb 23000x23000 (529 Mpx)": folder / "bomb-23000.png",
        "JPEG 20000x20000 (400 Mpx)": folder / "big-20000.jpg",
        "TIFF 14142x10607 (150 Mpx)": folder / "medium-format-150mp.tif",
    }
    png, jpg, tif = files.values()
    if not png.exists():
        png_bomb(png, 23000, 23000)
    if not jpg.exists():
        Image.linear_gradient("L").resize((20000, 20000)).save(jpg, quality=50)
    if not tif.exists():
        Image.radial_gradient("L").resize((14142, 10607)).convert("RGB").save(tif, compression="tiff_deflate")
    return files


def measure(module: Path, image: Path | None) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(module), str(image) if image else "-", str(MAX_PIXELS)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},  # the new decoder imports imageworks.config
    )
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", default="2dfe9bf", help="git revision of the 'before' decoder")
    parser.add_argument("--files", type=Path, default=Path(tempfile.gettempdir()) / "iw-bench-decode")
    args = parser.parse_args()
    files = build(args.files)
    old = args.files / "images_before.py"
    old.write_text(
        subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{args.before}:daemon/backends/images.py"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    new = ROOT / "daemon" / "backends" / "images.py"
    print("| image | file | before: peak RSS, time | after: peak RSS, time | after: outcome |")
    print("|---|---:|---:|---:|---|")
    base_old, base_new = measure(old, None), measure(new, None)
    print(
        f"| baseline (Pillow imported, nothing decoded) | | {base_old['peak'] / 2**20:.0f} MB | "
        f"{base_new['peak'] / 2**20:.0f} MB | |"
    )
    for label, path in files.items():
        before, after = measure(old, path), measure(new, path)
        print(
            f"| {label} | {path.stat().st_size / 1e6:.1f} MB | {before['peak'] / 2**20:,.0f} MB, "
            f"{before['seconds']:.2f} s | {after['peak'] / 2**20:,.0f} MB, {after['seconds']:.2f} s | "
            f"{after['outcome']} |"
        )


if __name__ == "__main__":
    main()
