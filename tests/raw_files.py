"""DNG files made in the test from a picture, laid out as cameras lay them out (pidng's DNG writer): IFD0 a small
RGB thumbnail (what Pillow opens), the Bayer mosaic of the picture in a SubIFD, and optionally a large JPEG preview
in IFD1 (what libraw's ``extract_thumb`` returns, the biggest). The benchmark uses them too."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

WHITE_LEVEL = 4095
"""12-bit sensor values in 16-bit words."""
BLACK_LEVEL = 64


def bayer(scene: Image.Image) -> np.ndarray:
    """The RGGB mosaic a sensor would record of ``scene`` (linear 12-bit values)."""
    rgb = np.asarray(scene.convert("RGB"), dtype=np.float32) / 255.0
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)  # undo sRGB: sensors are linear
    values = (BLACK_LEVEL + linear * (WHITE_LEVEL - BLACK_LEVEL)).astype(np.uint16)
    mosaic = np.empty(values.shape[:2], dtype=np.uint16)
    mosaic[0::2, 0::2] = values[0::2, 0::2, 0]  # R
    mosaic[0::2, 1::2] = values[0::2, 1::2, 1]  # G
    mosaic[1::2, 0::2] = values[1::2, 0::2, 1]  # G
    mosaic[1::2, 1::2] = values[1::2, 1::2, 2]  # B
    return mosaic


def _sub_ifd_tag(ifd):
    """pidng's SubIFD tag, whose value pidng 4.0.9 builds as a str (and then fails to pad with bytes)."""
    from pidng.dng import Tag, dngTag

    class SubIFDTag(dngTag):
        def setValue(self, value):
            self.Value = b"\x00\x00\x00\x00"
            self.subIFD = value[0]

    return SubIFDTag(Tag.SubIFD, [ifd])


def write_dng(
    path: Path,
    scene: Image.Image,
    *,
    thumbnail: Image.Image | None = None,
    preview: Image.Image | None = None,
    orientation: int = 1,
) -> Path:
    """A DNG of ``scene`` (even width and height). ``thumbnail`` (default: ``scene`` at 160 px) is IFD0;
    ``preview``, when given, is a JPEG in IFD1; ``orientation`` is the TIFF/EXIF orientation of IFD0."""
    from pidng.defs import CalibrationIlluminant, CFAPattern, DNGVersion, PhotometricInterpretation
    from pidng.dng import DNG, Tag, dngIFD, dngTag

    width, height = scene.size
    if thumbnail is None:
        thumbnail = scene.copy()
        thumbnail.thumbnail((160, 160))
    thumb = thumbnail.convert("RGB")
    strips = [thumb.tobytes(), bayer(scene).tobytes()]
    if preview is not None:
        jpeg = io.BytesIO()
        preview.convert("RGB").save(jpeg, "JPEG", quality=90)
        strips.append(jpeg.getvalue())

    def rgb_ifd(kind: int, image: Image.Image, compression: int, photometric: int, strip: int) -> tuple[dngIFD, dngTag]:
        ifd = dngIFD()
        offsets = dngTag(Tag.StripOffsets, [0])
        ifd.tags += [
            dngTag(Tag.NewSubfileType, [kind]),
            dngTag(Tag.ImageWidth, [image.width]),
            dngTag(Tag.ImageLength, [image.height]),
            dngTag(Tag.BitsPerSample, [8, 8, 8]),
            dngTag(Tag.Compression, [compression]),
            dngTag(Tag.PhotometricInterpretation, [photometric]),
            dngTag(Tag.SamplesPerPixel, [3]),
            dngTag(Tag.RowsPerStrip, [image.height]),
            dngTag(Tag.StripByteCounts, [len(strips[strip])]),
            dngTag(Tag.PlanarConfiguration, [1]),
            offsets,
        ]
        return ifd, offsets

    raw_ifd = dngIFD()
    tile_offsets = dngTag(Tag.TileOffsets, [0])
    raw_ifd.tags += [
        dngTag(Tag.NewSubfileType, [0]),
        dngTag(Tag.ImageWidth, [width]),
        dngTag(Tag.ImageLength, [height]),
        dngTag(Tag.BitsPerSample, [16]),
        dngTag(Tag.Compression, [1]),
        dngTag(Tag.PhotometricInterpretation, [PhotometricInterpretation.Color_Filter_Array]),
        dngTag(Tag.SamplesPerPixel, [1]),
        dngTag(Tag.PlanarConfiguration, [1]),
        dngTag(Tag.TileWidth, [width]),
        dngTag(Tag.TileLength, [height]),
        dngTag(Tag.TileByteCounts, [len(strips[1])]),
        tile_offsets,
        dngTag(Tag.CFARepeatPatternDim, [2, 2]),
        dngTag(Tag.CFAPattern, CFAPattern.RGGB),
        dngTag(Tag.BlackLevel, [BLACK_LEVEL]),
        dngTag(Tag.WhiteLevel, [WHITE_LEVEL]),
    ]
    ifd0, thumb_offsets = rgb_ifd(1, thumb, 1, PhotometricInterpretation.RGB, 0)
    identity = [[1, 1], [0, 1], [0, 1], [0, 1], [1, 1], [0, 1], [0, 1], [0, 1], [1, 1]]
    ifd0.tags += [
        dngTag(Tag.Orientation, [orientation]),
        dngTag(Tag.Make, "ImageWorks"),
        dngTag(Tag.Model, "Test Sensor"),
        dngTag(Tag.UniqueCameraModel, "ImageWorks Test Sensor"),
        dngTag(Tag.DNGVersion, DNGVersion.V1_4),
        dngTag(Tag.DNGBackwardVersion, DNGVersion.V1_2),
        dngTag(Tag.ColorMatrix1, identity),
        dngTag(Tag.CalibrationIlluminant1, [CalibrationIlluminant.D65]),
        dngTag(Tag.AsShotNeutral, [[1, 1], [1, 1], [1, 1]]),
        _sub_ifd_tag(raw_ifd),
    ]
    dng = DNG()
    dng.IFDs.append(ifd0)
    offsets = [thumb_offsets, tile_offsets]
    if preview is not None:
        preview_ifd, preview_offsets = rgb_ifd(1, preview, 7, 6, 2)  # JPEG, YCbCr
        dng.IFDs.append(preview_ifd)
        offsets.append(preview_offsets)
    dng.ImageDataStrips.extend(strips)
    total = dng.dataLen()  # lays the strips out after the IFDs
    for n, tag in enumerate(offsets):
        tag.setValue([dng.StripOffsets[n]])
    buf = bytearray(total)
    dng.setBuffer(buf)
    if preview is not None:
        ifd0.NextIFDOffset = dng.IFDs[1].offset  # IFD1 follows IFD0 in the chain
    dng.write()
    path.write_bytes(bytes(buf))
    return path
