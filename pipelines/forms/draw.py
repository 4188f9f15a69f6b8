"""Draw a template's empty printed form: labels, table grids, boxes, dotted lines (the raster back end
of forms/layout.py).

The picture is a function of (template, dpi) only, so OCR can use it as the
reference to align a scan against and the synthetic generator as the paper it
writes on. Fonts are loaded once per process (``font``); blank pages are cached
per (template, dpi) and handed out as copies.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Literal

from PIL import Image, ImageDraw, ImageFont

from pipelines.contracts import Template
from pipelines.forms.layout import DottedLine, Line, Primitive, Rect, Text, Weight, form_layout

FontFamily = Literal["serif", "sans", "indie", "dancing"]

INK = 0  # printed form ink (grey level)
PAPER = 255

LABEL_FONT: FontFamily = "serif"
PEN_MM: dict[Weight, float] = {"box": 0.2, "rule": 0.2, "frame": 0.3}
"""Raster pen width per layout weight (at least one pixel)."""


def _font_file(family: FontFamily) -> Path:
    # Imported lazily: each font package is only needed when its family is drawn.
    if family == "serif":
        import fontpkg_noto_serif as pkg

        name = "NotoSerif[wdth,wght].ttf"
    elif family == "sans":
        import fontpkg_noto_sans as pkg

        name = "NotoSans[wdth,wght].ttf"
    elif family == "indie":
        import fontpkg_indie_flower as pkg

        name = "IndieFlower-Regular.ttf"
    elif family == "dancing":
        import fontpkg_dancing_script as pkg

        name = "DancingScript[wght].ttf"
    else:
        raise ValueError(f"unknown font family {family!r}")
    return Path(pkg.ROOT) / "files" / name


@lru_cache(maxsize=512)
def font(family: FontFamily, size_px: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    """A font at a pixel size, loaded once per process (parsing a TTF costs ~ms)."""
    f = ImageFont.truetype(str(_font_file(family)), max(1, size_px))
    if bold:
        # Variable fonts: pick the named "Bold" instance; one object per cache key,
        # so the mutation never leaks into a regular-weight caller.
        if b"Bold" not in f.get_variation_names():
            raise ValueError(f"font family {family!r} has no Bold instance")
        f.set_variation_by_name("Bold")
    return f


def mm_to_px(mm: float, dpi: int) -> int:
    """Millimetres on the page to pixels at ``dpi`` (rounded to the nearest pixel)."""
    return round(mm * dpi / 25.4)


def pt_to_px(pt: float, dpi: int) -> int:
    """Typographic points (1/72 inch) to pixels at ``dpi``."""
    return max(1, round(pt * dpi / 72))


def page_size_px(template: Template, dpi: int) -> tuple[int, int]:
    w, h = template.size_mm
    return mm_to_px(w, dpi), mm_to_px(h, dpi)


def render_blank(template: Template, dpi: int = 300) -> Image.Image:
    """The empty form of ``template`` at ``dpi``: mode "L", white paper, black print."""
    return _blank(template, dpi).copy()


@lru_cache(maxsize=12)  # ~9 MB each at 300 dpi: a handful of (template, dpi) pairs per worker
def _blank(template: Template, dpi: int) -> Image.Image:
    img = Image.new("L", page_size_px(template, dpi), PAPER)
    draw_primitives(ImageDraw.Draw(img), form_layout(template), dpi)
    return img


def draw_primitives(d: ImageDraw.ImageDraw, primitives: Iterable[Primitive], dpi: int) -> None:
    """Rasterize layout primitives (forms/layout.py) at ``dpi``: rules and outlines ``PEN_MM`` thick,
    text in ``LABEL_FONT`` shrunk in whole pixels to fit, writing lines as a row of square dots."""

    def px(v: float) -> int:
        return mm_to_px(v, dpi)

    pens = {weight: max(1, px(w)) for weight, w in PEN_MM.items()}
    for p in primitives:
        if isinstance(p, Text):
            if p.max_width is None:
                f = font(LABEL_FONT, pt_to_px(p.size, dpi), p.bold)
            else:
                f = _fit_font(p.text, LABEL_FONT, p.size, dpi, px(p.max_width), bold=p.bold)
            anchor = "mm" if p.align == "center" else "lm"
            d.text((px(p.x), px(p.y)), p.text, fill=INK, font=f, anchor=anchor)
        elif isinstance(p, Line):
            d.line((px(p.x0), px(p.y0), px(p.x1), px(p.y1)), fill=INK, width=pens[p.weight])
        elif isinstance(p, Rect):
            d.rectangle((px(p.x), px(p.y), px(p.x + p.w), px(p.y + p.h)), outline=INK, width=pens[p.weight])
        elif isinstance(p, DottedLine):
            _dotted_line(d, p, dpi)
        else:
            raise TypeError(f"not a layout primitive: {p!r}")


def _fit_font(text: str, family: FontFamily, pt: float, dpi: int, max_w: int, bold: bool = False):
    """The largest size up to ``pt`` at which ``text`` fits ``max_w`` pixels."""
    size = pt_to_px(pt, dpi)
    f = font(family, size, bold)
    while size > 6 and f.getlength(text) > max_w:
        size = int(size * 0.92)
        f = font(family, size, bold)
    return f


def _dotted_line(d: ImageDraw.ImageDraw, line: DottedLine, dpi: int) -> None:
    """A dotted writing line: square dots of ~0.12 mm every ~1 mm."""
    step = max(2, mm_to_px(1.0, dpi))
    r = max(1, mm_to_px(0.12, dpi))
    yy = mm_to_px(line.y, dpi)
    for xx in range(mm_to_px(line.x0, dpi), mm_to_px(line.x1, dpi), step):
        d.rectangle((xx, yy, xx + r, yy + r), fill=INK)
