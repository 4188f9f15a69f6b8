"""Synthetic field cells for the glyph recognizer: training, evaluation and tests.

A cell is cut from a real blank form (``year_thcs_tt58`` at 300 dpi: its table rules,
dotted writing lines and neighbouring labels), written on by hand (real MNIST digits
from the split given; Đ, C, ``/`` and separators from the handwriting fonts or drawn
as pen strokes) or printed (a print font), degraded like a scan (a lower scan
resolution resampled to 300 dpi, blur, noise, JPEG, residual misregistration of the
form mask), then cleaned by ``engine.clean_crop`` exactly as OCR does.

Used by ``scripts/train_glyphs.py`` (MNIST split ``train``), ``scripts/eval_glyph_cells.py``
and ``tests/recognize`` (split ``validate``). Not part of the pipeline.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipelines.contracts import template
from pipelines.forms.draw import mm_to_px
from pipelines.ocr._image import form_mask, reference_gray
from pipelines.ocr.engine import MARGIN_MM, _crop_box, clean_crop
from pipelines.synth import mnist

DPI = 300
TEMPLATE = "year_thcs_tt58"
TYPES = ("score", "comment", "integer", "date")

# --- fonts ----------------------------------------------------------------------------------

def _fontpkg(module: str, name: str) -> Path:
    pkg = __import__(module)
    return Path(pkg.ROOT) / "files" / name


def hand_fonts() -> list[tuple[Path, int | None]]:
    """(file, weight axis value or None) of the handwriting fonts."""
    return [
        (_fontpkg("fontpkg_indie_flower", "IndieFlower-Regular.ttf"), None),
        (_fontpkg("fontpkg_dancing_script", "DancingScript[wght].ttf"), 400),
        (_fontpkg("fontpkg_dancing_script", "DancingScript[wght].ttf"), 700),
    ]


DEJAVU_DIR = Path("/usr/share/fonts/truetype/dejavu")
HELD_OUT_PRINT = ("STIXGeneral.ttf",)
"""Print fonts never trained on: the evaluation's unseen-font figure (matplotlib's copy, in the dev venv)."""


def print_fonts(held_out: bool = False) -> list[tuple[Path, int | None]]:
    """Print fonts: Noto Serif/Sans at several weights and the DejaVu family (training);
    with ``held_out`` the unseen ones only."""
    if held_out:
        try:
            import matplotlib
        except ImportError:
            return []
        d = Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf"
        return [(d / n, None) for n in HELD_OUT_PRINT if (d / n).exists()]
    out: list[tuple[Path, int | None]] = []
    noto = (("fontpkg_noto_serif", ("NotoSerif[wdth,wght].ttf", "NotoSerif-Italic[wdth,wght].ttf")),
            ("fontpkg_noto_sans", ("NotoSans[wdth,wght].ttf", "NotoSans-Italic[wdth,wght].ttf")))
    for module, names in noto:
        for n in names:
            for wght in (400, 700) if "Italic" in n else (300, 400, 550, 700):
                out.append((_fontpkg(module, n), wght))
    if DEJAVU_DIR.is_dir():
        out += [(p, None) for p in sorted(DEJAVU_DIR.glob("DejaVu*.ttf"))
                if "Math" not in p.name and "ExtraLight" not in p.name]
    return out


@cache
def _font(path: Path, wght: int | None, size: int) -> ImageFont.FreeTypeFont:
    f = ImageFont.truetype(str(path), size)
    if wght is not None:
        try:
            axes = f.get_variation_axes()
            f.set_variation_by_axes([wght if a.get("name", b"") in (b"Weight", "Weight") else a["default"]
                                     for a in axes])
        except (OSError, KeyError):
            pass
    return f


def has_glyph(path: Path, text: str) -> bool:
    """Whether the font draws every character of ``text`` as itself (not a missing-glyph box)."""
    return all(_has_glyph(str(path), c) for c in set(text) if not c.isspace())


@cache
def _has_glyph(path: str, ch: str) -> bool:
    f = ImageFont.truetype(path, 40)
    return bytes(f.getmask(ch)) != bytes(f.getmask("\U0010fffd"))


# --- glyph images (alpha, float32 0..1, cropped to ink) ---------------------------------------

def _crop_alpha(a: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(a > 0.08)
    if len(xs) == 0:
        return a[:1, :1] * 0
    return a[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def _affine(a: np.ndarray, rng: random.Random, rot: float, shear: float, sx: float = 1.0) -> np.ndarray:
    h, w = a.shape
    pad = int(max(h, w) * 0.6) + 2
    a = cv2.copyMakeBorder(a, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    c = (a.shape[1] / 2, a.shape[0] / 2)
    m = cv2.getRotationMatrix2D(c, rot, 1.0)
    m = np.vstack([m, [0, 0, 1]])
    sh = np.array([[sx, -shear, shear * c[1]], [0, 1, 0], [0, 0, 1]], np.float64)
    t = np.array([[1, 0, c[0] * (1 - sx)], [0, 1, 0], [0, 0, 1]], np.float64)
    full = (m @ t @ sh)[:2]
    out = cv2.warpAffine(a, full, (a.shape[1], a.shape[0]), flags=cv2.INTER_LINEAR)
    return _crop_alpha(out)


_DISK = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def stroke_width(a: np.ndarray, rng: random.Random, height: int) -> np.ndarray:
    """A finer or broader pen, by whole pixels at the target resolution: eroded once, as
    drawn, or dilated once or twice (a broad pen fills the loops of an 8 or a 6)."""
    stroke = rng.choice((-1, 0, 0, 0, 1, 1, 2))
    if stroke > 0:
        pad = stroke + 1
        a = cv2.copyMakeBorder(a, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
        a = cv2.dilate(a, _DISK, iterations=stroke)
    elif stroke < 0 and height >= 30:  # a fine pen; small glyphs would break apart
        a = cv2.erode(a, _CROSS)
    return a


def mnist_glyph(img28: np.ndarray, height: int, rng: random.Random) -> np.ndarray:
    """A real handwritten digit as alpha about ``height`` px tall, slanted/rotated/scaled a little."""
    a = _crop_alpha(img28.astype(np.float32) / 255.0)
    s = height / max(1, a.shape[0])
    sx = rng.uniform(0.8, 1.2)
    a = cv2.resize(a, (max(1, round(a.shape[1] * s * sx)), max(1, round(a.shape[0] * s))),
                   interpolation=cv2.INTER_CUBIC)
    a = np.clip(a * rng.uniform(1.3, 1.9) - rng.uniform(0.1, 0.2), 0, 1)  # MNIST's soft grey → pen ink
    a = _affine(a, rng, rot=rng.gauss(0, 4), shear=rng.uniform(-0.15, 0.3))
    return stroke_width(a, rng, height)


def font_glyph(text: str, font: tuple[Path, int | None], height: int, rng: random.Random,
               ref: str = "0", wobble: float = 0.0) -> np.ndarray:
    """``text`` in ``font`` with the digit ``ref`` about ``height`` px tall (so ``,`` stays small)."""
    path, wght = font
    probe = _font(path, wght, 100)
    l_, t_, r_, b_ = probe.getbbox(ref, anchor="ls")
    size = max(6, round(100 * height / max(1, b_ - t_)))
    f = _font(path, wght, size)
    l_, t_, r_, b_ = f.getbbox(text, anchor="ls")
    img = Image.new("L", (r_ - l_ + 8, b_ - t_ + 8), 0)
    ImageDraw.Draw(img).text((4 - l_, 4 - t_), text, fill=255, font=f, anchor="ls")
    a = np.asarray(img, np.float32) / 255.0
    if wobble:
        a = _affine(a, rng, rot=rng.gauss(0, 3.5 * wobble), shear=rng.gauss(0, 0.1 * wobble),
                    sx=rng.uniform(1 - 0.12 * wobble, 1 + 0.12 * wobble))
    return _crop_alpha(a)


def _baseline_offset(text: str, font: tuple[Path, int | None], height: int) -> float:
    """Where ``text``'s ink bottom sits relative to the baseline, in px (a comma hangs below)."""
    path, wght = font
    f = _font(path, wght, 100)
    _, t_, _, b_ = f.getbbox("0", anchor="ls")
    scale = height / max(1, b_ - t_)
    return f.getbbox(text, anchor="ls")[3] * scale


def pen_glyph(ch: str, height: int, rng: random.Random) -> np.ndarray:
    """A pen-drawn Đ, C, D, /, comma, dot or dash: polylines with a round pen."""
    H = height
    th = max(2, round(H * rng.uniform(0.07, 0.13)))
    pad = th + 4
    W = int(H * 1.3) + 2 * pad
    canvas = np.zeros((H + 2 * pad + int(H * 0.4), W), np.uint8)
    j = lambda v: v + rng.gauss(0, 0.03 * H)  # noqa: E731

    def poly(pts):
        p = np.array([[pad + j(x), pad + j(y)] for x, y in pts], np.float32)
        cv2.polylines(canvas, [np.round(p * 4).astype(np.int32)], False, 255, th, cv2.LINE_AA, shift=2)

    def arc(cx, cy, rx, ry, a0, a1, n=24):
        return [(cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
                for a in np.linspace(a0, a1, n)]

    if ch in ("Đ", "D", "đ"):
        w = H * rng.uniform(0.55, 0.85)
        x0 = H * 0.12
        poly([(x0, 0), (x0, H)])
        poly([(x0, 0), *arc(x0, H / 2, w, H / 2, -90, 90), (x0, H)])
        if ch != "D":
            by = H * rng.uniform(0.4, 0.6)
            poly([(x0 - H * rng.uniform(0.05, 0.2), by),
                  (x0 + w * rng.uniform(0.3, 0.6), by + rng.gauss(0, 0.03 * H))])
    elif ch in ("C", "c"):
        r = H / 2
        poly(arc(r * 1.05, r, r * rng.uniform(0.75, 1.0), r, rng.uniform(-60, -35), rng.uniform(215, 245)))
    elif ch == "/":
        poly([(H * rng.uniform(0.4, 0.6), -H * 0.05), (0, H * 1.05)])
    elif ch == ",":
        poly([(H * 0.1, 0), (H * 0.08, H * 0.12), (0, H * 0.3)])
    elif ch == ".":
        cv2.circle(canvas, (pad + 2, pad + 2), max(1, th // 2 + rng.randint(0, 1)), 255, -1, cv2.LINE_AA)
    elif ch == "-":
        poly([(0, 0), (H * rng.uniform(0.25, 0.45), rng.gauss(0, 0.03 * H))])
    a = _crop_alpha(canvas.astype(np.float32) / 255.0)
    return _affine(a, rng, rot=rng.gauss(0, 3), shear=rng.gauss(0, 0.1))


# --- texts -------------------------------------------------------------------------------

def random_text(ftype: str, rng: random.Random) -> str:
    """A value of the type, with the scores distribution of a record book."""
    if ftype == "score":
        r = rng.random()
        if r < 0.08:
            return "10" if rng.random() < 0.7 else "10,0"
        if r < 0.25:
            return str(rng.randint(0, 9))
        return f"{rng.randint(0, 9)},{rng.randint(0, 9)}"
    if ftype == "comment":
        return "Đ" if rng.random() < 0.75 else "CĐ"
    if ftype == "integer":
        return str(int(10 ** rng.uniform(0, 2.6)) - 1 if rng.random() < 0.9 else rng.randint(0, 999))
    if ftype == "date":
        d, m, y = rng.randint(1, 28), rng.randint(1, 12), rng.randint(1995, 2025)
        if rng.random() < 0.7:
            return f"{d:02d}/{m:02d}/{y}"
        return f"{d}/{m}/{y}"
    raise ValueError(ftype)


# --- the form ----------------------------------------------------------------------------

@cache
def _form() -> tuple[np.ndarray, np.ndarray, dict[str, list]]:
    tpl = template(TEMPLATE)
    gray = reference_gray(tpl, DPI)
    mask = form_mask(tpl, DPI)
    boxes: dict[str, list] = {"table": [], "integer": [], "date": []}
    for spec in tpl.field_specs():
        if spec.field_id.startswith("scores.") and spec.type in ("score", "comment"):
            boxes["table"].append(spec)
        elif spec.type == "integer":
            boxes["integer"].append(spec)
        elif spec.type == "date":
            boxes["date"].append(spec)
    return gray, mask, boxes


# --- a cell ------------------------------------------------------------------------------

@dataclass
class SynthCell:
    gray: np.ndarray
    ink: np.ndarray
    text: str
    """The value written (the reading a perfect recognizer returns; a dot is kept as written)."""
    ftype: str
    style: str
    """hand or print."""
    glyphs: list[str]
    """The glyphs drawn left to right, separators included ('' for an omitted comma)."""
    dpi: int = DPI


def _scaled(a: np.ndarray, k: float) -> np.ndarray:
    return cv2.resize(a, (max(1, round(a.shape[1] * k)), max(1, round(a.shape[0] * k))))


def _paste(canvas: np.ndarray, a: np.ndarray, x: int, y: int, ink: float) -> None:
    h, w = a.shape
    H, W = canvas.shape
    x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if x1 <= x0 or y1 <= y0:
        return
    sub = a[y0 - y:y1 - y, x0 - x:x1 - x]
    region = canvas[y0:y1, x0:x1]
    canvas[y0:y1, x0:x1] = region * (1 - sub) + ink * sub


def _hand_pieces(text: str, digit_pool, height: int, rng: random.Random, font_hand: tuple,
                 omit_comma: bool, font_digits: bool) -> list[tuple[str, np.ndarray, float]]:
    """(char, alpha, bottom offset from the baseline in px) for each glyph of ``text`` by hand."""
    out = []
    for ch in text:
        h = max(8, round(height * rng.uniform(0.9, 1.1)))
        if ch.isdigit() and not font_digits:
            pool = digit_pool(int(ch))
            a = mnist_glyph(pool[rng.randrange(len(pool))], h, rng)
            out.append((ch, a, rng.gauss(0, 0.04 * height)))
        elif ch in (",", "."):
            if ch == "," and omit_comma:
                out.append(("", np.zeros((1, 1), np.float32), 0.0))
                continue
            if rng.random() < 0.5:
                a = pen_glyph(ch, height, rng)
                drop = a.shape[0] * (0.6 if ch == "," else 0.2) + rng.gauss(0, 0.04 * height)
            else:
                a = font_glyph(ch, font_hand, height, rng, wobble=0.5)
                drop = _baseline_offset(ch, font_hand, height)
            out.append((ch, a, drop))
        elif ch == "/" and rng.random() < 0.5:
            a = pen_glyph(ch, round(h * rng.uniform(0.9, 1.2)), rng)
            out.append((ch, a, rng.uniform(0, 0.15) * height))
        elif ch in ("Đ", "C") and rng.random() < 0.35:
            out.append((ch, pen_glyph(ch, round(h * 1.05), rng), rng.gauss(0, 0.04 * height)))
        else:
            a = stroke_width(font_glyph(ch, font_hand, h, rng, wobble=1.0), rng, h)
            out.append((ch, a, _baseline_offset(ch, font_hand, h)))
    return out


def render_cell(ftype: str, split: str, rng: random.Random, style: str | None = None,
                text: str | None = None, *, fonts_print: list | None = None,
                separator: str | None = None, omit_comma: float = 0.04,
                tight: float = 0.15, crosses_rule: float = 0.04, font_digits: float = 0.2,
                difficulty: float | None = None) -> SynthCell:
    """One synthetic cell of ``ftype`` written by hand (MNIST digits of ``split``) or printed.

    ``separator``: force ``,`` or ``.`` in a decimal score (default: 85 % comma).
    ``omit_comma``: chance a handwritten comma is too faint to survive (drawn as nothing).
    ``tight``: chance handwritten glyphs are crowded together (they may touch).
    ``crosses_rule``: chance one handwritten glyph is written large, across a rule.
    ``font_digits``: chance the writer's digits are the handwriting font's, not MNIST's.
    """
    style = style or ("hand" if rng.random() < 0.6 else "print")
    text = text or random_text(ftype, rng)
    if "," in text and ftype == "score":
        sep = separator or ("," if rng.random() < 0.85 else ".")
        text = text.replace(",", sep)
    gray_form, mask_form, boxes = _form()
    spec = rng.choice(boxes["table"] if ftype in ("score", "comment") else boxes[ftype])
    x, y, w, h = _crop_box(spec, DPI, gray_form.shape)
    # residual misregistration: the paper under the mask moves a little
    dx, dy = rng.randint(-2, 2), rng.randint(-2, 2)
    pad = 6
    paper = gray_form[y - pad + dy:y + h + pad + dy, x - pad + dx:x + w + pad + dx].astype(np.float32)
    paper_level = rng.uniform(232, 252)
    canvas = paper * (paper_level / 255.0)
    bx0, by0 = pad + mm_to_px(MARGIN_MM, DPI), pad + mm_to_px(MARGIN_MM, DPI)
    bw, bh = mm_to_px(spec.box[2], DPI), mm_to_px(spec.box[3], DPI)
    glyphs: list[str] = []
    if style == "hand":
        height = round(bh * rng.uniform(0.38, 0.72))
        fh = rng.choice(hand_fonts())
        pieces = _hand_pieces(text, lambda d: mnist.digits(d, split), height,
                              rng, fh, rng.random() < omit_comma, rng.random() < font_digits)
        crowd = rng.random() < tight
        gaps = [height * (rng.uniform(-0.2, 0.04) if crowd else rng.uniform(0.03, 0.35)) for _ in pieces]
        big = rng.randrange(len(pieces)) if rng.random() < crosses_rule else -1
        if big >= 0 and pieces[big][0]:  # one glyph written large, across the cell's rule
            c0, a0, d0 = pieces[big]
            k = rng.uniform(1.15, 1.35)
            pieces[big] = (c0, _scaled(a0, k), d0 * k)
        total = sum(a.shape[1] for _, a, _ in pieces) + sum(gaps[:-1])
        if total > bw * 0.96:  # squeeze, as a writer does
            k = bw * 0.96 / total
            pieces = [(c, _scaled(a, k), d * k) for c, a, d in pieces]
            gaps = [g * k for g in gaps]
            total = bw * 0.96
            height = round(height * k)
        centred = ftype in ("score", "comment") or rng.random() < 0.3
        px = bx0 + ((bw - total) / 2 + rng.gauss(0, 0.06 * bw) if centred else rng.uniform(0.02, 0.2) * bw)
        px = min(max(px, bx0 - 0.02 * bw), bx0 + bw - total)
        base = by0 + bh / 2 + height / 2 + rng.gauss(0, 0.07 * bh)
        if big >= 0:
            a_big = pieces[big][1]
            over = mm_to_px(rng.uniform(0.2, 0.8), DPI)
            base = by0 + bh + over if rng.random() < 0.7 else by0 - over + a_big.shape[0]
        slope = rng.gauss(0, 0.03)
        ink = rng.uniform(25, 95)
        for (ch, a, drop), g in zip(pieces, gaps, strict=True):
            glyphs.append(ch)
            if ch:
                yb = base + (px - bx0) * slope + drop
                _paste(canvas, a * rng.uniform(0.85, 1.0), round(px), round(yb - a.shape[0]), ink)
            px += a.shape[1] + g if ch else height * 0.15
    else:
        fonts = fonts_print or print_fonts()
        f = rng.choice([ft for ft in fonts if has_glyph(ft[0], text)] or fonts)
        height = round(mm_to_px(10 * 25.4 / 72, DPI) * 0.72 * rng.uniform(0.8, 1.2))
        a = font_glyph(text, f, height, rng)
        if a.shape[1] > bw * 0.96:
            k = bw * 0.96 / a.shape[1]
            a = cv2.resize(a, (max(1, round(a.shape[1] * k)), max(1, round(a.shape[0] * k))))
        centred = ftype in ("score", "comment")
        px = bx0 + ((bw - a.shape[1]) / 2 if centred else mm_to_px(1.5, DPI)) + rng.gauss(0, 2)
        bottom = _baseline_offset(text, f, height)
        base = by0 + bh / 2 + height / 2 + rng.gauss(0, 0.04 * bh)
        _paste(canvas, a, round(px), round(base + bottom - a.shape[0]), rng.uniform(15, 45))
        glyphs = list(text)
    crop = _scan(canvas, rng, difficulty)[pad:pad + h, pad:pad + w]
    form_crop = mask_form[y:y + h, x:x + w]
    ink = clean_crop(crop, DPI, mm_to_px(MARGIN_MM, DPI), form_crop)
    return SynthCell(crop, ink, text, ftype, style, glyphs)


NAME_PARTS = ("Nguyễn Trần Lê Phạm Hoàng Vũ Đặng Bùi Đỗ Hồ Ngô Dương Văn Thị Minh Anh Hùng Dũng Hương "
              "Lan Ngọc Thảo Trang Quang Tuấn Khánh Việt Phương Thanh Hải Sơn Long Yến Nhung Mai Linh "
              "Đức Thắng Bảo Châu Duy Giang Hạnh Kiên Lộc Nam Nga Oanh Phúc Quỳnh Tâm Uyên Xuân")


def render_name_cell(rng: random.Random, style: str, fonts_print: list | None = None) -> SynthCell:
    """A person's name in the year page's ``full_name`` box, by hand (a handwriting font,
    glyph by glyph with jitter) or printed: for the style head on letters."""
    parts = NAME_PARTS.split()
    text = " ".join(rng.choice(parts) for _ in range(rng.randint(2, 4)))
    gray_form, mask_form, _ = _form()
    spec = template(TEMPLATE).field("full_name")
    x, y, w, h = _crop_box(spec, DPI, gray_form.shape)
    pad = 6
    canvas = gray_form[y - pad:y + h + pad, x - pad:x + w + pad].astype(np.float32)
    canvas *= rng.uniform(232, 252) / 255
    bx0, by0 = pad + mm_to_px(MARGIN_MM, DPI), pad + mm_to_px(MARGIN_MM, DPI)
    bw, bh = mm_to_px(spec.box[2], DPI), mm_to_px(spec.box[3], DPI)
    if style == "hand":
        font = rng.choice(hand_fonts())
        height = round(bh * rng.uniform(0.3, 0.45))
        pen = bx0 + rng.uniform(0.02, 0.1) * bw
        base = by0 + bh * 0.7
        for ch in text:
            if ch == " ":
                pen += height * 0.5
                continue
            a = font_glyph(ch, font, height, rng, wobble=1.0)
            bottom = _baseline_offset(ch, font, height)
            _paste(canvas, a, round(pen), round(base + bottom - a.shape[0] + rng.gauss(0, 1.5)), 40)
            pen += a.shape[1] + rng.uniform(0, 0.12) * height
    else:
        f = rng.choice([ft for ft in (fonts_print or print_fonts()) if has_glyph(ft[0], text)])
        height = round(mm_to_px(10.5 * 25.4 / 72, DPI) * 0.72)
        a = font_glyph(text, f, height, rng)
        bottom = _baseline_offset(text, f, height)
        _paste(canvas, a, bx0 + mm_to_px(1.5, DPI), round(by0 + bh * 0.7 + bottom - a.shape[0]), 25)
    crop = _scan(canvas, rng, None)[pad:pad + h, pad:pad + w]
    ink = clean_crop(crop, DPI, mm_to_px(MARGIN_MM, DPI), mask_form[y:y + h, x:x + w])
    return SynthCell(crop, ink, text, "name", style, list(text))


def _scan(canvas: np.ndarray, rng: random.Random, difficulty: float | None) -> np.ndarray:
    d = rng.random() if difficulty is None else difficulty
    img = canvas
    if rng.random() < 0.5:  # scanned at 200-250 dpi, resampled to 300
        s = rng.uniform(0.66, 0.85)
        small = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        img = cv2.resize(small, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR)
    sigma = 0.2 + 0.9 * d * rng.random()
    img = cv2.GaussianBlur(img, (0, 0), sigma)
    nrng = np.random.default_rng(rng.randrange(2**32))
    img = img + nrng.normal(0, 1 + 8 * d * rng.random(), img.shape)
    img = np.clip(img, 0, 255).astype(np.uint8)
    q = int(95 - 45 * d * rng.random())
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE) if ok else img


def fold(text: str) -> str:
    """A reading as the normalizer stores it (``8.5`` → ``8,5``)."""
    return text.replace(".", ",") if text.count(".") == 1 and "/" not in text else text


def ece(conf: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over ``bins`` equal-width confidence bins."""
    edges = np.linspace(0, 1, bins + 1)
    e = 0.0
    for lo, hi in itertools.pairwise(edges):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            e += m.mean() * abs(conf[m].mean() - correct[m].mean())
    return round(float(e), 4)
