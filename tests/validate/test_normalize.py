"""Normalizers: canonical values, repairs of OCR confusions, machine-readable errors."""

from __future__ import annotations

import datetime as dt
import unicodedata

import pytest

from pipelines.contracts import field_types
from pipelines.validate import normalize as nz
from pipelines.validate.normalize import Normalized, normalize_field, normalize_value_for_compare

TODAY = dt.date(2024, 6, 1)


def norm(field_type: str, raw: str | None, vocabulary: str | None = None) -> Normalized:
    return normalize_field(field_type, raw, vocabulary, today=TODAY)


def test_every_contract_field_type_has_a_normalizer():
    assert set(field_types()) == nz.FIELD_TYPES


@pytest.mark.parametrize("field_type", sorted(nz.FIELD_TYPES))
@pytest.mark.parametrize("raw", ["", "   ", "\t\n", None])
def test_empty_readings(field_type, raw):
    n = norm(field_type, raw, "hoc_luc")
    assert n == Normalized(None, error="empty")


def test_nan_reading_is_empty():
    assert norm("score", float("nan")).error == "empty"  # type: ignore[arg-type]


def test_unknown_field_type_and_missing_vocabulary_are_programming_errors():
    with pytest.raises(ValueError, match="unknown field type"):
        norm("colour", "red")
    with pytest.raises(ValueError, match="need a vocabulary"):
        norm("enum", "Khá")
    with pytest.raises(ValueError, match="unknown vocabulary"):
        norm("enum", "Khá", "no_such_list")


# --- name -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("nguyễn văn AN", "Nguyễn Văn An"),
        (unicodedata.normalize("NFD", "Trần  Thị Hoà"), "Trần Thị Hoà"),  # tone style kept as written
        ("ÐỖ ÐỨC ANH", "Đỗ Đức Anh"),  # Tesseract's eth
        ("H'Mông A", "H'mông A"),
        ("Lê Thị-Hoa", "Lê Thị-Hoa"),
    ],
)
def test_name_valid(raw, value):
    assert norm("name", raw) == Normalized(value)


@pytest.mark.parametrize("raw", ["Nguyễn Văn A1", "Trần_Hoa", "Lê Văn. An", "An--Bình", "Hoa-Mai-Lan", "-An"])
def test_name_format_invalid(raw):
    n = norm("name", raw)
    assert (n.value, n.error) == (None, "format_invalid")
    assert raw in n.note


def test_free_text_is_only_nfc():
    n = norm("free_text", unicodedata.normalize("NFD", " Chăm  ngoan, học tốt!  12 "))
    assert n == Normalized("Chăm ngoan, học tốt! 12")


# --- score ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "value", "number"),
    [
        ("8,5", "8,5", 8.5),
        ("8.5", "8,5", 8.5),  # a dot is an accepted separator, not a repair
        ("8", "8,0", 8.0),
        ("10", "10,0", 10.0),  # ten, never 1,0
        ("10,0", "10,0", 10.0),
        ("0", "0,0", 0.0),
        ("6 , 5", "6,5", 6.5),
        ("7,50", "7,5", 7.5),
    ],
)
def test_score_valid(raw, value, number):
    assert norm("score", raw) == Normalized(value, number=number)


@pytest.mark.parametrize(
    ("raw", "value", "number"),
    [
        ("85", "8,5", 8.5),  # comma lost
        ("11", "1,1", 1.1),  # eleven is out of range: the comma was lost
        ("100", "10,0", 10.0),
        ("O,5", "0,5", 0.5),
        ("o", "0,0", 0.0),
        ("l0", "10,0", 10.0),
        ("I,5", "1,5", 1.5),
        ("|,5", "1,5", 1.5),
        ("S,5", "5,5", 5.5),
        ("B,S", "8,5", 8.5),
    ],
)
def test_score_repaired(raw, value, number):
    n = norm("score", raw)
    assert (n.value, n.number, n.repaired, n.error) == (value, number, True, None)
    assert n.note == f"read {raw!r}, taken as {value}"


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("10,5", "out_of_range"),
        ("85,0", "out_of_range"),
        ("105", "out_of_range"),
        ("8,25", "format_invalid"),
        ("850", "format_invalid"),
        ("8,", "format_invalid"),
        ("-1", "format_invalid"),
        ("Khá", "format_invalid"),
    ],
)
def test_score_errors(raw, error):
    n = norm("score", raw)
    assert (n.value, n.number, n.error) == (None, None, error)


# --- integer, identifier ----------------------------------------------------------------------------
def test_integer():
    assert norm("integer", "12") == Normalized("12", number=12.0)
    assert norm("integer", "007") == Normalized("7", number=7.0)
    n = norm("integer", "lO")
    assert (n.value, n.number, n.repaired) == ("10", 10.0, True)
    for raw in ("1,5", "abc", "1 2", "²"):
        assert norm("integer", raw).error == "format_invalid"


def test_identifier():
    assert norm("identifier", "001203004567") == Normalized("001203004567")
    assert norm("identifier", "001 203.004 567") == Normalized("001203004567")  # spacing, not a repair
    n = norm("identifier", "OO12O3OO4567")
    assert (n.value, n.repaired) == ("001203004567", True)
    assert norm("identifier", "l01203004567").value == "101203004567"
    for raw in ("00120300456", "0012030045678", "00120300456X"):
        assert norm("identifier", raw) == Normalized(
            None, error="format_invalid", note=f"{raw!r} is not 12 digits"
        )


# --- date -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw", ["05/09/2021", "5/9/2021", "05.09.2021", "05-09-2021", "5 / 9 / 2021", "05/09.2021"]
)
def test_date_valid(raw):
    assert norm("date", raw) == Normalized("05/09/2021", date=dt.date(2021, 9, 5))


@pytest.mark.parametrize(
    ("raw", "value"), [("05092021", "05/09/2021"), ("O5/O9/2O21", "05/09/2021"), ("l2/l1/2010", "12/11/2010")]
)
def test_date_repaired(raw, value):
    n = norm("date", raw)
    assert (n.value, n.repaired, n.error) == (value, True, None)
    assert n.date == dt.datetime.strptime(value, "%d/%m/%Y").date()


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("31/02/2010", "out_of_range"),  # no such day
        ("05/13/2010", "out_of_range"),
        ("31/12/1949", "out_of_range"),
        ("02/06/2024", "out_of_range"),  # after TODAY
        ("05/09/21", "format_invalid"),
        ("5092021", "format_invalid"),  # 7 digits: where did the separators go?
        ("2021-09-05", "format_invalid"),
        ("ngày 5", "format_invalid"),
    ],
)
def test_date_errors(raw, error):
    n = norm("date", raw)
    assert (n.value, n.date, n.error) == (None, None, error)


def test_date_bounds_are_inclusive_and_today_defaults():
    assert norm("date", "01/01/1950").date == dt.date(1950, 1, 1)
    assert norm("date", "01/06/2024").date == TODAY
    today = dt.date.today()
    assert normalize_field("date", f"{today:%d/%m/%Y}").date == today


# --- school year ------------------------------------------------------------------------------------
@pytest.mark.parametrize("raw", ["2013-2014", "2013 - 2014", "2013/2014", "2013–2014", "2013 2014"])
def test_school_year_valid(raw):
    assert norm("school_year", raw) == Normalized("2013-2014", number=2013.0)


def test_school_year_repaired():
    for raw in ("20132014", "2O13-2Ol4"):
        n = norm("school_year", raw)
        assert (n.value, n.number, n.repaired) == ("2013-2014", 2013.0, True)


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("2013-2044", "ambiguous"),  # 2013 plausible, 2044 not: which side was misread?
        ("1013-2014", "ambiguous"),
        ("2013-2015", "format_invalid"),  # both plausible, not consecutive
        ("2014-2013", "format_invalid"),
        ("2090-2091", "out_of_range"),
        ("1940-1941", "out_of_range"),
        ("13-14", "format_invalid"),
    ],
)
def test_school_year_errors(raw, error):
    n = norm("school_year", raw)
    assert (n.value, n.number, n.error) == (None, None, error)


def test_school_year_under_way():
    assert norm("school_year", "2024-2025").value == "2024-2025"  # started in TODAY's year
    assert norm("school_year", "2025-2026").error == "out_of_range"


# --- class name -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "value", "grade"),
    [
        ("6A1", "6A1", 6),
        ("10a2", "10A2", 10),
        ("12D", "12D", 12),
        ("9 A 3", "9A3", 9),
        ("11A1/2", "11A1/2", 11),
    ],
)
def test_class_name_valid(raw, value, grade):
    assert norm("class_name", raw) == Normalized(value, number=float(grade))


def test_class_name_repaired():
    for raw, value in (("l0A2", "10A2"), ("6AI", "6A1"), ("8BO", "8B0")):
        n = norm("class_name", raw)
        assert (n.value, n.repaired) == (value, True)


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("5A", "out_of_range"),
        ("13B", "out_of_range"),
        ("A6", "format_invalid"),
        ("6", "format_invalid"),
        ("6AB", "format_invalid"),
    ],
)
def test_class_name_errors(raw, error):
    assert norm("class_name", raw).error == error


# --- vocabularies -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field_type", "vocabulary", "raw", "value"),
    [
        ("grade_enum", "hoc_luc", "Giỏi", "Giỏi"),
        ("grade_enum", "hoc_luc", "TB", "Trung bình"),
        ("grade_enum", "hoc_luc", "tb", "Trung bình"),  # variants are case-insensitive
        ("grade_enum", "hoc_luc", "KHÁ", "Khá"),
        ("grade_enum", "hanh_kiem", "T", "Tốt"),
        ("grade_enum", "tt22_level", "Chưa đạt", "Chưa đạt"),
        ("grade_enum", "tt22_level", unicodedata.normalize("NFD", "chưa  đạt"), "Chưa đạt"),
        ("enum", "gender", "NỮ", "Nữ"),
        ("enum", "dan_toc", "Khơ Me", "Khmer"),
        ("comment", None, "Đ", "Đ"),  # comment defaults to its vocabulary
        ("comment", None, "Ð", "Đ"),  # Tesseract's eth is Đ
        ("comment", None, "CÐ", "CĐ"),
        ("comment", None, "Chưa đạt", "CĐ"),
        ("comment", None, "cd", "CĐ"),
    ],
)
def test_vocabulary_exact(field_type, vocabulary, raw, value):
    assert norm(field_type, raw, vocabulary) == Normalized(value)


@pytest.mark.parametrize(
    ("vocabulary", "raw", "value"),
    [
        ("hanh_kiem", "Tất", "Tốt"),  # stacked-mark confusion; the only close value, flagged as repaired
        ("hoc_luc", "Khả", "Khá"),
        ("hoc_luc", "Giỏì", "Giỏi"),
        ("hoc_luc", "Trung bính", "Trung bình"),
        ("hoc_luc", "Tb.", "Trung bình"),
        ("hanh_kiem", "Yêu", "Yếu"),
        ("tt22_level", "Chưa đat", "Chưa đạt"),
        ("promotion", "Được lên lp", "Được lên lớp"),
        ("comment", "đat", "Đ"),
    ],
)
def test_vocabulary_fuzzy(vocabulary, raw, value):
    n = norm("grade_enum", raw, vocabulary)
    assert (n.value, n.error, n.repaired) == (value, None, True)
    assert raw in n.note and value in n.note


@pytest.mark.parametrize(
    ("vocabulary", "raw"),
    [
        ("hoc_luc", "xyz"),
        ("hoc_luc", "8"),
        ("gender", "N"),  # as close to Nam as to Nu: no guess
        ("hoc_luc", "Tốt"),  # a word of another vocabulary
        ("dan_toc", "Ê Đê"),
    ],
)
def test_vocabulary_rejects(vocabulary, raw):
    n = norm("enum", raw, vocabulary)
    assert (n.value, n.error, n.repaired) == (None, "not_in_vocabulary", False)


def test_fuzzy_thresholds_are_sane():
    assert 50 < nz.FUZZY_MIN_SCORE < 100
    assert 0 < nz.FUZZY_MIN_MARGIN < nz.FUZZY_MIN_SCORE


# --- comparison with ground truth ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field_type", "a", "b"),
    [
        ("score", "8.5", "8,5"),
        ("score", "85", "8,5"),
        ("date", "5/9/2021", "05/09/2021"),
        ("name", "NGUYỄN THỊ HOÀ", "Nguyễn Thị Hòa"),
        ("free_text", "Ngoan,  hoà đồng", "Ngoan, hòa đồng"),
        ("comment", "Ð", "Đ"),
        ("school_year", "2013 / 2014", "2013-2014"),
    ],
)
def test_compare_equal(field_type, a, b):
    assert normalize_value_for_compare(field_type, a) == normalize_value_for_compare(field_type, b)


def test_compare_falls_back_to_nfc():
    nfd = unicodedata.normalize("NFD", " Tiến  bộ ")
    assert normalize_value_for_compare("score", nfd) == "Tiến bộ"
    assert normalize_value_for_compare("enum", "Khá ") == "Khá"  # no vocabulary given: text as is
    assert normalize_value_for_compare("grade_enum", "Kha", "hoc_luc") == "Khá"
    assert normalize_value_for_compare("date", None) == ""
    assert normalize_value_for_compare("score", "9,5") != normalize_value_for_compare("score", "9,0")
