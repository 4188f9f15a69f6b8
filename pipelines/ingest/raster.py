"""Decode scan files into pages: 8-bit grayscale, EXIF orientation applied, 300 dpi.

Works on a local file path (the batch orchestrator hands over the inbox file itself
when the inbox is a local folder, otherwise a local spool copy): poppler needs one,
and decoding one page of a multi-page file must not re-read the others.

``count_pages`` failing means the file cannot be opened at all (a file-level problem);
``decode_page`` failing (``PageDecodeError``) concerns that page only.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from pdf2image import convert_from_path, pdfinfo_from_path
from PIL import Image, ImageOps

from pipelines.ingest.errors import FileOpenError, PageDecodeError
from pipelines.ingest.sniff import Format

TARGET_DPI = 300
PDF_TIMEOUT_S = 120  # one pdftoppm / pdfinfo call; a pathological PDF must not hang the batch

# A4 at 300 dpi (210 × 297 mm).
A4_SHORT_PX = 2480
A4_LONG_PX = 3508

# A declared resolution is believed only when it gives a plausible sheet: short side
# 3.5–13 in, long side 4.5–18 in (A6 up to an open A3 spread). Cameras and screenshot
# tools write 72 or 96 dpi whatever the subject, which would make a phone photo of a
# page a metre wide; those are treated as unknown.
PLAUSIBLE_SHORT_IN = (3.5, 13.0)
PLAUSIBLE_LONG_IN = (4.5, 18.0)

# Pixel budget per page before decoding (≈ A3 at 600 dpi is 70 Mpx); Pillow's own
# decompression-bomb guard also applies to raster files.
MAX_PAGE_PIXELS = 120_000_000

# EXIF orientation tag → clockwise degrees that exif_transpose turns the image by.
# 2, 4, 5, 7 also mirror it (never written by scanners or phones in practice).
EXIF_DEGREES = {1: 0, 2: 0, 3: 180, 4: 180, 5: 270, 6: 90, 7: 90, 8: 270}
EXIF_ORIENTATION_TAG = 0x0112


@dataclass(frozen=True)
class PageCount:
    pages: int
    too_large: frozenset[int] = frozenset()
    """0-based indices of PDF pages whose 300-dpi render would exceed MAX_PAGE_PIXELS."""


@dataclass(frozen=True)
class DecodedPage:
    gray: np.ndarray
    """uint8, 2-D, at TARGET_DPI, EXIF orientation applied."""
    source_dpi: float | None
    """Horizontal resolution the source declared (believed or not); None if none."""
    exif_rotation: int
    """Clockwise degrees turned for the EXIF orientation tag."""
    dpi_rule: str
    """How the 300 dpi was reached: rendered | declared | a4_fit."""


# --- counting ---------------------------------------------------------------
_PAGE_SIZE = re.compile(r"Page\s+(\d+)\s+size")


def count_pages(path: str, fmt: Format) -> PageCount:
    """Pages in the file; ``FileOpenError`` when the file cannot be opened."""
    if fmt == "pdf":
        return _count_pdf(path)
    try:
        with Image.open(path) as img:
            n = getattr(img, "n_frames", 1) if fmt == "tiff" else 1
    except Exception as exc:  # Pillow raises many types for corrupt headers
        raise FileOpenError(f"{type(exc).__name__}: {exc}") from exc
    return PageCount(pages=int(n))


def _count_pdf(path: str) -> PageCount:
    try:
        info = pdfinfo_from_path(path, timeout=PDF_TIMEOUT_S)
    except Exception as exc:  # PDFPageCountError, PDFPopplerTimeoutError, …
        raise FileOpenError(f"pdfinfo: {type(exc).__name__}: {_one_line(exc)}") from exc
    pages = int(info.get("Pages", 0))
    if pages == 0:
        return PageCount(0)
    # Page sizes: only when asked per page (cheap), to refuse absurd renders up front.
    try:
        sizes = pdfinfo_from_path(path, first_page=1, last_page=pages, timeout=PDF_TIMEOUT_S)
    except Exception:
        return PageCount(pages)
    too_large: set[int] = set()
    for key, value in sizes.items():
        m = _PAGE_SIZE.match(key)
        if not m:
            continue
        dims = re.findall(r"[\d.]+", str(value))[:2]
        if len(dims) == 2:
            w_px = float(dims[0]) / 72 * TARGET_DPI
            h_px = float(dims[1]) / 72 * TARGET_DPI
            if w_px * h_px > MAX_PAGE_PIXELS:
                too_large.add(int(m.group(1)) - 1)
    return PageCount(pages, frozenset(too_large))


def _one_line(exc: BaseException) -> str:
    return " | ".join(line.strip() for line in str(exc).splitlines() if line.strip())[:500]


# --- decoding ---------------------------------------------------------------
def decode_page(path: str, fmt: Format, index: int) -> DecodedPage:
    """Decode page ``index`` (0-based) into an upright-by-EXIF 300 dpi gray array."""
    if fmt == "pdf":
        return _decode_pdf(path, index)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if index:
                    img.seek(index)
                img.load()
                exif_deg = EXIF_DEGREES.get(_exif_orientation(img), 0)
                upright = ImageOps.exif_transpose(img) if exif_deg or _mirrored(img) else img
                dpi = _declared_dpi(upright)
                gray = to_gray(upright)
    except PageDecodeError:
        raise
    except Exception as exc:
        raise PageDecodeError(f"{fmt} page {index}: {type(exc).__name__}: {exc}") from exc
    scaled, rule = normalize_dpi(gray, dpi)
    return DecodedPage(
        gray=scaled,
        source_dpi=None if dpi is None else round(dpi[0], 3),
        exif_rotation=exif_deg,
        dpi_rule=rule,
    )


def _decode_pdf(path: str, index: int) -> DecodedPage:
    try:
        images = convert_from_path(
            path,
            dpi=TARGET_DPI,
            grayscale=False,  # colour, so that to_gray can drop the red stamp out
            first_page=index + 1,
            last_page=index + 1,
            timeout=PDF_TIMEOUT_S,
        )
    except Exception as exc:
        raise PageDecodeError(
            f"pdftoppm page {index}: {type(exc).__name__}: {_one_line(exc)}"
        ) from exc
    if len(images) != 1:
        raise PageDecodeError(f"pdftoppm page {index}: rendered {len(images)} images, expected 1")
    with images[0] as img:
        gray = to_gray(img)
    # Rendered from the page's physical size: already 300 dpi. The PDF declares no
    # scan resolution of its own (images inside may have any), hence source_dpi None.
    return DecodedPage(gray=gray, source_dpi=None, exif_rotation=0, dpi_rule="rendered")


def _exif_orientation(img: Image.Image) -> int:
    try:
        return int(img.getexif().get(EXIF_ORIENTATION_TAG, 1) or 1)
    except Exception:
        return 1


def _mirrored(img: Image.Image) -> bool:
    return _exif_orientation(img) in (2, 4, 5, 7)


def _declared_dpi(img: Image.Image) -> tuple[float, float] | None:
    dpi = img.info.get("dpi")
    try:
        x, y = (float(dpi[0]), float(dpi[1])) if dpi else (0.0, 0.0)
    except (TypeError, ValueError, IndexError):
        return None
    if x <= 0 or y <= 0:
        return None
    return _snap(x), _snap(y)


def _snap(dpi: float) -> float:
    # PNG stores pixels per metre as an integer: 300 dpi comes back as 299.9994 and
    # 150 as 150.012. Within 0.05 of a whole number, it was that whole number.
    whole = round(dpi)
    return float(whole) if abs(dpi - whole) < 0.05 else dpi


def to_gray(img: Image.Image) -> np.ndarray:
    """Any Pillow mode → 2-D uint8 (transparent areas on white paper).

    Colour pages keep their red channel only ("red dropout", as form scanners do):
    black print and blue or black pen stay dark, while the school's red stamp, which
    often covers the principal's name, turns as light as the paper.
    """
    mode = img.mode
    if mode == "L":
        return np.asarray(img, dtype=np.uint8).copy()
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(img).astype(np.float64)
        top = 255.0 if a.max(initial=0) <= 255 else 65535.0
        return np.clip(np.rint(a * (255.0 / top)), 0, 255).astype(np.uint8)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return _red(Image.alpha_composite(white, rgba))
    return _red(img)


def _red(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"), dtype=np.uint8)[:, :, 0].copy()


def normalize_dpi(gray: np.ndarray, dpi: tuple[float, float] | None) -> tuple[np.ndarray, str]:
    """Resample to TARGET_DPI. Returns the image and the rule used (declared | a4_fit).

    The rule: a declared resolution that gives a plausible sheet size (see
    PLAUSIBLE_*_IN) is used, per axis (fax-style 204×98 dpi included). Without one,
    the image is assumed to be one whole page of A4 and is scaled, keeping its aspect
    ratio, to fit A4 at 300 dpi (2480 × 3508, either way round): a phone photo or a
    scan saved without resolution is nearly always one page cropped to the sheet.
    """
    h, w = gray.shape
    if dpi is not None and _plausible(w / dpi[0], h / dpi[1]):
        sx, sy = TARGET_DPI / dpi[0], TARGET_DPI / dpi[1]
        rule = "declared"
    else:
        short, long_ = sorted((w, h))
        sx = sy = min(A4_SHORT_PX / short, A4_LONG_PX / long_)
        rule = "a4_fit"
    if abs(sx - 1) < 0.005 and abs(sy - 1) < 0.005:
        return gray, rule
    size = (max(1, round(w * sx)), max(1, round(h * sy)))
    if size[0] * size[1] > MAX_PAGE_PIXELS:
        raise PageDecodeError(
            f"page would be {size[0]}x{size[1]} px at {TARGET_DPI} dpi; too large"
        )
    shrinking = sx * sy < 1
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return cv2.resize(gray, size, interpolation=interp), rule


def _plausible(w_in: float, h_in: float) -> bool:
    short, long_ = sorted((w_in, h_in))
    return (
        PLAUSIBLE_SHORT_IN[0] <= short <= PLAUSIBLE_SHORT_IN[1]
        and PLAUSIBLE_LONG_IN[0] <= long_ <= PLAUSIBLE_LONG_IN[1]
    )
