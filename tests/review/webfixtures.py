"""A small review world for the console's tests: two districts, four users, flagged fields, real PNGs.

Items come in through ``store.load_items`` from a review_queue frame shaped like the validate stage's
(``data_contracts/tables/review_queue.yaml``), with real template and field ids; the crops and page
images are PNGs drawn with PIL under a temporary storage root, as the ocr stage writes them.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from pipelines import db
from pipelines.review import auth, store
from pipelines.storage import Storage

PASSWORD = "mat-khau-du-dai-1"
DISTRICT_A, SCHOOL_A = "HN-BD", "HN-BD-THCS01"
DISTRICT_B, SCHOOL_B = "HN-CG", "HN-CG-THCS02"
BATCH_A = f"{DISTRICT_A}/{SCHOOL_A}/2024-001"
BATCH_B = f"{DISTRICT_B}/{SCHOOL_B}/2024-001"
TEMPLATE = "year_thcs_tt58"
PAGE_SIZE = (620, 877)  # a small A4 page image, pixels

# (key, book_ref, page_id, field_id, field_type, raw_text, proposed, confidence, reasons, candidates, box)
ROWS_A = [
    ("toan_ca_nam", "THCS01-0001", "THCS01-0001-p02", "scores.toan.ca_nam", "score", "8.4", "8,4", 0.41,
     ["low_confidence", "rule:year_average"], ["8,3"], (330, 117, 59, 22)),
    ("ngu_van_ca_nam", "THCS01-0001", "THCS01-0001-p02", "scores.ngu_van.ca_nam", "score", "7,O", None, 0.22,
     ["format_invalid", "low_confidence", "rule:brand_new_check"], [], (330, 205, 59, 22)),
    ("toan_hk1", "THCS01-0002", "THCS01-0002-p02", "scores.toan.hk1", "score", "6,5", "6,5", 0.55,
     ["low_confidence"], [], (212, 117, 59, 22)),
    ("vat_li_hk2", "THCS01-0002", "THCS01-0002-p02", "scores.vat_li.hk2", "score", "9,1", "9,1", 0.6,
     ["low_confidence"], [], (271, 139, 59, 22)),
    ("hoc_luc", "THCS01-0002", "THCS01-0002-p02", "results.ca_nam.hoc_luc", "grade_enum", "Kha", "Khá", 0.5,
     ["low_confidence", "rule:academic_level"], ["Giỏi"], (119, 539, 100, 22)),
    ("full_name", "THCS01-0002", "THCS01-0002-p02", "full_name", "name", "Nguyen Van An", "Nguyen Van An",
     0.45, ["low_confidence", "roster_ambiguous"], ["Nguyễn Văn An"], (110, 48, 250, 24)),
]
ROWS_B = [
    ("b_toan_ca_nam", "THCS02-0001", "THCS02-0001-p02", "scores.toan.ca_nam", "score", "5,5", "5,5", 0.3,
     ["low_confidence"], [], (330, 117, 59, 22)),
    ("b_toan_hk1", "THCS02-0001", "THCS02-0001-p02", "scores.toan.hk1", "score", "4,0", "4,0", 0.3,
     ["low_confidence"], [], (212, 117, 59, 22)),
]


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    for path in ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",):
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default()


def crop_png(text: str, size: tuple[int, int] = (177, 66)) -> bytes:
    """A field crop: dark handwriting-ish text on paper."""
    img = Image.new("L", size, 246)
    d = ImageDraw.Draw(img)
    d.text((10, size[1] // 2), text, fill=25, font=_font(int(size[1] * 0.55)), anchor="lm")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


SUBJECTS = ["Toán", "Vật lí", "Hóa học", "Sinh học", "Ngữ văn", "Lịch sử", "Địa lí", "Ngoại ngữ", "GDCD",
            "Công nghệ", "Tin học", "Thể dục", "Âm nhạc", "Mĩ thuật", "ĐTB các môn"]
COLUMNS = [(44, "Môn học"), (212, "HK I"), (271, "HK II"), (330, "Cả năm"), (389, "KT lại"), (463, "GV ký")]


def page_png(fields: list[tuple[str, tuple[float, float, float, float]]]) -> bytes:
    """A year page as the ocr stage stores it: the score table filled in, the flagged fields' readings
    in their boxes (``fields``: raw text and box)."""
    img = Image.new("L", PAGE_SIZE, 250)
    d = ImageDraw.Draw(img)
    small, hand = _font(11), _font(13)
    d.text((PAGE_SIZE[0] // 2, 22), "KẾT QUẢ HỌC TẬP CÁC MÔN", fill=20, font=_font(16), anchor="mm")
    d.text((44, 60), "Họ và tên:", fill=20, font=small, anchor="lm")
    d.text((380, 60), "Lớp: 8A1    Năm học: 2023-2024", fill=20, font=small, anchor="lm")
    top, row, bottom = 95, 22, 95 + 22 * (len(SUBJECTS) + 1)
    for y in range(top, bottom + 1, row):
        d.line((44, y, 580, y), fill=110)
    for x, header in COLUMNS:
        d.line((x, top, x, bottom), fill=110)
        d.text((x + 5, top + row / 2), header, fill=20, font=small, anchor="lm")
    d.line((580, top, 580, bottom), fill=110)
    flagged = {(int(b[0]), int(b[1])) for _, b in fields}
    for i, subject in enumerate(SUBJECTS):
        y = top + row * (i + 1)
        d.text((49, y + row / 2), subject, fill=20, font=small, anchor="lm")
        for k, (x, _) in enumerate(COLUMNS[1:4]):
            if (x, y) not in flagged:  # the other cells carry plausible handwriting
                d.text((x + 14, y + row / 2), f"{5 + (i * 7 + k * 3) % 5},{(i * 3 + k) % 10}", fill=45,
                       font=hand, anchor="lm")
    d.text((44, 528), "Học lực", fill=20, font=small, anchor="lm")
    d.rectangle((44, 517, 340, 583), outline=110)
    for text, (x, y, _w, h) in fields:
        d.text((x + 8, y + h / 2), text, fill=35, font=hand, anchor="lm")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def review_queue(batch_id: str, rows: list[tuple], storage: Storage) -> pd.DataFrame:
    """The review_queue rows of one batch, their crops and page images written to ``storage``."""
    out = []
    pages: dict[str, list[tuple]] = {}
    for key, book, page, fid, ftype, raw, proposed, conf, reasons, cands, box in rows:
        crop = f"crops/{batch_id}/{page}/{fid}.png"
        storage.write_bytes(crop, crop_png(raw))
        pages.setdefault(page, []).append((raw, box))
        out.append({
            "batch_id": batch_id, "book_ref": book, "page_id": page, "template_id": TEMPLATE,
            "field_id": fid, "field_type": ftype, "raw_text": raw, "proposed_value": proposed,
            "confidence": conf, "reasons": reasons, "candidates": cands, "crop_uri": crop,
            "page_image_uri": f"pages/{batch_id}/{page}.png", "box_px": [float(v) for v in box],
            "_key": key,
        })
    for page, fields in pages.items():
        storage.write_bytes(f"pages/{batch_id}/{page}.png", page_png(fields))
    return pd.DataFrame(out)


@dataclass
class World:
    root: Path
    database_url: str
    storage_root: str
    engine: object
    items: dict[str, int] = field(default_factory=dict)
    users: dict[str, object] = field(default_factory=dict)

    @property
    def storage(self) -> Storage:
        return Storage(self.storage_root)


def build_world(root: Path, database_url: str | None = None) -> World:
    """A fresh database (SQLite under ``root`` unless a URL is given) with users and the flagged
    fields of two districts."""
    root.mkdir(parents=True, exist_ok=True)
    url = database_url or f"sqlite:///{root / 'review.db'}"
    engine = db.database(url)
    w = World(root=root, database_url=url, storage_root=str(root / "storage"), engine=engine)
    for name, role, scope in [
        ("an.bd", "reviewer", f"district:{DISTRICT_A}"),
        ("binh.cg", "reviewer", f"district:{DISTRICT_B}"),
        ("dung.bd", "data_team", f"district:{DISTRICT_A}"),
        ("quantri", "admin", "all"),
    ]:
        w.users[name] = auth.add_user(engine, name, PASSWORD, role, scope)
    for batch, rows, district, school in [(BATCH_A, ROWS_A, DISTRICT_A, SCHOOL_A),
                                          (BATCH_B, ROWS_B, DISTRICT_B, SCHOOL_B)]:
        frame = review_queue(batch, rows, w.storage)
        store.load_items(engine, frame.drop(columns="_key"), district=district, school=school)
        admin = w.users["quantri"]
        by_field = {(it.page_id, it.field_id): it.id
                    for it in store.list_items(engine, admin, batch_id=batch, status=None)}
        for key, page, fid in zip(frame["_key"], frame["page_id"], frame["field_id"], strict=True):
            w.items[key] = by_field[(page, fid)]
    return w


CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def csrf_of(html: str) -> str:
    m = CSRF_META.search(html)
    assert m, "page has no CSRF token"
    return m.group(1)


# --- the stage tables the console reads names from (pipelines/review/books.py) ----------------------
SCHOOL_A_NAME = "Trường THCS Nguyễn Du"
STUDENT_1 = ("001208012345", "Nguyễn Văn An")  # THCS01-0001: matched to the roster
STUDENT_2 = ("001308054321", "Trần Thị Bình")  # THCS01-0002: unmatched, the name as read on the page


def write_book_tables(world: World) -> None:
    """roster, roster_matches, normalized_records and page_images for batch A, as the pipeline writes
    them (cast to their contracts): a school name, one student matched to the roster and one read only,
    each book an identity page (p01, with its image) and the year page 2023-2024, grade 8 (p02)."""
    import datetime as dt

    from pipelines.table_io import write_table

    st = world.storage
    write_table(st, "roster", pd.DataFrame([{
        "row_id": "roster.csv:2", "student_id": STUDENT_1[0], "full_name": STUDENT_1[1],
        "name_key": "nguyen van an", "birth_date": dt.date(2010, 5, 4), "gender": "male", "ethnicity": "Kinh",
        "school_code": SCHOOL_A, "school_name": SCHOOL_A_NAME, "district_code": DISTRICT_A, "cap_hoc": "THCS",
        "class_name": "8A1", "first_year": 2021, "last_year": 2025, "source_encoding": "unicode",
        "identifier_issues": [],
    }]))
    write_table(st, "roster_matches", pd.DataFrame([
        {"batch_id": BATCH_A, "book_ref": "THCS01-0001", "student_id": STUDENT_1[0], "outcome": "matched",
         "score": 0.97, "differing_fields": [], "candidates": [], "identifier_issues": []},
        {"batch_id": BATCH_A, "book_ref": "THCS01-0002", "student_id": None, "outcome": "unmatched",
         "score": 0.2, "differing_fields": [], "candidates": [], "identifier_issues": []},
    ]), BATCH_A)
    records, images = [], []
    for n, (book, (sid, name)) in enumerate([("THCS01-0001", STUDENT_1), ("THCS01-0002", STUDENT_2)]):
        for no, year, grade in [(1, None, None), (2, 2023, 8)]:
            page = f"{book}-p{no:02d}"
            fields = ([("full_name", "name", name), ("identifier", "identifier", sid)] if year is None
                      else [("scores.toan.hk1", "score", "6,5")])
            for fid, ftype, value in fields:
                records.append({
                    "batch_id": BATCH_A, "book_ref": book, "page_id": page, "school_year": year,
                    "grade": grade, "rule_set": "tt58",
                    "template_id": "identity" if year is None else TEMPLATE,
                    "field_id": fid, "field_type": ftype, "raw_text": value, "value": value,
                    "value_number": None, "value_date": None, "confidence": 0.9, "parse_error": None})
            uri = f"pages/{BATCH_A}/{page}.png"
            if no == 1:  # the year pages' images are the review fixtures' own
                st.write_bytes(uri, page_png([]))
            images.append({
                "batch_id": BATCH_A, "page_id": page, "file_path": f"{book}.pdf", "file_sha256": "0" * 64,
                "page_index": no - 1, "book_ref": book, "book_page_no": no, "image_uri": uri,
                "image_sha256": "0" * 64, "source_dpi": 300.0, "dpi": 300, "width_px": PAGE_SIZE[0],
                "height_px": PAGE_SIZE[1], "exif_rotation": 0, "rotation_applied": 0,
                "orientation_confidence": 9.0 + n, "is_blank": False, "ink_ratio": 0.05})
    write_table(st, "normalized_records", pd.DataFrame(records), BATCH_A)
    write_table(st, "page_images", pd.DataFrame(images), BATCH_A)
