"""Vietnamese words for the machine codes a reviewer would otherwise see.

The validate stage flags fields with reason codes (``low_confidence``,
``rule:year_average``, ``roster_unmatched`` …) and names fields by template
ids (``scores.toan.ca_nam``). Reviewers are school staff: the console shows
them short Vietnamese labels instead. An unknown code is shown as is, so a
new rule is visible before anyone writes its label.
"""

from __future__ import annotations

from functools import cache

# Codes set by pipelines/validate/decide.py: page status, normalizer errors, checks.
REASONS: dict[str, str] = {
    "low_confidence": "độ tin cậy thấp",
    "repaired": "giá trị đã được tự sửa khi chuẩn hoá",
    "page_unreliable": "trang đọc không đáng tin",
    "unknown_layout": "không nhận ra mẫu trang",
    "alignment_failed": "không căn được trang theo mẫu",
    "empty": "ô trống",
    "format_invalid": "sai định dạng",
    "out_of_range": "ngoài khoảng cho phép",
    "ambiguous": "đọc không rõ, có thể nhầm",
    "not_in_vocabulary": "không có trong danh mục",
    # Book-level cross-checks (pipelines/validate/rules.py), one per rule id.
    "rule:year_average": "Cả năm ≠ (HK I + 2·HK II)/3",
    "rule:overall_average": "ĐTB các môn ≠ trung bình điểm các môn",
    "rule:academic_level": "Học lực không khớp điểm theo quy chế",
    "rule:conduct_year": "Hạnh kiểm cả năm không khớp HK I, HK II",
    "rule:promotion": "Lên lớp/Ở lại không khớp kết quả cả năm",
    "rule:school_years_consecutive": "các năm học không liên tiếp",
    "rule:grades_increasing": "lớp không tăng dần theo năm học",
    "rule:age_for_grade": "tuổi không hợp với lớp",
    "rule:identity_consistent": "họ tên khác nhau giữa các trang",
    "rule:identifier_structure": "mã định danh không khớp tỉnh, giới tính hoặc năm sinh",
    "rule:year_page_matches_history": "trang năm học không khớp bảng quá trình học tập",
    # Roster matching outcomes (pipelines/validate/roster.py) for identity fields.
    "roster_unmatched": "không tìm thấy học sinh trong danh sách",
    "roster_ambiguous": "khớp nhiều học sinh trong danh sách",
    "roster_matched_with_differences": "khớp danh sách học sinh nhưng có chỗ khác",
}

FIELD_TYPES: dict[str, str] = {
    "name": "Họ tên",
    "date": "Ngày tháng",
    "score": "Điểm",
    "grade_enum": "Xếp loại",
    "enum": "Danh mục",
    "comment": "Nhận xét (Đ/CĐ)",
    "integer": "Số",
    "identifier": "Mã định danh",
    "free_text": "Văn bản",
    "school_year": "Năm học",
    "class_name": "Lớp",
}

# What each field type expects, shown under the input.
FIELD_TYPE_HINTS: dict[str, str] = {
    "name": "Họ và tên đầy đủ, có dấu",
    "date": "ngày/tháng/năm, ví dụ 05/09/2008",
    "score": "0 đến 10, một chữ số thập phân, dấu phẩy: 8,5",
    "comment": "Đ hoặc CĐ",
    "integer": "số nguyên",
    "identifier": "12 chữ số",
    "school_year": "năm-năm, ví dụ 2019-2020",
    "class_name": "ví dụ 6A1 hoặc 10A2",
}

# Scalar fields of the templates; table cells are named from the table's row and column.
SCALAR_FIELDS: dict[str, str] = {
    "cap_hoc_title": "Cấp học",
    "identifier": "Mã định danh",
    "full_name": "Họ và tên",
    "gender": "Giới tính",
    "birth_date": "Ngày sinh",
    "ethnicity": "Dân tộc",
    "nationality": "Quốc tịch",
    "birth_place": "Nơi sinh",
    "home_town": "Quê quán",
    "address": "Nơi ở hiện nay",
    "father_name": "Họ tên cha",
    "father_job": "Nghề nghiệp của cha",
    "mother_name": "Họ tên mẹ",
    "mother_job": "Nghề nghiệp của mẹ",
    "guardian_name": "Người giám hộ",
    "sign_date": "Ngày ký",
    "principal_name": "Họ tên hiệu trưởng",
    "class_name": "Lớp",
    "school_year": "Năm học",
    "stream": "Ban",
    "advanced_subjects": "Môn nâng cao",
    "absences": "Số buổi nghỉ",
    "promotion": "Lên lớp/Ở lại",
    "award": "Danh hiệu",
    "teacher_remark": "Nhận xét của giáo viên chủ nhiệm",
    "corrections": "Số chỗ sửa chữa",
    "homeroom_teacher_name": "Họ tên giáo viên chủ nhiệm",
}

TABLES: dict[str, str] = {"history": "Quá trình học tập", "scores": "Điểm", "results": "Kết quả"}

ROLES: dict[str, str] = {"admin": "quản trị", "data_team": "nhóm dữ liệu", "reviewer": "người duyệt"}

STATUSES: dict[str, str] = {
    "open": "chờ duyệt",
    "claimed": "đang được duyệt",
    "done": "đã duyệt",
    "needs_paper": "cần xem sổ giấy",
}


def reason_label(code: str) -> str:
    """A short Vietnamese label for a reason code; the code itself when none is known."""
    if code in REASONS:
        return REASONS[code]
    if code.startswith("roster_"):
        return f"danh sách học sinh: {code.removeprefix('roster_')}"
    return code


def field_type_label(field_type: str) -> str:
    return FIELD_TYPES.get(field_type, field_type)


@cache
def field_label(template_id: str, field_id: str) -> str:
    """``scores.toan.ca_nam`` of a year page → "Toán — Cả năm"; unknown ids are returned as is."""
    if field_id in SCALAR_FIELDS:
        return SCALAR_FIELDS[field_id]
    from pipelines.contracts.templates import templates

    tpl = templates().get(template_id)
    if tpl is None:
        return field_id
    try:
        spec = tpl.field(field_id)
    except KeyError:
        return field_id
    if spec.table is None:
        return field_id
    table = next(t for t in tpl.tables if t.id == spec.table)
    rows = tpl.table_rows(table)
    row_no = next((i for i, r in enumerate(rows) if r.key == spec.row), 0)
    row_label = rows[row_no].label or f"{TABLES.get(table.id, table.id)}, dòng {row_no + 1}"
    header = next((c.header for c in table.columns if c.key == spec.column), spec.column or "")
    return f"{row_label} — {header}"


# --- the digitization progress page (/coverage) ---------------------------------------------------
SCOPE_KINDS: dict[str, str] = {"district": "quận/huyện", "school": "trường"}

# Series of the charts, handed to coverage.js with the data.
COVERAGE_SERIES: dict[str, str] = {
    "students_expected": "Học bạ cần có",
    "records_issued": "Học bạ đã cấp",
    "coverage_pct": "Tỷ lệ đã cấp",
    "fields_flagged": "Trường dữ liệu bị gắn cờ",
    "reviews_open": "Còn chờ duyệt (cuối ngày)",
    "reviews_done": "Đã duyệt xong",
    "records_issued_day": "Học bạ cấp lần đầu",
}

COVERAGE_EMPTY = "Chưa có số liệu: chạy asset coverage trong Dagster hoặc make demo"
COVERAGE_FORBIDDEN = "Chỉ nhóm dữ liệu và quản trị viên xem được tiến độ số hóa."


def cap_hoc_label(cap_hoc: str) -> str:
    return cap_hoc or "chưa đọc được"


def school_year_label(year: int) -> str:
    """2019 → "2019-2020"; 0 (not read on the page) → "chưa đọc được"."""
    return f"{year}-{year + 1}" if year else "chưa đọc được"


def grade_label(grade: int) -> str:
    return f"Lớp {grade}" if grade else "chưa đọc được"
