"""Fill a printed form: every value written inside its box, printed or by hand.

Starts from ``pipelines.forms.draw.render_blank`` and adds what a school puts on
the paper: values (a print font for software-printed records; for hand-filled ones a
handwriting font with per-glyph jitter, and for most writers real MNIST digits, see
``hand_digits.py``), a red round stamp, pen signatures, a photo on the identity page.
Everything random comes from the page's own seed, so a page is the same whichever
process draws it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import cv2
import numpy as np
from PIL import Image, ImageDraw

from pipelines.contracts import FieldSpec, Template, template
from pipelines.forms.draw import (
    LABEL_FONT,
    FontFamily,
    font,
    mm_to_px,
    pt_to_px,
    render_blank,
)
from pipelines.synth.hand_digits import (
    DIGITS,
    digit_traits,
    ink_onto,
    mnist_digit,
    pen_comma,
    pen_dot,
    slips_for,
    written_text,
)

Style = Literal["print", "handwritten"]
HandDigits = Literal["mnist", "font"]
PRINT_INK = (22, 22, 26)
FORM_INK = (28, 28, 30)  # the pre-printed form, slightly lighter than a laser printer's black
STAMP_RED = (205, 32, 45)
VALUE_PT = 10.5  # printed values
CELL_PT = 10.0  # printed values inside table cells
CENTERED_TYPES = {"score", "comment", "grade_enum", "integer", "class_name"}


@dataclass(frozen=True)
class Hand:
    """One writer's hand: font, size, ink, how unsteady the strokes are, and how the
    writer's digits look (the same in every cell the writer fills)."""

    family: FontFamily
    scale: float
    ink: tuple[int, int, int]
    slant_deg: float
    jitter: float
    """Relative per-glyph wobble (position, size, rotation)."""
    digits: HandDigits = "font"
    """"mnist": each digit is a real person's (an MNIST ``validate`` sample); "font": the
    handwriting font's."""
    digit_height: float = 0.68
    """MNIST digit height as a share of the handwriting font size."""
    digit_slant: float = 0.0
    """Shear of MNIST digits (x per unit of height; positive leans forward)."""
    digit_stroke: int = 0
    """Pen width: -1 fine (eroded a pixel), 0 as MNIST, 1 broad (dilated a pixel)."""
    digit_gap: float = 0.12
    """Space between MNIST digits, as a share of the digit height."""


@dataclass(frozen=True)
class PageSpec:
    """Everything needed to draw one page; small and picklable (sent to workers)."""

    template_id: str | None
    """None draws a blank sheet (an inserted empty page)."""
    dpi: int
    seed: tuple[int, ...]
    values: dict[str, str] = field(default_factory=dict, hash=False)
    styles: dict[str, Style] = field(default_factory=dict, hash=False)
    print_family: FontFamily = "serif"
    hand: Hand | None = None
    paper: tuple[int, int, int] = (250, 249, 244)
    stamp_text: str = ""
    stamp: bool = True
    signatures: bool = True
    photo: bool = True


def random_hand(rng: random.Random, digits: HandDigits = "mnist") -> Hand:
    """A writer. ``digits="mnist"``: most writers (``hand_digits.MNIST_WRITERS``) write
    real MNIST digits; "font": all use the handwriting font's. Either way the same
    draws are taken from ``rng``."""
    family: FontFamily = rng.choice(("indie", "dancing"))
    blue = (rng.randint(15, 45), rng.randint(35, 70), rng.randint(120, 175))
    black = (rng.randint(20, 45),) * 3
    scale = rng.uniform(0.9, 1.1) * (1.3 if family == "indie" else 1.35)
    ink = blue if rng.random() < 0.7 else black
    slant_deg = rng.uniform(-4, 4)
    jitter = rng.uniform(0.5, 1.0)
    return Hand(family=family, scale=scale, ink=ink, slant_deg=slant_deg,  # type: ignore[arg-type]
                jitter=jitter,
                **digit_traits(repr((family, scale, ink, slant_deg, jitter)), digits))  # type: ignore[arg-type]


def field_styles(tpl: Template, handwritten: bool, rng: random.Random) -> dict[str, Style]:
    """Per field: how its value is put on paper. Pre-printed fields are always print;
    on a software-printed page the names under the signatures and the remark are
    sometimes still written by hand."""
    out: dict[str, Style] = {}
    hand_names = rng.random() < 0.3
    hand_remark = rng.random() < 0.15
    for s in tpl.field_specs():
        by_hand = (
            handwritten
            or (s.field_id in ("homeroom_teacher_name", "principal_name") and hand_names)
            or (s.field_id == "teacher_remark" and hand_remark)
        )
        out[s.field_id] = "handwritten" if by_hand and not s.printed else "print"
    return out


def render_page(spec: PageSpec) -> Image.Image:
    """The filled page as an RGB image at ``spec.dpi`` (before any scanner effect)."""
    rng = random.Random(repr(spec.seed))
    if spec.template_id is None:
        return Image.new("RGB", _a4_px(spec.dpi), spec.paper)
    tpl = template(spec.template_id)
    img = _on_paper(render_blank(tpl, spec.dpi), spec.paper)
    draw = ImageDraw.Draw(img)
    if spec.photo and tpl.boxes:
        _photo(img, tpl.boxes[0], spec.dpi, rng)
    slips = slips_for(spec)
    for fs in tpl.field_specs():
        text = spec.values.get(fs.field_id, "")
        if not text:
            continue
        style = spec.styles.get(fs.field_id, "print")
        if style == "handwritten" and spec.hand is not None:
            slip = slips.get(fs.field_id, "")
            _write_hand(img, fs, written_text(text, slip), spec.hand, spec.dpi, rng, slip)
        else:
            _write_print(draw, fs, text, spec.print_family, spec.dpi)
    if spec.signatures:
        ink = spec.hand.ink if spec.hand else (30, 45, 140)
        for area in tpl.signature_areas:
            if area.role != "stamp":
                _signature(draw, area.box, spec.dpi, ink, rng)
    stamp_area = next((a for a in tpl.signature_areas if a.role == "stamp"), None)
    if spec.stamp and stamp_area is not None and spec.stamp_text:
        _stamp(img, stamp_area.box, spec.stamp_text, spec.dpi, rng)
    return img


# --- paper ------------------------------------------------------------------------
def _a4_px(dpi: int) -> tuple[int, int]:
    return mm_to_px(210, dpi), mm_to_px(297, dpi)


def _on_paper(blank: Image.Image, paper: tuple[int, int, int]) -> Image.Image:
    """Grey form → RGB on tinted paper: white becomes the paper colour, black the form ink."""
    bands = []
    for c in range(3):
        p, k = paper[c], FORM_INK[c]
        bands.append(blank.point([k + (p - k) * v // 255 for v in range(256)]))
    return Image.merge("RGB", bands)


def _photo(img: Image.Image, box, dpi: int, rng: random.Random) -> None:
    """A grey head-and-shoulders placeholder (never a real face), inside the frame."""
    x, y, w, h = (mm_to_px(v, dpi) for v in box)
    inset = mm_to_px(1.0, dpi)
    pw, ph = w - 2 * inset, h - 2 * inset
    tone = rng.randint(150, 200)
    photo = Image.new("RGB", (pw, ph), (tone,) * 3)
    d = ImageDraw.Draw(photo)
    dark = (tone - 90,) * 3
    cx = pw // 2
    d.ellipse((cx - pw // 5, ph // 6, cx + pw // 5, ph // 6 + pw * 2 // 5 + ph // 10), fill=dark)
    d.ellipse((pw // 10, ph * 3 // 5, pw * 9 // 10, ph * 3 // 2), fill=dark)
    img.paste(photo, (x + inset, y + inset))


# --- printed values ---------------------------------------------------------------
def _box_px(fs: FieldSpec, dpi: int) -> tuple[int, int, int, int]:
    x, y, w, h = fs.box
    return mm_to_px(x, dpi), mm_to_px(y, dpi), mm_to_px(w, dpi), mm_to_px(h, dpi)


def _lines(fs: FieldSpec) -> int:
    return max(1, round(fs.box[3] / 7))


def _wrap(text: str, fits, max_lines: int) -> list[str]:
    """Greedy word wrap into at most ``max_lines`` lines (the last one may overflow)."""
    words, lines, cur = text.split(" "), [], ""
    for w in words:
        trial = f"{cur} {w}".strip()
        if cur and not fits(trial) and len(lines) < max_lines - 1:
            lines.append(cur)
            cur = w
        else:
            cur = trial
    return [*lines, cur]


def _write_print(draw: ImageDraw.ImageDraw, fs: FieldSpec, text: str, family: FontFamily,
                 dpi: int) -> None:
    x, y, w, h = _box_px(fs, dpi)
    pad = mm_to_px(1.5, dpi)
    in_cell = fs.table is not None
    size = pt_to_px(CELL_PT if in_cell else VALUE_PT, dpi)
    n = _lines(fs)
    f = font(family, size)
    lines = _wrap(text, lambda s: f.getlength(s) <= w - 2 * pad, n) if n > 1 else [text]
    while size > 8 and max(f.getlength(s) for s in lines) > w - 2 * pad:
        size = int(size * 0.93)
        f = font(family, size)
    centered = fs.type in CENTERED_TYPES and in_cell
    if fs.printed:  # part of the form itself (the cấp học title): form font, bold, centred
        f = _fit_bold(text, LABEL_FONT, h * 0.7, w - 2 * pad)
        centered = True
    for i, line in enumerate(lines):
        # Each line sits on its dotted rule (scalar fields) or mid-cell (tables).
        yc = y + h * (i + 0.5) / n + (0 if in_cell else h * 0.08 / n)
        if centered:
            draw.text((x + w / 2, yc), line, fill=PRINT_INK, font=f, anchor="mm")
        else:
            draw.text((x + pad, yc), line, fill=PRINT_INK, font=f, anchor="lm")


def _fit_bold(text: str, family: FontFamily, max_h: float, max_w: float):
    size = int(max_h)
    f = font(family, size, True)
    while size > 8 and f.getlength(text) > max_w:
        size = int(size * 0.93)
        f = font(family, size, True)
    return f


# --- handwriting ------------------------------------------------------------------
@lru_cache(maxsize=4096)
def _glyph(family: FontFamily, size: int, ch: str) -> tuple[Image.Image, int, int] | None:
    """A glyph's coverage mask and its offset from the pen position (left baseline)."""
    f = font(family, size)
    left, top, right, bottom = f.getbbox(ch, anchor="ls")
    if right <= left or bottom <= top:
        return None
    m = Image.new("L", (right - left + 2, bottom - top + 2), 0)
    ImageDraw.Draw(m).text((1 - left, 1 - top), ch, fill=255, font=f, anchor="ls")
    return m, left - 1, top - 1


def _write_hand(img: Image.Image, fs: FieldSpec, text: str, hand: Hand, dpi: int,
                rng: random.Random, slip: str = "") -> None:
    x, y, w, h = _box_px(fs, dpi)
    n = _lines(fs)
    pad = mm_to_px(1.5, dpi)
    size = int(min(h / n * 0.62, pt_to_px(12, dpi)) * hand.scale)
    f = font(hand.family, size)
    spacing = 1.04
    lines = (_wrap(text, lambda s: f.getlength(s) * spacing <= w - 2 * pad, n) if n > 1
             else [text])
    longest = max(f.getlength(s) for s in lines) * spacing
    if longest > w - 2 * pad:  # squeeze, as a writer does at the end of a short line
        size = max(6, int(size * (w - 2 * pad) / longest))
        f = font(hand.family, size)
    centered = fs.type in CENTERED_TYPES and fs.table is not None
    j = hand.jitter
    for i, line in enumerate(lines):
        if slip or (hand.digits == "mnist" and not DIGITS.isdisjoint(line)):
            _pen_line(img, line, f, size, spacing, hand, dpi, rng, slip, (x, y, w, h), pad,
                      centered, y + h * (i + 0.5) / n)
            continue
        width = f.getlength(line) * spacing
        pen_x = x + (w - width) / 2 if centered else x + pad + rng.uniform(0, pad)
        base = y + h * (i + 0.5) / n + size * 0.32 + rng.gauss(0, 0.03 * size)
        drift = rng.gauss(0, 0.02)  # baseline slope: lines are never quite straight
        x0 = pen_x
        for ch in line:
            adv = f.getlength(ch) * spacing
            if ch != " ":
                gsize = max(6, round(size * (1 + rng.gauss(0, 0.05 * j))))
                g = _glyph(hand.family, gsize, ch)
                if g is not None:
                    mask, ox, oy = g
                    angle = hand.slant_deg + rng.gauss(0, 3.5 * j)
                    rot = mask.rotate(angle, resample=Image.Resampling.BILINEAR, expand=True)
                    gx = pen_x + rng.gauss(0, 0.03 * size * j)
                    gy = base + (pen_x - x0) * drift + rng.gauss(0, 0.04 * size * j)
                    cx, cy = gx + ox + mask.width / 2, gy + oy + mask.height / 2
                    img.paste(hand.ink, (round(cx - rot.width / 2), round(cy - rot.height / 2)),
                              rot)
            pen_x += adv * (1 + rng.gauss(0, 0.04 * j))


@dataclass
class _Mark:
    """One glyph of a pen line: ink coverage, its top-left from (pen, baseline), advance."""

    cover: np.ndarray
    left: float
    top: float
    advance: float
    digit: bool = False


def _pen_line(img: Image.Image, line: str, f, size: int, spacing: float, hand: Hand, dpi: int,
              rng: random.Random, slip: str, box: tuple[int, int, int, int], pad: int,
              centered: bool, mid: float) -> None:
    """A line holding digits, by a writer of MNIST digits or with a slip: every mark is
    composed first (so the line can be centred and squeezed on its real width), then
    inked into the paper."""
    x, y, w, h = box
    j = hand.jitter
    mnist_digits = hand.digits == "mnist"
    dh = size * hand.digit_height  # the writer's digit height: one size for all cells
    pen_w = max(1.0, 0.09 * dh + 0.8 * hand.digit_stroke)
    gap = hand.digit_gap * dh if mnist_digits else 0.0
    if slip == "touching":  # every digit runs into the next one
        gap = -rng.uniform(0.06, 0.2) * dh
    digit_at = [k for k, ch in enumerate(line) if ch in DIGITS]
    big = rng.choice(digit_at) if slip == "crosses_rule" and digit_at else -1
    marks: list[_Mark] = []
    for k, ch in enumerate(line):
        if ch in DIGITS and mnist_digits:
            gh = dh * (1 + rng.gauss(0, 0.04 * j)) * (rng.uniform(1.15, 1.35) if k == big else 1)
            stroke = hand.digit_stroke + (rng.choice((-1, 1)) if rng.random() < 0.15 else 0)
            g = mnist_digit(int(ch), rng, height=gh, slant=hand.digit_slant,
                            angle_deg=rng.gauss(0, 3.0 * j), stroke=max(-1, min(2, stroke)))
            marks.append(_Mark(g, 0.0, -g.shape[0], g.shape[1] + gap, True))
        elif ch in ",.":
            faint = slip == "faint_comma" and ch == ","
            strength = (rng.uniform(0.1, 0.25) if faint
                        else rng.uniform(0.4, 0.7) if rng.random() < 0.1 else rng.uniform(0.85, 1))
            if ch == ",":
                c, above = pen_comma(dh, pen_w, strength)
                marks.append(_Mark(c, 0.05 * dh, -above, c.shape[1] + max(gap, 0.12 * dh)))
            else:
                d = pen_dot(pen_w, strength)
                marks.append(_Mark(d, 0.05 * dh, -d.shape[0] / 2 - 0.03 * dh,
                                   d.shape[1] + max(gap, 0.12 * dh)))
        elif ch == " ":
            marks.append(_Mark(np.zeros((1, 1), np.float32), 0.0, 0.0, f.getlength(" ") * spacing))
        else:
            adv = f.getlength(ch) * spacing
            gsize = max(6, round(size * (1 + rng.gauss(0, 0.05 * j))))
            g = _glyph(hand.family, gsize, ch)
            if g is None:
                marks.append(_Mark(np.zeros((1, 1), np.float32), 0.0, 0.0, adv))
                continue
            mask, ox, oy = g
            rot = mask.rotate(hand.slant_deg + rng.gauss(0, 3.5 * j),
                              resample=Image.Resampling.BILINEAR, expand=True)
            cover = np.asarray(rot, np.float32) / np.float32(255)
            if ch in DIGITS and (slip == "touching" or (slip == "ten_close" and k == 0)):
                adv *= rng.uniform(0.6, 0.75)
            marks.append(_Mark(cover, ox + (mask.width - rot.width) / 2,
                               oy + (mask.height - rot.height) / 2, adv, ch in DIGITS))
    if not marks:
        return
    if slip == "ten_close" and mnist_digits and len(marks) >= 2:
        marks[0].advance = marks[0].cover.shape[1] - rng.uniform(0.0, 0.12) * dh
    width = sum(m.advance for m in marks[:-1]) + (marks[-1].left + marks[-1].cover.shape[1])
    room = w - 2 * pad
    if width > room:  # squeeze the whole line into the box
        k = room / width
        for m in marks:
            hh, ww = m.cover.shape
            m.cover = cv2.resize(m.cover, (max(1, round(ww * k)), max(1, round(hh * k))),
                                 interpolation=cv2.INTER_AREA)
            m.left, m.top, m.advance = m.left * k, m.top * k, m.advance * k
        width = room
    pen_x = x + (w - width) / 2 if centered else x + pad + rng.uniform(0, pad)
    base = mid + size * 0.32 + rng.gauss(0, 0.03 * size)
    if big >= 0:  # written low (or high) enough for the enlarged digit to cross the rule
        over = mm_to_px(rng.uniform(0.3, 0.9), dpi)
        m = marks[big]
        if rng.random() < 0.7:
            base += y + h + over - (base + m.top + m.cover.shape[0])
        else:
            base += (y - over) - (base + m.top)
    drift = rng.gauss(0, 0.02)
    x0 = pen_x
    for m in marks:
        gx = pen_x + m.left + rng.gauss(0, 0.03 * size * j)
        gy = base + (pen_x - x0) * drift + m.top + (rng.gauss(0, 0.03 * size * j) if m.digit
                                                    else rng.gauss(0, 0.04 * size * j))
        if m.cover.size > 1:
            ink_onto(img, m.cover, round(gx), round(gy), hand.ink)
        pen_x += m.advance * (1 + rng.gauss(0, 0.03 * j))


# --- signatures and stamp ----------------------------------------------------------
def _signature(draw: ImageDraw.ImageDraw, box, dpi: int, ink, rng: random.Random) -> None:
    """A scribble through random control points (a Catmull-Rom curve) plus an underline
    flourish; sometimes it runs into the name line below, as real signatures do."""
    x, y, w, h = box
    left = x + w * rng.uniform(0.15, 0.35)
    length = w * rng.uniform(0.35, 0.55)
    mid = y + h * rng.uniform(0.4, 0.65) + (h * 0.35 if rng.random() < 0.25 else 0)
    amp = h * rng.uniform(0.2, 0.35)
    n = rng.randint(7, 12)
    ctrl = []
    for i in range(n):
        back = rng.uniform(-0.12, 0) if rng.random() < 0.3 else 0  # loops run backwards
        ctrl.append((left + length * (i / (n - 1) + back), mid + rng.uniform(-amp, amp)))
    pts = _catmull_rom(ctrl, 12)
    width = max(1, mm_to_px(rng.uniform(0.25, 0.4), dpi))
    draw.line([(mm_to_px(a, dpi), mm_to_px(b, dpi)) for a, b in pts], fill=ink, width=width,
              joint="curve")
    if rng.random() < 0.7:
        sy = mid + amp * rng.uniform(0.7, 1.1)
        tail = [(left + length * rng.uniform(-0.1, 0.1), sy),
                (left + length * 0.5, sy + amp * rng.uniform(-0.3, 0.3)),
                (left + length * rng.uniform(0.9, 1.2), sy - amp * rng.uniform(0, 0.5))]
        draw.line([(mm_to_px(a, dpi), mm_to_px(b, dpi)) for a, b in _catmull_rom(tail, 10)],
                  fill=ink, width=width, joint="curve")


def _catmull_rom(pts: list[tuple[float, float]], per_segment: int) -> list[tuple[float, float]]:
    """A smooth curve through ``pts`` (uniform Catmull-Rom)."""
    ext = [pts[0], *pts, pts[-1]]
    out = []
    for i in range(1, len(ext) - 2):
        p0, p1, p2, p3 = ext[i - 1], ext[i], ext[i + 1], ext[i + 2]
        for k in range(per_segment):
            t = k / per_segment
            t2, t3 = t * t, t * t * t
            out.append(tuple(
                0.5 * (2 * p1[d] + (p2[d] - p0[d]) * t
                       + (2 * p0[d] - 5 * p1[d] + 4 * p2[d] - p3[d]) * t2
                       + (3 * p1[d] - p0[d] - 3 * p2[d] + p3[d]) * t3)
                for d in (0, 1)
            ))
    out.append(pts[-1])
    return out  # type: ignore[return-value]


@lru_cache(maxsize=16)
def _stamp_mask(text: str, dpi: int) -> Image.Image:
    """A round seal: two rings, the school name around the ring, a star in the middle."""
    size = mm_to_px(36.0, dpi)
    m = Image.new("L", (size, size), 0)
    dr = ImageDraw.Draw(m)
    c = size / 2
    ring = max(2, mm_to_px(0.8, dpi))
    dr.ellipse((0, 0, size - 1, size - 1), outline=255, width=ring)
    r_in = c * 0.62
    dr.ellipse((c - r_in, c - r_in, c + r_in, c + r_in), outline=255, width=max(1, ring // 2))
    r_text = c * 0.81
    label = text.upper()
    gsize = pt_to_px(9.0, dpi)
    f = font("sans", gsize, True)
    while gsize > 6 and f.getlength(label) * 1.15 > r_text * math.radians(320):
        gsize = int(gsize * 0.92)
        f = font("sans", gsize, True)
    step = 1.15 / r_text  # radians per pixel of advance, letter-spaced like a seal
    theta = -f.getlength(label) * step / 2  # centred on the top of the ring
    for ch in label:
        adv = f.getlength(ch) * step
        g = _glyph_bold(gsize, ch)
        if g is not None:
            a = theta + adv / 2
            glyph = g.rotate(-math.degrees(a), resample=Image.Resampling.BICUBIC, expand=True)
            gx, gy = c + r_text * math.sin(a), c - r_text * math.cos(a)
            m.paste(255, (round(gx - glyph.width / 2), round(gy - glyph.height / 2)), glyph)
        theta += adv
    r_star = c * 0.3
    star = [(c + (r_star if k % 2 == 0 else r_star * 0.4) * math.sin(k * math.pi / 5),
             c - (r_star if k % 2 == 0 else r_star * 0.4) * math.cos(k * math.pi / 5))
            for k in range(10)]
    dr.polygon(star, fill=255)
    return m


def _glyph_bold(size: int, ch: str) -> Image.Image | None:
    """A bold sans glyph mask centred on its box (the seal's lettering)."""
    if ch == " ":
        return None
    f = font("sans", size, True)
    left, top, right, bottom = f.getbbox(ch, anchor="mm")
    m = Image.new("L", (right - left + 2, bottom - top + 2), 0)
    ImageDraw.Draw(m).text((1 - left, 1 - top), ch, fill=255, font=f, anchor="mm")
    return m


def _stamp(img: Image.Image, box, text: str, dpi: int, rng: random.Random) -> None:
    mask = _stamp_mask(text, dpi).rotate(rng.uniform(0, 360), resample=Image.Resampling.BILINEAR)
    strength = rng.uniform(0.6, 0.9)  # stamp ink is thin: print below shows through
    mask = mask.point([int(v * strength) for v in range(256)])
    x, y, w, h = box
    cx = mm_to_px(x + w / 2 + rng.uniform(-5, 5), dpi)
    cy = mm_to_px(y + h / 2 + rng.uniform(-5, 5), dpi)
    img.paste(STAMP_RED, (cx - mask.width // 2, cy - mask.height // 2), mask)
