"""The printable PDF: fonts embedded, the XML attached byte for byte, a QR code that reads back,
Vietnamese text as printed, one page per school year plus the certification.

Checked with poppler's own tools (pdffonts, pdfdetach, pdftotext, pdftoppm) and OpenCV's QR decoder.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import cv2
import pytest

from pipelines.issue.model import FieldValue, ScanRef
from pipelines.issue.pdf import ATTACHMENT_NAME, qr_payload, render_pdf
from pipelines.issue.record import record_xml
from tests.issue.samples import sample_record

AT = dt.datetime(2026, 5, 21, 3, 4, 5, tzinfo=dt.UTC)
pytestmark = pytest.mark.skipif(not shutil.which("pdffonts"),
                                reason="poppler-utils (pdffonts …) not installed")


def _run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> dict:
    rec = sample_record(reviewed=((0, "scores.toan.hk1"), (-1, "full_name")))
    xml = record_xml(rec, version=2, supersedes=f"{rec.record_id}:v1", issued_at=AT)
    pdf = render_pdf(rec, xml=xml, version=2, issued_at=AT)
    path = tmp_path_factory.mktemp("pdf") / "book.pdf"
    path.write_bytes(pdf)
    return {"record": rec, "xml": xml, "pdf": pdf, "path": path}


def test_every_font_is_embedded(book):
    rows = _run("pdffonts", str(book["path"])).splitlines()[2:]
    assert rows, "no font at all"
    for row in rows:
        cols = row.split()
        emb = cols[-5]  # name type encoding emb sub uni object ID: emb is 5th from the end
        assert emb == "yes", row
    assert all("NotoSerif" in r for r in rows)


def test_the_xml_is_attached_byte_for_byte(book, tmp_path):
    listing = _run("pdfdetach", "-list", str(book["path"]))
    assert f"1: {ATTACHMENT_NAME}" in listing and listing.startswith("1 embedded files")
    out = tmp_path / "out.xml"
    _run("pdfdetach", "-save", "1", "-o", str(out), str(book["path"]))
    assert out.read_bytes() == book["xml"]


def test_pages_and_vietnamese_text(book, tmp_path):
    rec = book["record"]
    info = _run("pdfinfo", str(book["path"]))
    assert re.search(r"Pages:\s+6", info)  # identity + 4 school years + certification
    assert f"Học bạ số {rec.record_id} (phiên bản 2)" in info  # title: ids only, no name
    assert "Nguyễn" not in info
    text = _run("pdftotext", "-layout", str(book["path"]), "-")
    pages = text.split("\f")
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in pages[0] and "TRUNG HỌC CƠ SỞ" in pages[0]
    assert "Nguyễn Thị Thuỷ" in pages[0] and "Bệnh viện Phụ sản Hà Nội" in pages[0]
    year = pages[1]
    assert "KẾT QUẢ HỌC TẬP CÁC MÔN" in year and "2018-2019" in year
    toan = rec.years[0].fields
    assert re.search(rf"Toán\s+{toan['scores.toan.hk1'].value}\s+{toan['scores.toan.hk2'].value}\s+"
                     rf"{toan['scores.toan.ca_nam'].value}", year)
    assert "Ngoan, chăm chỉ" in year and "Được lên lớp" in year
    cert = pages[5]
    assert "XÁC NHẬN BẢN SỐ HOÁ HỌC BẠ" in cert and "Bản số hoá từ học bạ giấy" in cert
    for scan in rec.scans:
        assert scan.file_sha256 in cert and scan.file_path in cert
    assert hashlib.sha256(book["xml"]).hexdigest() in cert
    assert "Thông tư 26/2020/TT-BGDĐT" in cert  # the era of the later years
    assert "trường scores.toan.hk1: người duyệt rv7" in cert
    for i, page in enumerate(pages[:6], 1):
        assert f"Trang {i}/6" in page and "Bản số hoá từ học bạ giấy" in page


def _decode_qr(pdf: Path, page: int, tmp_path: Path) -> str:
    """The QR code's text as OpenCV reads it from the page rendered at 200 dpi, else 300 or 150: OpenCV's
    detector misses some symbols at one resolution and reads them at another (seen with payloads that
    differ only in their hash); what it reads must still be exactly the payload."""
    for dpi in (200, 300, 150):
        prefix = tmp_path / f"p{page}-{dpi}"
        _run("pdftoppm", "-png", "-r", str(dpi), "-f", str(page), "-l", str(page), str(pdf), str(prefix))
        img = cv2.imread(str(next(tmp_path.glob(f"p{page}-{dpi}*.png"))), cv2.IMREAD_GRAYSCALE)
        text, _, _ = cv2.QRCodeDetector().detectAndDecode(img)
        if text:
            return text
    return ""


def test_the_qr_code_reads_back_the_record_version_and_xml_hash(book, tmp_path):
    rec, xml = book["record"], book["xml"]
    expected = f"hocba:{rec.record_id}:2:{hashlib.sha256(xml).hexdigest()}"
    assert qr_payload(rec.record_id, 2, xml) == expected
    assert _decode_qr(book["path"], 1, tmp_path) == expected  # identity page
    assert _decode_qr(book["path"], 6, tmp_path) == expected  # certification page


def test_the_print_depends_on_the_record_only(book, tmp_path):
    """A second render (form templates now cached, fonts seeded) prints exactly the same pages."""
    rec, xml = book["record"], book["xml"]
    again = tmp_path / "again.pdf"
    again.write_bytes(render_pdf(rec, xml=xml, version=2, issued_at=AT))
    first = _run("pdftotext", "-layout", str(book["path"]), "-")
    assert _run("pdftotext", "-layout", str(again), "-") == first
    changed = dataclasses.replace(rec, years=(dataclasses.replace(rec.years[0], fields={
        **rec.years[0].fields, "scores.toan.hk1": FieldValue("scores.toan.hk1", "1,5", "auto", None, None)}),
        *rec.years[1:]))
    again.write_bytes(render_pdf(changed, xml=xml, version=2, issued_at=AT))
    assert re.search(r"Toán\s+1,5\s", _run("pdftotext", "-layout", str(again), "-").split("\f")[1])


def test_many_scans_continue_the_certification_on_another_page(tmp_path):
    rec = sample_record(grades=(6,))
    scans = tuple(ScanRef(f"HB-0001/trang-{i:03d}.tif", hashlib.sha256(bytes([i])).hexdigest())
                  for i in range(60))
    rec = dataclasses.replace(rec, scans=scans)
    xml = record_xml(rec, version=1, supersedes=None, issued_at=AT)
    path = tmp_path / "long.pdf"
    path.write_bytes(render_pdf(rec, xml=xml, version=1, issued_at=AT))
    pages = _run("pdftotext", "-layout", str(path), "-").split("\f")[:-1]
    assert len(pages) >= 4 and all(f"/{len(pages)}" in p for p in pages)
    text = "".join(pages)
    assert all(s.file_sha256 in text for s in scans)


def test_letters_outside_the_preset_alphabet_still_print(tmp_path):
    rec = sample_record(grades=(6,))
    name = "Ŭ Ǹguyễn Ƒ"  # rare Latin letters: encoded per document, not from the cached alphabet
    rec = dataclasses.replace(rec, identity={**rec.identity,
                                             "full_name": FieldValue("full_name", name, "auto", None, None)})
    xml = record_xml(rec, version=1, supersedes=None, issued_at=AT)
    path = tmp_path / "rare.pdf"
    path.write_bytes(render_pdf(rec, xml=xml, version=1, issued_at=AT))
    assert name in _run("pdftotext", str(path), "-")
    assert "Trường THCS Nguyễn Trãi" in _run("pdftotext", str(path), "-")
