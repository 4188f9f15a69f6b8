"""Roster reading (encodings, errors) and book matching: every outcome."""

from __future__ import annotations

import datetime as dt

import pytest

from pipelines.validate.errors import RosterError
from pipelines.validate.roster import BookIdentity, Roster, parse_roster_csv

HEADER = ("ma_dinh_danh,ho_ten,ngay_sinh,gioi_tinh,dan_toc,ma_truong,ten_truong,ma_quan_huyen,"
          "cap_hoc,lop,nam_hoc_bat_dau,nam_hoc_ket_thuc\n")
ROWS = [
    "079308729258,Hoàng Thùy Hồng,06/10/2008,2,Kinh,S1,Trường A,760,THCS,9A2,2019,2023",
    "015200349627,Nguyễn Xuân Lâm,26/08/2000,1,Kinh,S1,Trường A,760,THCS,9A8,2011,2015",
    ",Mai Kim Mai,18/02/2003,2,Kinh,S1,Trường A,760,THCS,9A6,2014,2018",
    # Two students with the same name, birth date and gender in one school.
    "079208111111,Trần Văn Nam,01/01/2009,1,Kinh,S1,Trường A,760,THCS,9A1,2020,2024",
    "079209222222,Trần Văn Nam,01/01/2009,1,Kinh,S1,Trường A,760,THCS,9A3,2020,2024",
]


@pytest.fixture
def roster() -> Roster:
    return Roster(parse_roster_csv(("\ufeff" + HEADER + "\n".join(ROWS) + "\n").encode(), "r.csv"))


def test_rows_are_normalized(roster):
    r = roster.rows
    assert list(r["gender"]) == ["female", "male", "female", "male", "male"]
    assert r.loc[0, "birth_date"] == dt.date(2008, 10, 6) and r.loc[2, "student_id"] is None
    assert r.loc[1, "row_id"] == "r.csv:3" and (r["source_encoding"] == "unicode").all()
    assert r.loc[3, "identifier_issues"] == ["birth_year_mismatch"]  # 08 read vs born 2009


def test_exact_identifier_match(roster):
    m = roster.match(BookIdentity("B1", "S1", "079308729258", "Hoàng Thuỳ Hồng", dt.date(2008, 10, 6),
                                  "female"))
    assert (m.outcome, m.student_id, m.differing_fields) == ("matched", "079308729258", [])


def test_identifier_match_with_a_different_name_lists_it(roster):
    m = roster.match(BookIdentity("B1", "S1", "079308729258", "Hoàng Thúy Hồng", dt.date(2008, 10, 6),
                                  "female"))
    assert m.outcome == "matched_with_differences" and m.differing_fields == ["full_name"]


def test_fuzzy_match_without_identifier(roster):
    m = roster.match(BookIdentity("B2", "S1", None, "Mai Kim Mai", dt.date(2003, 2, 18), "female"))
    assert m.outcome == "matched_with_differences" and m.student_id is None  # roster has no id either
    # A book from before the identifier existed, equal on name, birth date and gender: clean.
    m = roster.match(BookIdentity("B3", "S1", None, "Nguyễn Xuân Lâm", dt.date(2000, 8, 26), "male"))
    assert (m.outcome, m.student_id, m.differing_fields) == ("matched", "015200349627", [])
    # One that carries an identifier the roster does not know: found by name, the identifier differs.
    m = roster.match(BookIdentity("B3", "S1", "015200349620", "Nguyễn Xuân Lâm", dt.date(2000, 8, 26),
                                  "male"))
    assert (m.outcome, m.student_id, m.differing_fields) == ("matched_with_differences", "015200349627",
                                                             ["identifier"])


def test_ambiguous_lists_candidates(roster):
    m = roster.match(BookIdentity("B4", "S1", None, "Trần Văn Nam", dt.date(2009, 1, 1), "male"))
    assert m.outcome == "ambiguous" and sorted(m.candidates) == ["079208111111", "079209222222"]


def test_unmatched(roster):
    m = roster.match(BookIdentity("B5", "S1", None, "Lê Thị Hoa", dt.date(2007, 5, 5), "female"))
    assert m.outcome == "unmatched" and m.student_id is None
    m = roster.match(BookIdentity("B6", "S2", None, "Mai Kim Mai", dt.date(2003, 2, 18), "female"))
    assert m.outcome == "unmatched"  # another school's book


def test_identifier_structure_issues_of_the_book(roster):
    m = roster.match(BookIdentity("B7", "S1", "079208729258", "Hoàng Thùy Hồng", dt.date(2008, 10, 6),
                                  "female"))
    assert "gender_mismatch" in m.identifier_issues and m.outcome == "matched_with_differences"


def test_legacy_encoded_names_are_converted():
    tcvn3 = "NguyÔn V¨n An".encode("cp1252")  # TCVN3 bytes as a Windows export writes them
    data = HEADER.encode() + b"079200000001," + tcvn3 + b",01/01/2000,1,Kinh,S1,A,760,THCS,9A1,2011,2015\n"
    rows = parse_roster_csv(data, "old.csv")
    assert rows.loc[0, "full_name"] == "Nguyễn Văn An" and rows.loc[0, "source_encoding"] == "tcvn3"


def test_errors_name_the_file_and_line():
    with pytest.raises(RosterError, match="missing column"):
        parse_roster_csv(b"name,dob\nA,1\n", "bad.csv")
    with pytest.raises(RosterError, match=r"bad\.csv line 2"):
        parse_roster_csv((HEADER + ",,01/01/2000,1,Kinh,S1,A,760,THCS,9A1,2011,2015\n").encode(), "bad.csv")
