"""The printable PDF of an issued record: the Ministry's paper form, filled in, plus a certification page.

Pages: the identity page and one page per school year, each drawn from the same template the paper
book was read with (data_contracts/templates: labels, table grids and boxes at their millimetre
positions), so the print looks like the book; then a certification page stating that this is a
digitized copy of the paper book, listing the scans' sha256, the provenance summary and the rule set
of each year. A QR code carrying ``hocba:{record_id}:{version}:{sha256 of the XML}`` sits on the
first and the last page; the XML itself is embedded as ``hocba-record.xml`` (pyHanko's
``embed_file``, before any signature: after signing it would be an illegal modification).

Speed (the issue stage renders every new record; ~15 ms a book of five pages): one font (Noto Serif,
subset and embedded; bold is drawn by stroking the outline, so no second font file); text written as
raw PDF operators, with each template's printed form encoded once per process and placed once per
document as a form XObject; the QR matrix from ``qr.py`` (reportlab's encoder, the mask chosen on
arrays), drawn once per document as a form XObject and cached per payload.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache, lru_cache
from io import BytesIO

from pyhanko.pdf_utils import embed
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from reportlab import rl_config
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from pipelines.contracts import Template, rule_sets, templates
from pipelines.contracts.templates import FieldSpec
from pipelines.forms.layout import DottedLine, Line, Rect, Text, Weight, form_layout, writing_lines
from pipelines.issue.model import BookRecord
from pipelines.issue.qr import qr_matrix
from pipelines.issue.record import STATEMENT

ATTACHMENT_NAME = "hocba-record.xml"
FONT = "HocbaNotoSerif"
PAGE_W, PAGE_H = A4
VN_TIME = dt.timezone(dt.timedelta(hours=7))
GREY = (0.35, 0.35, 0.35)
BOLD_STROKE = 0.028  # outline stroke, as a fraction of the font size, that makes regular text bold
QR_SIZE_MM = 20.0
FOOTER_PT = 7.5
PEN_PT: dict[Weight, float] = {"box": 0.6, "rule": 0.5, "frame": 0.85}
"""Vector pen width (points) per layout weight (forms/layout.py)."""
DOTTED_PT = 0.35  # the round dots of a writing line


# --- fonts and raw text -----------------------------------------------------------------------------
# Text is written as raw PDF operators (Canvas.addLiteral): reportlab's text objects cost ~0.1 ms a
# string, and a book has ~500. Every document first assigns the font's subset codes of a fixed
# alphabet (Vietnamese letters, ASCII, common punctuation) in a fixed order, so the encoding of text in
# that alphabet is the same in every document: the printed form of each template is then encoded once
# per process and reused. Other characters (a name in another script) get codes per document as usual.
_VOWELS = "aăâeêioôơuưy"
_TONES = ("", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323")
ALPHABET = "".join(sorted(
    {unicodedata.normalize("NFC", v + t) for v in _VOWELS + _VOWELS.upper() for t in _TONES}
    | set("đĐ–—…·“”‘’°×²³½±≤≥•") | {chr(c) for c in range(32, 127)}))
_ESC = {b: (chr(b) if 32 <= b < 127 and chr(b) not in "()\\" else f"\\{b:03o}") for b in range(256)}


@dataclass(frozen=True)
class _Font:
    ttf: TTFont
    ascent: float
    descent: float
    widths: dict[int, float]
    default_width: float
    alphabet: str
    """``ALPHABET`` less the characters the font lacks."""
    codes: dict[str, tuple[int, str]]
    """Alphabet character → (subset, escaped byte) once the alphabet is seeded."""


@cache
def _font() -> _Font:
    """Noto Serif (the font the paper forms are drawn in, forms/draw.py), registered once per process."""
    from pipelines.forms.draw import _font_file

    ttf = TTFont(FONT, str(_font_file("serif")))
    pdfmetrics.registerFont(ttf)
    face = ttf.face
    # Nearly every document embeds the same subset (the seeded alphabet): build each subset font once.
    # The instance attribute shadows the method on this font object only (registered under our name).
    make = face.makeSubset
    made: dict[tuple[int, ...], bytes] = {}

    def make_subset(subset, *args, **kwargs) -> bytes:
        key = tuple(subset)
        if args or kwargs:
            return make(subset, *args, **kwargs)
        if key not in made:
            if len(made) >= 64:
                made.clear()
            made[key] = make(subset)
        return made[key]

    face.makeSubset = make_subset
    alphabet = "".join(ch for ch in ALPHABET if ord(ch) in face.charToGlyph)
    probe = BytesIO()  # any weak-referenceable key: the font keeps code assignments per document
    ttf.splitString(alphabet, probe)
    assigned = ttf.state[probe].assignments
    codes = {ch: (assigned[ord(ch)] >> 8, _ESC[assigned[ord(ch)] & 0xFF]) for ch in alphabet}
    del ttf.state[probe]
    return _Font(ttf, face.ascent / 1000, face.descent / 1000, face.charWidths, face.defaultWidth, alphabet,
                 codes)


@lru_cache(maxsize=8192)
def _w1(text: str) -> float:
    f = _font()
    g, dw = f.widths.get, f.default_width
    return 0.001 * sum(g(ord(ch), dw) for ch in text)


def _width(text: str, size: float) -> float:
    return _w1(text) * size


def _fit(text: str, size: float, width: float, floor: float = 5.5) -> float:
    """The largest size up to ``size`` at which ``text`` fits ``width`` points."""
    w = _width(text, size)
    return size if w <= width else max(floor, size * width / w * 0.98)


def _baseline(y_mid_mm: float, size: float) -> float:
    """PDF y of the baseline of text whose middle line is at ``y_mid_mm`` from the page top."""
    f = _font()
    return PAGE_H - y_mid_mm * mm - (f.ascent + f.descent) / 2 * size


class _Ops:
    """PDF operators for one document's text and lines, in the document's font subsets."""

    def __init__(self, doc) -> None:
        self.doc = doc
        f = _font()
        f.ttf.splitString(f.alphabet, doc)  # first: the fixed code assignment (see above)
        self.names = tuple(f.ttf.getSubsetInternalName(i, doc) for i in range(len(f.ttf.state[doc].subsets)))
        self.out: list[str] = []

    def _encode(self, text: str) -> list[tuple[int, str]]:
        codes = _font().codes
        try:
            pairs = [codes[ch] for ch in text]
        except KeyError:  # outside the alphabet: the font assigns codes in this document
            return [(s, "".join(_ESC[b] for b in chunk))
                    for s, chunk in _font().ttf.splitString(text, self.doc)]
        out: list[tuple[int, str]] = []
        for subset, esc in pairs:
            if out and out[-1][0] == subset:
                out[-1] = (subset, out[-1][1] + esc)
            else:
                out.append((subset, esc))
        return out

    def _name(self, subset: int) -> str:
        if subset >= len(self.names):
            f = _font().ttf
            self.names = tuple(f.getSubsetInternalName(i, self.doc) for i in range(subset + 1))
        return self.names[subset]

    def text(self, x: float, y: float, text: str, size: float, *, bold: bool = False, align: str = "left",
             grey: bool = False) -> None:
        """``text`` at PDF coordinates (points), ``align`` left, center or right of ``x``."""
        if align != "left":
            w = _width(text, size)
            x -= w / 2 if align == "center" else w
        o = self.out
        o.append("BT")
        if grey:
            o.append(f"{GREY[0]:.2f} g")
        if bold:
            o.append(f"2 Tr {size * BOLD_STROKE:.3f} w")
        o.append(f"{x:.2f} {y:.2f} Td")
        for subset, esc in self._encode(text):
            o.append(f"{self._name(subset)} {size:.2f} Tf ({esc}) Tj")
        if bold:
            o.append("0 Tr")
        if grey:
            o.append("0 g")
        o.append("ET")

    def flush(self, c: Canvas) -> str:
        s = "\n".join(self.out)
        self.out = []
        if s:
            c.addLiteral("q\n" + s + "\nQ")
        return s


# --- QR code --------------------------------------------------------------------------------------------
@lru_cache(maxsize=64)
def _qr_ops(data: str) -> tuple[int, str]:
    """(size in modules with the 4-module quiet zone, PDF operators drawing it at 1 unit a module)."""
    rows = qr_matrix(data)
    n = len(rows)
    size = n + 8
    ops = [f"1 g 0 0 {size} {size} re f 0 g"]
    for r, row in enumerate(rows):
        y = size - 5 - r
        col = 0
        while col < n:
            if row[col]:
                start = col
                while col < n and row[col]:
                    col += 1
                ops.append(f"{4 + start} {y} {col - start} 1 re")
            else:
                col += 1
    ops.append("f")
    return size, "\n".join(ops)


def _qr_form(c: Canvas, data: str) -> int:
    """Define the QR code once in the document as the form XObject ``qr``; its size in modules."""
    size, ops = _qr_ops(data)
    c.beginForm("qr", 0, 0, size, size)
    c.addLiteral(ops)
    c.endForm()
    return size


def _place_qr(c: Canvas, modules: int, x_mm: float, y_top_mm: float, size_mm: float = QR_SIZE_MM) -> None:
    k = size_mm * mm / modules
    c.saveState()
    c.transform(k, 0, 0, k, x_mm * mm, PAGE_H - (y_top_mm + size_mm) * mm)
    c.doForm("qr")
    c.restoreState()


# --- the form pages ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Cell:
    spec: FieldSpec
    centered: bool


@cache
def _cells(template_id: str) -> tuple[_Cell, ...]:
    return tuple(_Cell(s, s.table is not None and s.type in ("score", "comment", "grade_enum", "integer"))
                 for s in templates()[template_id].field_specs())


def _p(x_mm: float, y_mm: float) -> str:
    return f"{x_mm * mm:.2f} {PAGE_H - y_mm * mm:.2f}"


def _form_ops(ops: _Ops, tpl: Template) -> None:
    """The empty printed form (forms/layout.py, as forms/draw.py rasterizes it for OCR), in vector: the
    inner rules of a table stroked as one path, the dotted writing lines as one dashed path."""
    o = ops.out
    path: str | None = None  # the open path: "rule" or "dotted"

    def stroke() -> None:
        nonlocal path
        if path is not None:
            o.append("S [] 0 d 0 J" if path == "dotted" else "S")
        path = None

    for p in form_layout(tpl):
        if isinstance(p, Text):
            stroke()
            size = p.size if p.max_width is None else _fit(p.text, p.size, p.max_width * mm)
            ops.text(p.x * mm, _baseline(p.y, size), p.text, size, bold=p.bold, align=p.align)
        elif isinstance(p, DottedLine):
            if path != "dotted":
                stroke()
                o.append(f"{DOTTED_PT} w 1 J [0.4 2.4] 0 d")
                path = "dotted"
            o.append(f"{_p(p.x0, p.y)} m {_p(p.x1, p.y)} l")
        elif isinstance(p, Line) and p.weight == "rule":
            if path != "rule":
                stroke()
                o.append(f"{PEN_PT['rule']} w")
                path = "rule"
            o.append(f"{_p(p.x0, p.y0)} m {_p(p.x1, p.y1)} l")
        elif isinstance(p, Line):
            stroke()
            o.append(f"{PEN_PT[p.weight]} w {_p(p.x0, p.y0)} m {_p(p.x1, p.y1)} l S")
        elif isinstance(p, Rect):
            stroke()
            o.append(f"{PEN_PT[p.weight]} w {_p(p.x, p.y + p.h)} {p.w * mm:.2f} {p.h * mm:.2f} re S")
        else:
            raise TypeError(f"not a layout primitive: {p!r}")
    stroke()


_static: dict[tuple[str, tuple[str, ...]], str] = {}


def _form_xobject(c: Canvas, ops: _Ops, tpl: Template, defined: set[str]) -> str:
    """The template's printed form as a form XObject of this document (defined on first use)."""
    name = f"tpl_{tpl.template_id}"
    if name in defined:
        return name
    key = (tpl.template_id, ops.names)
    code = _static.get(key)
    c.beginForm(name, 0, 0, PAGE_W, PAGE_H)
    if code is None:
        _form_ops(ops, tpl)
        code = ops.flush(c)
        if all(ch in _font().codes for label in tpl.labels for ch in label.text):
            _static[key] = code  # only the fixed alphabet: encoded alike in every document
    else:
        c.addLiteral("q\n" + code + "\nQ")
    c.endForm()
    defined.add(name)
    return name


def _fill(ops: _Ops, template_id: str, values: dict[str, str]) -> None:
    """The book's values in their boxes: table cells centred, other fields from the left."""
    for cell in _cells(template_id):
        s = cell.spec
        text = values.get(s.field_id)
        if not text:
            continue
        x, y, w, h = s.box
        if cell.centered:
            size = _fit(text, 10.0, (w - 2) * mm)
            ops.text((x + w / 2) * mm, _baseline(y + h / 2, size), text, size, align="center")
            continue
        if s.printed:  # the cấp học title: part of the form, centred and bold
            size = _fit(text, 13.0, (w - 3) * mm)
            ops.text((x + w / 2) * mm, _baseline(y + h / 2, size), text, size, bold=True, align="center")
            continue
        size = 10.5
        width = (w - 3) * mm
        rules = writing_lines(s.box)  # the dotted writing lines drawn in the box (_form_ops)
        if len(rules) == 1:
            size = _fit(text, size, width)
            ops.text((x + 1.5) * mm, _baseline(y + h / 2, size), text, size)
            continue
        # A box of several writing lines (the homeroom teacher's remark): one text line on each, smaller
        # type only when the text needs more lines than the box has.
        lines = simpleSplit(text, FONT, size, width)
        while len(lines) > len(rules) and len(lines) * size * 1.2 > h * mm and size > 6:
            size *= 0.92
            lines = simpleSplit(text, FONT, size, width)
        if len(lines) <= len(rules):
            mids = [yy - 2.4 for yy in rules[: len(lines)]]
        else:
            lead = size * 1.2 / mm
            mids = [y + h / 2 - lead * (len(lines) - 1) / 2 + k * lead for k in range(len(lines))]
        for mid, line in zip(mids, lines, strict=True):
            ops.text((x + 1.5) * mm, _baseline(mid, size), line, size)


def _footer(ops: _Ops, record: BookRecord, version: int, page: int, pages: int) -> None:
    text = (f"Bản số hoá từ học bạ giấy · Mã hồ sơ {record.record_id} · Phiên bản {version}"
            f" · Trang {page}/{pages}")
    size = _fit(text, FOOTER_PT, PAGE_W - 30 * mm)
    ops.text(PAGE_W / 2, _baseline(290, size), text, size, align="center", grey=True)


# --- the certification page ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Line:
    text: str
    size: float = 9.5
    bold: bool = False
    indent: float = 0.0  # mm
    gap: float = 0.0  # mm of space before
    grey: bool = False


def _vn_time(t: dt.datetime) -> str:
    return f"{t.astimezone(VN_TIME):%H:%M:%S ngày %d/%m/%Y} (giờ Việt Nam, UTC+7)"


def _wrap(text: str, size: float, width_mm: float, **kw) -> list[_Line]:
    return [_Line(t, size, **kw) for t in simpleSplit(text, FONT, size, width_mm * mm)]


def _certificate_lines(record: BookRecord, *, version: int, issued_at: dt.datetime,
                       xml_sha: str) -> list[_Line]:
    width = 180.0
    out: list[_Line] = []
    out += _wrap(STATEMENT + " Bản số hoá có giá trị khi các chữ ký số trên tệp PDF/XML hợp lệ và mã hồ sơ "
                 "có trạng thái hiện hành trong sổ cấp phát.", 10, width)
    facts = [
        ("Mã hồ sơ", record.record_id), ("Phiên bản", str(version)), ("Thời điểm cấp", _vn_time(issued_at)),
        ("Mã học sinh", record.student_id), ("Mã trường", record.school),
        ("Phòng GD&ĐT (mã)", record.district), ("Nhãn sổ", record.book_ref), ("Lô quét", record.batch_id),
    ]
    out.append(_Line("Thông tin hồ sơ", 10.5, bold=True, gap=4))
    out += [_Line(f"{k}: {v}", 9.5, indent=4) for k, v in facts]
    if record.years:
        out.append(_Line("Quy chế đánh giá theo năm học", 10.5, bold=True, gap=3))
        titles = {k: v.title for k, v in rule_sets().items()}
        for y in record.years:
            rs = titles.get(y.rule_set or "", "không xác định")
            out += _wrap(f"{y.school_year}-{y.school_year + 1}, lớp {y.grade}: {rs}", 9.5, width - 4,
                         indent=4)
    fields = record.fields
    reviewed = [(p, f) for p, f in fields if f.source == "review"]
    out.append(_Line("Nguồn dữ liệu", 10.5, bold=True, gap=3))
    out += _wrap(f"{len(fields)} trường thông tin: {len(fields) - len(reviewed)} trường đọc tự động từ "
                 f"bản quét và được kiểm tra tự động; {len(reviewed)} trường do người duyệt nhập hoặc "
                 f"xác nhận{':' if reviewed else '.'}", 9.5, width - 4, indent=4)
    shown = 40
    for p, f in reviewed[:shown]:
        when = f" lúc {_vn_time(f.reviewed_at)}" if f.reviewed_at else ""
        out.append(_Line(f"trang {p}, trường {f.field_id}: người duyệt {f.reviewed_by or '?'}{when}", 8,
                         indent=8))
    if len(reviewed) > shown:
        out.append(_Line(f"… và {len(reviewed) - shown} trường khác (xem tệp XML đính kèm).", 8, indent=8))
    out.append(_Line(f"Các tệp quét của bản giấy ({len(record.scans)} tệp, mã băm SHA-256)", 10.5, bold=True,
                     gap=3))
    for i, s in enumerate(record.scans, 1):
        out += _wrap(f"{i}. {s.file_path}", 8.5, width - 4, indent=4)
        out.append(_Line(s.file_sha256, 8, indent=8, grey=True))
    out.append(_Line("Dữ liệu có cấu trúc", 10.5, bold=True, gap=3))
    out += _wrap(f"Tệp XML đính kèm {ATTACHMENT_NAME} (theo lược đồ urn:hocba:record:1), SHA-256:", 9.5,
                 width - 4, indent=4)
    out.append(_Line(xml_sha, 8, indent=8, grey=True))
    out += _wrap("Mã QR chứa mã hồ sơ, phiên bản và mã băm của tệp XML để tra cứu và đối chiếu.", 9.5,
                 width - 4, indent=4)
    return out


def _paginate(lines: list[_Line], first_top: float, top: float,
              bottom: float) -> list[list[tuple[float, _Line]]]:
    pages: list[list[tuple[float, _Line]]] = [[]]
    y = first_top
    for line in lines:
        step = line.size * 1.3 / mm + line.gap
        if y + step > bottom:
            pages.append([])
            y = top
            step -= line.gap
        y += step
        pages[-1].append((y, line))
    return pages


# --- public API ---------------------------------------------------------------------------------------------
def qr_payload(record_id: str, version: int, xml: bytes) -> str:
    return f"hocba:{record_id}:{version}:{hashlib.sha256(xml).hexdigest()}"


def render_pdf(record: BookRecord, *, xml: bytes, version: int, issued_at: dt.datetime) -> bytes:
    """The unsigned PDF of ``record``: identity page, one page per school year, certification page(s),
    Noto Serif embedded, ``xml`` (the exact bytes issued: the signed XML) attached as
    ``hocba-record.xml`` and fingerprinted in the QR code."""
    if issued_at.tzinfo is None:
        raise ValueError("naive datetime: give the issue time in UTC")
    with _no_ascii85():
        pdf = _render(record, xml=xml, version=version, issued_at=issued_at)
    return _attach(pdf, xml, issued_at)


@contextmanager
def _no_ascii85():
    # reportlab wraps every stream in ASCII85 by default (a global setting): pure-Python encoding costs
    # more than the whole page drawing, and a binary stream is 20 % smaller.
    old = rl_config.useA85
    rl_config.useA85 = 0
    try:
        yield
    finally:
        rl_config.useA85 = old


def _render(record: BookRecord, *, xml: bytes, version: int, issued_at: dt.datetime) -> bytes:
    _font()  # registered before the canvas names it
    tpls = templates()
    buf = BytesIO()
    c = Canvas(buf, pagesize=A4, invariant=1, pageCompression=1, initialFontName=FONT, initialFontSize=10,
               lang="vi")
    stamp = issued_at.astimezone(dt.UTC)
    c.setDateFormatter(lambda *_: f"D:{stamp:%Y%m%d%H%M%S}+00'00'")
    c.setTitle(f"Học bạ số {record.record_id} (phiên bản {version})")  # ids only: metadata gets indexed
    c.setSubject("Bản số hoá từ học bạ giấy")
    c.setCreator("hocba")
    c.setProducer("hocba (reportlab)")
    ops = _Ops(c._doc)
    payload = qr_payload(record.record_id, version, xml)
    modules = _qr_form(c, payload)
    forms: set[str] = set()

    cert = _paginate(_certificate_lines(record, version=version, issued_at=issued_at,
                                        xml_sha=hashlib.sha256(xml).hexdigest()),
                     first_top=22 + QR_SIZE_MM + 4, top=15, bottom=280)
    pages = 1 + len(record.years) + len(cert)

    def form_page(template_id: str, values: dict, page: int) -> None:
        c.doForm(_form_xobject(c, ops, tpls[template_id], forms))
        _fill(ops, template_id,
              {k: unicodedata.normalize("NFC", f.value) for k, f in values.items() if f.value})
        _footer(ops, record, version, page, pages)
        ops.flush(c)

    form_page("identity", record.identity, 1)
    _place_qr(c, modules, 176, 6)
    c.showPage()
    for i, y in enumerate(record.years, 2):
        form_page(y.template_id, y.fields, i)
        c.showPage()

    for k, page in enumerate(cert):
        if k == 0:
            ops.text(PAGE_W / 2, _baseline(15, 14), "XÁC NHẬN BẢN SỐ HOÁ HỌC BẠ", 14, bold=True,
                     align="center")
            ops.text(40 * mm, _baseline(27, 9.5), f"Mã hồ sơ {record.record_id} · phiên bản {version}", 9.5)
            ops.text(40 * mm, _baseline(32, 7), payload, 7, grey=True)
            _place_qr(c, modules, 15, 22)
        for y_mm, line in page:
            ops.text((15 + line.indent) * mm, _baseline(y_mm - line.size * 0.65 / mm, line.size), line.text,
                     line.size, bold=line.bold, grey=line.grey)
        _footer(ops, record, version, 2 + len(record.years) + k, pages)
        ops.flush(c)
        c.showPage()
    c.save()
    return buf.getvalue()


def _attach(pdf: bytes, xml: bytes, issued_at: dt.datetime) -> bytes:
    """``pdf`` with ``xml`` embedded as hocba-record.xml (an incremental update)."""
    w = IncrementalPdfFileWriter(BytesIO(pdf))
    data = embed.EmbeddedFileObject.from_file_data(
        w, data=xml, mime_type="application/xml",
        params=embed.EmbeddedFileParams(creation_date=issued_at, modification_date=issued_at))
    embed.embed_file(w, embed.FileSpec(file_spec_string=ATTACHMENT_NAME, file_name=ATTACHMENT_NAME,
                                       embedded_data=data,
                                       description="Học bạ số: dữ liệu XML (urn:hocba:record:1)"))
    out = BytesIO()
    w.write(out)
    return out.getvalue()
