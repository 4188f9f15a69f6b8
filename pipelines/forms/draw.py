"""Draw a template's empty printed form: labels, table grids, boxes, dotted lines.

The picture is a function of (template, dpi) only, so OCR can use it as the
reference to align a scan against and the synthetic generator as the paper it
writes on. Fonts are loaded once per process (``font``); blank pages are cached
per (template, dpi) and handed out as copies.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from PIL import Image, ImageDraw, ImageFont

from pipelines.contracts import Template
from pipelines.contracts.templates import TableDecl

FontFamily = Literal["serif", "sans", "indie", "dancing"]

INK = 0  # printed form ink (grey level)
PAPER = 255

LABEL_FONT: FontFamily = "serif"
HEADER_PT = 9.0  # table column headers
ROW_LABEL_PT = 9.5  # subject names and term labels
PAD_MM = 1.5  # text inset from a cell's left rule


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
    d = ImageDraw.Draw(img)

    def px(v: float) -> int:
        return mm_to_px(v, dpi)

    thin = max(1, px(0.2))
    thick = max(1, px(0.3))

    for label in template.labels:
        f = font(LABEL_FONT, pt_to_px(label.size, dpi), label.bold)
        anchor = "mm" if label.align == "center" else "lm"
        d.text((px(label.at[0]), px(label.at[1])), label.text, fill=INK, font=f, anchor=anchor)

    for x, y, w, h in template.boxes:
        d.rectangle((px(x), px(y), px(x + w), px(y + h)), outline=INK, width=thin)

    for table in template.tables:
        _draw_table(d, template, table, dpi, thin, thick)

    for field in template.fields:
        if not field.printed:
            _dotted_lines(d, field.box, dpi)
    return img


def _fit_font(text: str, family: FontFamily, pt: float, dpi: int, max_w: int, bold: bool = False):
    """The largest size up to ``pt`` at which ``text`` fits ``max_w`` pixels."""
    size = pt_to_px(pt, dpi)
    f = font(family, size, bold)
    while size > 6 and f.getlength(text) > max_w:
        size = int(size * 0.92)
        f = font(family, size, bold)
    return f


def _draw_table(
    d: ImageDraw.ImageDraw, tpl: Template, table: TableDecl, dpi: int, thin: int, thick: int
) -> None:
    def px(v: float) -> int:
        return mm_to_px(v, dpi)

    x0, y0 = table.origin
    xs = tpl.column_x(table)
    widths = [c.width for c in table.columns]
    x1 = xs[-1] + widths[-1]
    rows = tpl.table_rows(table)
    y_body = y0 + table.header_height
    y1 = y_body + table.row_height * len(rows)

    # Rules: every row and column boundary, a heavier outer frame and header rule.
    for r in range(len(rows) + 1):
        y = y_body + r * table.row_height
        d.line((px(x0), px(y), px(x1), px(y)), fill=INK, width=thick if r == 0 else thin)
    for x in [*xs[1:]]:
        d.line((px(x), px(y0), px(x), px(y1)), fill=INK, width=thin)
    d.rectangle((px(x0), px(y0), px(x1), px(y1)), outline=INK, width=thick)

    for col, x, w in zip(table.columns, xs, widths, strict=True):
        f = _fit_font(col.header, LABEL_FONT, HEADER_PT, dpi, px(w - 2 * PAD_MM), bold=True)
        d.text(
            (px(x + w / 2), px(y0 + table.header_height / 2)),
            col.header, fill=INK, font=f, anchor="mm",
        )

    label_cols = [(x, c) for x, c in zip(xs, table.columns, strict=True) if c.kind == "row_label"]
    extra = {r.key for r in table.extra_rows}
    for i, row in enumerate(rows):
        if not row.label:
            continue
        yc = y_body + (i + 0.5) * table.row_height
        for x, col in label_cols:
            f = _fit_font(
                row.label, LABEL_FONT, ROW_LABEL_PT, dpi, px(col.width - 2 * PAD_MM),
                bold=row.key in extra,
            )
            d.text((px(x + PAD_MM), px(yc)), row.label, fill=INK, font=f, anchor="lm")


def _dotted_lines(d: ImageDraw.ImageDraw, box: tuple[float, float, float, float], dpi: int) -> None:
    """The dotted writing line(s) of a scalar field: one per ~7 mm of box height."""
    x, y, w, h = box
    lines = max(1, round(h / 7))
    step = max(2, mm_to_px(1.0, dpi))
    r = max(1, mm_to_px(0.12, dpi))
    xa, xb = mm_to_px(x, dpi), mm_to_px(x + w, dpi)
    for k in range(lines):
        yy = mm_to_px(y + (k + 1) * h / lines - 0.8, dpi)
        for xx in range(xa, xb, step):
            d.rectangle((xx, yy, xx + r, yy + r), fill=INK)
