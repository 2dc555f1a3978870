"""Encoded report images: JPEG for rendered 3D views (smooth shading, where it does not
hurt), palette PNG for charts and maps with flat colours and text; data URIs for the pages."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

__all__ = ["Image", "encode_array", "encode_figure", "encode_png_bytes", "JPEG_QUALITY"]

#: JPEG quality of rendered views: no visible ringing at the edges of text at this level.
JPEG_QUALITY = 84


@dataclass(frozen=True)
class Image:
    """An encoded picture: ``data`` (bytes), ``mime`` (image/jpeg, image/png), size in pixels."""

    data: bytes
    mime: str
    width: int
    height: int

    @property
    def extension(self) -> str:
        return {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}[self.mime]

    def data_uri(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode()}"


def _pil(array):
    from PIL import Image as PILImage

    return PILImage.fromarray(array)


def encode_array(array, photo: bool = True) -> Image:
    """An RGB(A) uint8 array as JPEG (``photo``) or an optimised palette PNG."""
    import numpy as np

    array = np.asarray(array)
    if array.dtype != np.uint8:
        array = (np.clip(array, 0.0, 1.0) * 255).round().astype(np.uint8)
    if array.ndim == 3 and array.shape[2] == 4:
        rgb = array[..., :3].astype(float)
        alpha = array[..., 3:4].astype(float) / 255.0
        array = (rgb * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    image = _pil(array)
    buffer = io.BytesIO()
    if photo:
        image.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True,
                                  subsampling="4:2:0")
        mime = "image/jpeg"
    else:
        _palette(image).save(buffer, format="PNG", optimize=True)
        mime = "image/png"
    return Image(buffer.getvalue(), mime, image.width, image.height)


def _palette(image):
    """An RGB picture with at most 256 colours, as such pictures are (charts, flat maps)."""
    from PIL import Image as PILImage

    rgb = image.convert("RGB")
    return rgb.quantize(colors=256, method=PILImage.Quantize.MEDIANCUT, dither=PILImage.Dither.NONE)


def encode_figure(figure, photo: bool = False, dpi: int | None = None) -> Image:
    """A matplotlib figure as JPEG (``photo``: it holds rendered views) or palette PNG; closes it."""
    import numpy as np
    from matplotlib import pyplot

    try:
        if dpi:
            figure.set_dpi(dpi)
        figure.canvas.draw()
        array = np.asarray(figure.canvas.buffer_rgba())
    finally:
        pyplot.close(figure)
    return encode_array(array, photo=photo)


def encode_png_bytes(png: bytes) -> Image:
    """A PNG made elsewhere (matplotlib's savefig), re-encoded as an optimised palette PNG."""
    from PIL import Image as PILImage

    with PILImage.open(io.BytesIO(png)) as image:
        image.load()
        buffer = io.BytesIO()
        _palette(image).save(buffer, format="PNG", optimize=True)
        return Image(buffer.getvalue(), "image/png", image.width, image.height)
