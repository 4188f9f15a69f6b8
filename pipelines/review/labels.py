"""Vietnamese words for the machine codes a reviewer would otherwise see.

The validate stage flags fields with reason codes (``low_confidence``,
``rule:year_average``, ``roster_unmatched`` …) and names fields by template
ids (``scores.toan.ca_nam``). Reviewers are school staff: the console shows
them short Vietnamese labels instead, read from ``data_contracts/labels/console.yaml``
(``pipelines.contracts.labels``). An unknown code is shown as is, so a
new rule is visible before anyone writes its label.
"""

from __future__ import annotations

from functools import cache

from pipelines.contracts import vocabularies
from pipelines.contracts.labels import console_labels
from pipelines.contracts.templates import templates


def reason_label(code: str) -> str:
    """A short Vietnamese label for a reason code; the code itself when none is known."""
    c = console_labels()
    if code in c.reasons:
        return c.reasons[code]
    if code in c.problems:
        return c.problems[code].label
    if code.startswith("rule:") and code.removeprefix("rule:") in c.rules:
        return c.rules[code.removeprefix("rule:")]
    if code.startswith("roster_"):
        outcome = code.removeprefix("roster_")
        return c.roster_outcomes.get(outcome, f"danh sách học sinh: {outcome}")
    return code


def problem_message(code: str) -> str:
    """The start of the sentence refusing a typed value for a normalizer error ``code``."""
    problem = console_labels().problems.get(code)
    return problem.message if problem else "Giá trị không hợp lệ"


def field_type_label(field_type: str) -> str:
    ft = console_labels().field_types.get(field_type)
    return ft.label if ft else field_type


def expected_vi(field_type: str, vocabulary: str | None) -> str:
    """What a value of the field looks like, in Vietnamese (for hints and error messages)."""
    ft = console_labels().field_types.get(field_type)
    if ft is not None and ft.expects is None:
        vocab = vocabularies().get(vocabulary or ("comment" if field_type == "comment" else ""))
        if vocab is not None:
            return "một trong các giá trị: " + ", ".join(vocab.values)
        return "một giá trị trong danh mục"
    return ft.expects if ft is not None and ft.expects else "một giá trị hợp lệ"


def field_type_hint(field_type: str, vocabulary: str | None) -> str:
    """What the field takes, shown under the input; "" for a type the contracts do not know."""
    return expected_vi(field_type, vocabulary) if field_type in console_labels().field_types else ""


def status_label(status: str) -> str:
    return console_labels().statuses.get(status, status)


def roles() -> dict[str, str]:
    return dict(console_labels().roles)


@cache
def field_label(template_id: str, field_id: str) -> str:
    """``scores.toan.ca_nam`` of a year page → "Toán — Cả năm"; unknown ids are returned as is."""
    words = console_labels()
    if field_id in words.fields:
        return words.fields[field_id]

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
    row_label = rows[row_no].label or f"{words.tables.get(table.id, table.id)}, dòng {row_no + 1}"
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


def cap_hoc_label(cap_hoc: str) -> str:
    return cap_hoc or "chưa đọc được"


def school_year_label(year: int) -> str:
    """2019 → "2019-2020"; 0 (not read on the page) → "chưa đọc được"."""
    return f"{year}-{year + 1}" if year else "chưa đọc được"


def grade_label(grade: int) -> str:
    return f"Lớp {grade}" if grade else "chưa đọc được"
