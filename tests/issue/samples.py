"""Books to issue in tests: a ``BookRecord`` built directly, and the frames the issue stage reads
(accepted_records, normalized_records, scan_manifest) shaped by their contracts.

Values follow the templates' field ids and types (data_contracts/templates) and the era table, so a
sample book looks like what validate hands over: canonical text (``8,5``, ``05/09/2019``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

import pandas as pd

from pipelines.contracts import table_contract, templates
from pipelines.domain.grading import era_for, year_average
from pipelines.frames import to_frame
from pipelines.issue.model import BookRecord, FieldValue, ScanRef, YearPage

DISTRICT, SCHOOL = "HN-BD", "HN-BD-THCS01"
BATCH = f"{DISTRICT}/{SCHOOL}/2024-001"
STUDENT = "001309012345"
REVIEWED_AT = dt.datetime(2026, 5, 20, 9, 30, tzinfo=dt.UTC)

NAMES = ("Nguyễn Thị Thuỷ", "Trần Văn Hoà", "Lê Thị Khoá", "Phạm Quốc Huy")
LEVEL = {"hoc_luc": "Khá", "hanh_kiem": "Tốt", "tt22_level": "Tốt"}
ENUM = {"gender": "Nữ", "dan_toc": "Kinh", "promotion": "Được lên lớp", "cap_hoc_title": "TRUNG HỌC CƠ SỞ"}
TEXT = {
    "nationality": "Việt Nam", "birth_place": "Bệnh viện Phụ sản Hà Nội, quận Đống Đa",
    "home_town": "xã Nghĩa Hưng, huyện Vĩnh Tường, tỉnh Vĩnh Phúc",
    "address": "số 12 ngõ 34 phố Đội Cấn, phường Ngọc Hà, quận Ba Đình, Hà Nội",
    "father_job": "Kỹ sư", "mother_job": "Giáo viên", "award": "Học sinh tiên tiến",
    "teacher_remark": "Ngoan, chăm chỉ, có ý thức tự giác trong học tập; cần mạnh dạn phát biểu hơn.",
    "stream": "Cơ bản", "advanced_subjects": "Không",
}


def _score(seed: str) -> float:
    h = int(hashlib.sha256(seed.encode()).hexdigest()[:8], 16)
    return 5.0 + (h % 50) / 10  # 5,0 … 9,9


def _fmt(x: float) -> str:
    return f"{x:.1f}".replace(".", ",")


def page_values(template_id: str, *, school_year: int | None = None, grade: int | None = None,
                seed: str = "") -> dict[str, str | None]:
    """field_id → canonical value for every field of a template."""
    tpl = templates()[template_id]
    out: dict[str, str | None] = {}
    for s in tpl.field_specs():
        key = f"{seed}/{s.field_id}"
        v: str | None
        if s.type == "score":
            if s.column == "retest":
                v = None
            elif s.column == "ca_nam":
                hk1, hk2 = (_score(f"{seed}/{s.table}.{s.row}.{c}") for c in ("hk1", "hk2"))
                v = _fmt(year_average(hk1, hk2))
            else:
                v = _fmt(_score(key))
        elif s.type == "comment":
            v = None if s.column == "retest" else "Đ"
        elif s.type == "grade_enum":
            v = LEVEL[s.vocabulary or ""]
        elif s.type == "enum":
            v = ENUM[s.vocabulary or ""]
        elif s.type == "name":
            v = NAMES[int(hashlib.sha256(key.encode()).hexdigest()[:4], 16) % len(NAMES)]
        elif s.type == "date":
            v = f"25/05/{(school_year or 2018) + 1}" if s.field_id == "sign_date" else "05/09/2009"
        elif s.type == "integer":
            v = "12" if s.field_id.startswith("history.") else "2"
        elif s.type == "identifier":
            v = STUDENT
        elif s.type == "school_year":
            n = int(s.row[1:]) - 1 if s.row else 0
            y = (school_year if school_year is not None else 2018 + n)
            v = f"{y}-{y + 1}"
        elif s.type == "class_name":
            n = int(s.row[1:]) - 1 if s.row else 0
            v = f"{grade if grade is not None else 6 + n}A1"
        else:  # free_text
            v = TEXT.get(s.field_id) or ("Trường THCS Nguyễn Trãi" if s.column == "school_name" else None)
        out[s.field_id] = v
    out["full_name"] = NAMES[0]  # the student's name on every page
    return out


def year_template(school_year: int, grade: int) -> str:
    family = era_for(school_year, grade).layout_family
    return f"year_{'thcs' if grade <= 9 else 'thpt'}_{family}"


def sample_record(book_ref: str = "HB-0001", *, first_year: int = 2018,
                  grades: tuple[int, ...] = (6, 7, 8, 9),
                  reviewed: tuple[tuple[int, str], ...] = ((0, "scores.toan.hk1"),)) -> BookRecord:
    """A book with its identity page and one year page per grade (consecutive school years).

    ``reviewed``: (year index, field id) pairs entered by a reviewer; index -1 is the identity page."""
    def fields(values: dict[str, str | None], page_index: int) -> dict[str, FieldValue]:
        rev = {f for i, f in reviewed if i == page_index}
        return {fid: FieldValue(fid, v, "review" if fid in rev else "auto", "rv7" if fid in rev else None,
                                REVIEWED_AT if fid in rev else None) for fid, v in values.items()}

    identity = fields(page_values("identity", seed=book_ref), -1)
    years = []
    for i, grade in enumerate(grades):
        sy = first_year + i
        tid = year_template(sy, grade)
        values = page_values(tid, school_year=sy, grade=grade, seed=f"{book_ref}/{sy}")
        years.append(YearPage(f"{book_ref}-p{i + 2:03d}", tid, era_for(sy, grade).rule_set, sy, grade,
                              fields(values, i)))
    scans = tuple(ScanRef(f"{book_ref}/trang-{i:02d}.tif",
                          hashlib.sha256(f"{book_ref}/{i}".encode()).hexdigest())
                  for i in range(1, len(grades) + 2))
    return BookRecord(record_id=f"{SCHOOL}-{book_ref}", batch_id=BATCH, district=DISTRICT, school=SCHOOL,
                      book_ref=book_ref, student_id=STUDENT, identity=identity, years=tuple(years),
                      scans=scans,
                      identity_page_id=f"{book_ref}-p001")


def with_value(record: BookRecord, year: int, field_id: str, value: str | None) -> BookRecord:
    """``record`` with one field of one year page (-1: the identity page) set to ``value``."""
    def put(fields: dict[str, FieldValue]) -> dict[str, FieldValue]:
        old = fields.get(field_id) or FieldValue(field_id, None, "auto", None, None)
        return {**fields, field_id: dataclasses.replace(old, value=value)}

    if year == -1:
        return dataclasses.replace(record, identity=put(record.identity))
    years = list(record.years)
    years[year] = dataclasses.replace(years[year], fields=put(years[year].fields))
    return dataclasses.replace(record, years=tuple(years))


def frames(records: list[BookRecord]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """accepted_records, normalized_records and scan_manifest holding ``records``' books."""
    tpls = templates()
    acc, norm, man = [], [], []
    for r in records:
        pages = [(r.identity_page_id, "identity", None, None, None, r.identity)]
        pages += [(y.page_id, y.template_id, y.rule_set, y.school_year, y.grade, y.fields) for y in r.years]
        for page_id, tid, rule_set, sy, grade, fields in pages:
            types = {s.field_id: s.type for s in tpls[tid].field_specs()}
            for f in fields.values():
                acc.append({"batch_id": r.batch_id, "book_ref": r.book_ref, "student_id": r.student_id,
                            "page_id": page_id, "school_year": sy, "grade": grade, "field_id": f.field_id,
                            "value": f.value, "source": f.source, "reviewed_by": f.reviewed_by,
                            "reviewed_at": f.reviewed_at})
                norm.append({"batch_id": r.batch_id, "book_ref": r.book_ref, "page_id": page_id,
                             "school_year": sy, "grade": grade, "rule_set": rule_set, "template_id": tid,
                             "field_id": f.field_id, "field_type": types[f.field_id],
                             "raw_text": f.value or "",
                             "value": f.value, "value_number": None, "value_date": None, "confidence": 0.99,
                             "parse_error": None})
        for i, s in enumerate(r.scans):
            man.append({"batch_id": r.batch_id, "district": r.district, "school": r.school,
                        "file_path": s.file_path, "file_sha256": s.file_sha256, "size_bytes": 1000 + i,
                        "format": "tiff", "book_ref": r.book_ref, "first_page_no": i + 1, "pages_found": 1,
                        "pages_declared": 1, "replaces_batch_id": r.replaces_batch_id, "status": "ok",
                        "note": None,
                        "ingested_at": dt.datetime(2026, 5, 1, tzinfo=dt.UTC)})
    # normalized_records has a date column, which to_frame does not shape: built as validate does.
    normalized = pd.DataFrame(norm, columns=table_contract("normalized_records").column_names)
    have = set(table_contract("scan_manifest").column_names)  # replaces_batch_id: in newer contracts only
    man = [{k: v for k, v in row.items() if k in have} for row in man]
    return to_frame("accepted_records", acc), normalized, to_frame("scan_manifest", man)
