"""Fake scanned pages and batch folders for the ingest tests, drawn with Pillow.

Pages are A6 at 300 dpi (1240 × 1748 px) unless asked otherwise: large enough for
Tesseract's orientation detection to read real text, small enough to keep the suite fast.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Sequence
from pathlib import Path

import fontpkg_noto_serif
import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT = str(fontpkg_noto_serif.ROOT / "files" / "NotoSerif[wdth,wght].ttf")
A6 = (1240, 1748)

LINES = (
    "HỌC BẠ TRUNG HỌC CƠ SỞ",
    "Môn học  Học kỳ I  Học kỳ II",
    "Toán 8,5  7,0  Ngữ văn 6,5",
    "Nhận xét: chăm ngoan, học tốt",
    "Kết quả rèn luyện: Tốt",
    "The quick brown fox jumps",
    "Xếp loại học lực: Khá",
    "Được lên lớp thẳng",
)


def text_page(
    *,
    size: tuple[int, int] = A6,
    lines: int = 8,
    font_px: int = 44,
    seed: int = 0,
    noise: float = 6,
) -> Image.Image:
    """A gray page with several lines of Vietnamese/English print and scanner noise."""
    img = Image.new("L", size, 238)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, font_px)
    rnd = random.Random(seed)
    y = int(size[1] * 0.08)
    for i in range(lines):
        draw.text((int(size[0] * 0.08), y), LINES[(i + seed) % len(LINES)], font=font, fill=25)
        y += int(font_px * 1.9)
        if y > size[1] * 0.9:
            break
    # A mark only this page has, so pages of different seeds differ in bytes.
    draw.rectangle(
        [rnd.randint(100, 900), size[1] - 140, rnd.randint(950, 1100), size[1] - 120], fill=60
    )
    return add_noise(img, noise, seed)


def blank_page(*, size: tuple[int, int] = A6, seed: int = 0, noise: float = 8) -> Image.Image:
    """An empty scanned sheet: paper, sensor noise, dust specks, a dark scanner edge."""
    img = Image.new("L", size, 236)
    draw = ImageDraw.Draw(img)
    rnd = random.Random(seed)
    for _ in range(60):
        x, y, r = rnd.randint(0, size[0]), rnd.randint(0, size[1]), rnd.choice([1, 1, 2, 3])
        draw.ellipse([x - r, y - r, x + r, y + r], fill=rnd.randint(40, 120))
    a = np.asarray(img).astype(np.float32)
    a[:, -25:] = 25  # the lid's shadow along one edge
    a[:, :120] *= np.linspace(0.45, 1.0, 120)[None, :]  # a gutter shadow
    return add_noise(Image.fromarray(a.clip(0, 255).astype(np.uint8)), noise, seed)


def add_noise(img: Image.Image, sigma: float, seed: int) -> Image.Image:
    if sigma <= 0:
        return img
    a = np.asarray(img).astype(np.float32)
    a += np.random.default_rng(seed).normal(0, sigma, a.shape).astype(np.float32)
    return Image.fromarray(a.clip(0, 255).astype(np.uint8))


def png_bytes(img: Image.Image, dpi: float | None = 300) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", **({"dpi": (dpi, dpi)} if dpi else {}))
    return buf.getvalue()


def jpeg_bytes(img: Image.Image, *, orientation: int | None = None, dpi: int = 300) -> bytes:
    """JPEG; with ``orientation`` the pixels are stored turned so that a viewer applying
    the EXIF tag shows ``img`` upright (as a phone or scanner app would write it)."""
    stored = img
    exif = Image.Exif()
    if orientation is not None:
        # The inverse of what the tag asks a viewer to do.
        inverse = {
            3: Image.Transpose.ROTATE_180,
            6: Image.Transpose.ROTATE_90,
            8: Image.Transpose.ROTATE_270,
        }
        stored = img.transpose(inverse[orientation])
        exif[0x0112] = orientation
    buf = io.BytesIO()
    stored.save(buf, "JPEG", quality=92, dpi=(dpi, dpi), exif=exif.tobytes())
    return buf.getvalue()


def _fresh(pages: Sequence[Image.Image]) -> list[Image.Image]:
    # Pillow leaves per-save settings on images passed as append_images; a later save
    # in another format then trips over them. Save copies.
    return [p.copy() for p in pages]


def pdf_bytes(pages: Sequence[Image.Image], *, dpi: int = 300) -> bytes:
    pages = _fresh(pages)
    buf = io.BytesIO()
    pages[0].save(buf, "PDF", save_all=True, append_images=list(pages[1:]), resolution=dpi)
    return buf.getvalue()


def tiff_bytes(
    pages: Sequence[Image.Image], *, dpi: int = 300, compression: str = "tiff_lzw"
) -> bytes:
    pages = _fresh(pages)
    buf = io.BytesIO()
    pages[0].save(
        buf,
        "TIFF",
        save_all=True,
        append_images=list(pages[1:]),
        dpi=(dpi, dpi),
        compression=compression,
    )
    return buf.getvalue()


def write_manifest(
    folder: Path, rows: Sequence[dict], *, columns: Sequence[str] | None = None
) -> None:
    columns = list(columns or ["file", "book_ref", "first_page_no", "pages", "cap_hoc", "note"])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in columns})
    (folder / "manifest.csv").write_text(buf.getvalue(), encoding="utf-8")


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two gray images of equal shape (1.0 = same picture)."""
    if a.shape != b.shape:
        return -1.0
    a = a.astype(np.float64).ravel()
    b = b.astype(np.float64).ravel()
    return float(np.corrcoef(a, b)[0, 1])


# --- A4 sheets for the blank-page calibration ------------------------------------
A4 = (2480, 3508)


def a4_sheet(
    seed: int,
    *,
    noise: float = 8,
    dust: int = 0,
    hair: bool = False,
    show_through: bool = False,
    edges: bool = False,
    uneven_light: bool = False,
) -> np.ndarray:
    """An empty A4 sheet at 300 dpi with the defects a scanner adds."""
    from PIL import ImageFilter

    w, h = A4
    rnd = random.Random(seed)
    img = Image.new("L", A4, 235)
    if show_through:  # the back page's print, mirrored, blurred, 15 % contrast
        back = Image.new("L", A4, 0)
        draw = ImageDraw.Draw(back)
        font = ImageFont.truetype(FONT, 48)
        for i in range(25):
            draw.text(
                (200, 250 + i * 120),
                "Môn học Học kỳ I Học kỳ II Cả năm Toán Ngữ văn",
                font=font,
                fill=255,
            )
        back = back.transpose(Image.Transpose.FLIP_LEFT_RIGHT).filter(ImageFilter.GaussianBlur(2))
        a = np.asarray(img).astype(np.float32) - np.asarray(back).astype(np.float32) / 255 * 35
        img = Image.fromarray(a.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(dust):  # specks up to 0.5 mm across
        x, y, r = rnd.randint(0, w), rnd.randint(0, h), rnd.choice([1, 1, 1, 2, 2, 3])
        draw.ellipse([x - r, y - r, x + r, y + r], fill=rnd.randint(40, 120))
    if hair:
        pts = [(rnd.randint(300, 2000), rnd.randint(300, 3000))]
        for _ in range(30):
            pts.append((pts[-1][0] + rnd.randint(-5, 12), pts[-1][1] + rnd.randint(-3, 10)))
        draw.line(pts, fill=110, width=1)
    a = np.asarray(img).astype(np.float32)
    if uneven_light:
        a *= np.linspace(0.8, 1.0, w)[None, :]
    if edges:  # the spine's shadow, the lid's edge, a dark top band
        a[:, :250] *= np.linspace(0.25, 1.0, 250)[None, :]
        a[:, -40:] = 20
        a[:40, :] = 30
    a += np.random.default_rng(seed).normal(0, noise, a.shape).astype(np.float32)
    return a.clip(0, 255).astype(np.uint8)


def write_on(
    sheet: np.ndarray, text: str, *, font: str, px: int, xy: tuple[int, int], ink: int = 50
) -> np.ndarray:
    img = Image.fromarray(sheet)
    ImageDraw.Draw(img).text(xy, text, font=ImageFont.truetype(font, px), fill=ink)
    return np.asarray(img)


def sign_on(sheet: np.ndarray, seed: int = 1) -> np.ndarray:
    """A scribbled signature, 4 px (0.3 mm) pen."""
    img = Image.fromarray(sheet)
    rnd = random.Random(seed)
    pts = [(1600, 2700)]
    for i in range(60):
        pts.append(
            (pts[-1][0] + rnd.randint(-4, 14), 2700 + int(60 * np.sin(i / 3)) + rnd.randint(-5, 5))
        )
    ImageDraw.Draw(img).line(pts, fill=40, width=4)
    return np.asarray(img)


SUBJECTS = (
    "Toán",
    "Vật lí",
    "Hóa học",
    "Sinh học",
    "Tin học",
    "Ngữ văn",
    "Lịch sử",
    "Địa lí",
    "Ngoại ngữ",
    "GDCD",
    "Công nghệ",
    "Thể dục",
    "Âm nhạc",
    "Mĩ thuật",
)


def a4_form(seed: int = 0, *, noise: float = 10, skew: float = 1.0) -> Image.Image:
    """A yearly score page: title, a ruled table of subjects, handwritten scores."""
    import fontpkg_indie_flower
    import fontpkg_noto_sans

    sans = str(fontpkg_noto_sans.ROOT / "files" / "NotoSans[wdth,wght].ttf")
    hand = str(fontpkg_indie_flower.ROOT / "files" / "IndieFlower-Regular.ttf")
    rnd = random.Random(seed)
    w, _ = A4
    img = Image.new("L", A4, 240)
    d = ImageDraw.Draw(img)
    d.text((w // 2 - 600, 180), "BẢNG ĐIỂM CÁC MÔN HỌC", font=ImageFont.truetype(FONT, 56), fill=25)
    fs, fh = ImageFont.truetype(sans, 36), ImageFont.truetype(hand, 52)
    d.text((200, 300), "Lớp: 8A   Năm học: 2009-2010   Trường THCS Nguyễn Trãi", font=fs, fill=30)
    top, rowh, cols = 420, 110, [200, 700, 1050, 1400, 1750, 2280]
    for i in range(len(SUBJECTS) + 2):
        d.line([(cols[0], top + i * rowh), (cols[-1], top + i * rowh)], fill=40, width=3)
    for c in cols:
        d.line([(c, top), (c, top + (len(SUBJECTS) + 1) * rowh)], fill=40, width=3)
    for j, t in enumerate(["Môn học", "Học kỳ I", "Học kỳ II", "Cả năm", "Chữ ký GV"]):
        d.text((cols[j] + 15, top + 30), t, font=fs, fill=30)
    for i, name in enumerate(SUBJECTS):
        y = top + (i + 1) * rowh + 25
        d.text((cols[0] + 15, y), name, font=fs, fill=30)
        for j in (1, 2, 3):
            d.text(
                (cols[j] + 60, y - 10), f"{rnd.randint(4, 9)},{rnd.randint(0, 9)}", font=fh, fill=60
            )
    img = img.rotate(skew, resample=Image.Resampling.BILINEAR, fillcolor=240)
    return add_noise(img, noise, seed)
