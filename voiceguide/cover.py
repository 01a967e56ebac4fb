"""The cover image players show: the clinic's own, or one drawn here (Pillow)."""

from __future__ import annotations

import io
import textwrap
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from voiceguide.messages import ENGLISH, Messages

if TYPE_CHECKING:
    from PIL import ImageFont

SIZE = 1400  # podcast apps ask for 1400 to 3000 px squares
_TOP = (74, 122, 120)  # calm teal
_BOTTOM = (231, 221, 201)  # warm sand
_INK = (33, 47, 51)
_SOFT = (250, 247, 240)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    from PIL import ImageFont  # Pillow: only when a cover is drawn, never in a no-op build

    # Pillow's bundled font: no font files needed on the machine.
    return ImageFont.load_default(size=size)


@lru_cache(maxsize=8)  # about 0.1 s a drawing; a build and its share ask for the same one
def draw_cover(title: str, clinic: str, subtitle: str = "") -> bytes:
    """A square PNG: the routine's title and the clinic's name on a soft gradient."""
    from PIL import Image, ImageDraw  # Pillow: only when a cover is drawn

    image = Image.new("RGB", (SIZE, SIZE))
    pixels = ImageDraw.Draw(image)
    for y in range(SIZE):
        t = y / (SIZE - 1)
        color = tuple(round(a + (b - a) * t) for a, b in zip(_TOP, _BOTTOM, strict=True))
        pixels.line([(0, y), (SIZE, y)], fill=color)
    # Ripples: a quiet, wordless mark of calm.
    cx, cy = SIZE // 2, SIZE * 33 // 100
    for i, radius in enumerate((90, 160, 230)):
        pixels.ellipse([cx - radius, cy - radius, cx + radius, cy + radius],
                       outline=_SOFT, width=10 - 3 * i)
    lines = textwrap.wrap(title, width=18)[:4]
    font = _font(110)
    y = SIZE * 55 // 100
    for line in lines:
        pixels.text((SIZE // 2, y), line, font=font, fill=_INK, anchor="mt")
        y += 130
    if subtitle:
        pixels.text((SIZE // 2, y + 20), subtitle, font=_font(56), fill=_INK, anchor="mt")
    pixels.text((SIZE // 2, SIZE - 110), clinic, font=_font(64), fill=_INK, anchor="mb")
    out = io.BytesIO()
    # zlib's default level: `optimize` made it 5% smaller (50 against 53 kB) but took
    # 0.2 s longer, in every cold build
    image.save(out, format="PNG")
    return out.getvalue()


def routine_cover(path: str | None, title: str, clinic: str, tracks: int, ms: int,
                  say: Messages = ENGLISH) -> tuple[bytes, str]:
    """The cover of a routine of `tracks` tracks lasting `ms`: the same image in every
    audio file and on the share page."""
    return cover_bytes(path, title, clinic, say.cover_subtitle(tracks, ms))


def cover_bytes(path: str | None, title: str, clinic: str, subtitle: str = "") -> tuple[
        bytes, str]:
    """(image bytes, MIME type): the clinic's file when given, else a drawn cover."""
    if path:
        data = Path(path).read_bytes()
        mime = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
        return data, mime
    return draw_cover(title, clinic, subtitle), "image/png"


def image_problem(path: Path) -> str | None:
    """Why an image file can't be used as a cover, or None when it can."""
    from PIL import Image, UnidentifiedImageError  # Pillow: only for a clinic's own cover

    if not path.is_file():
        return f"the image '{path.name}' was not found (put it beside the profile or fix the path)"
    try:
        with Image.open(path) as image:
            image.verify()
    except (OSError, UnidentifiedImageError):
        return f"'{path.name}' is not an image that can be read (use a PNG or JPEG file)"
    return None
