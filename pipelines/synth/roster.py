"""roster.csv: the district's students as the sector database exports them.

One row per student per book (cấp học), gender as sector codes (1 nam, 2 nữ),
dates dd/mm/yyyy, UTF-8 with a BOM (what spreadsheet exports produce).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

from pipelines.contracts import provinces
from pipelines.synth.truth import BookTruth, District, Student, fmt_date

ROSTER_COLUMNS = (
    "ma_dinh_danh", "ho_ten", "ngay_sinh", "gioi_tinh", "dan_toc", "ma_truong", "ten_truong",
    "ma_quan_huyen", "cap_hoc", "lop", "nam_hoc_bat_dau", "nam_hoc_ket_thuc",
)


def sector_gender_code(gender: str) -> str:
    for code, name in provinces().sector_gender_codes.items():
        if name == gender:
            return code
    raise ValueError(f"no sector gender code for {gender!r}")


def roster_row(student: Student, book: BookTruth, district: District) -> dict[str, str]:
    school = next(s for s in district.schools if s.code == book.school)
    return {
        "ma_dinh_danh": student.identifier,
        "ho_ten": student.full_name,
        "ngay_sinh": fmt_date(student.birth_date),
        "gioi_tinh": sector_gender_code(student.gender),
        "dan_toc": student.ethnicity,
        "ma_truong": school.code,
        "ten_truong": school.name,
        "ma_quan_huyen": district.code,
        "cap_hoc": book.cap_hoc,
        "lop": book.last_class,
        "nam_hoc_bat_dau": str(book.first_year),
        "nam_hoc_ket_thuc": str(book.years[-1].school_year + 1),
    }


def write_roster(path: Path, rows: Iterable[dict[str, str]],
                 columns: Sequence[str] = ROSTER_COLUMNS) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(columns), lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow(r)
    return path
