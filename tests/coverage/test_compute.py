"""Coverage from hand-made sources: every count traced to the rows that make it."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from pipelines.coverage.compute import Sources, compute, student_years
from pipelines.coverage.recount import district_totals, problems
from pipelines.issue.model import make_record_id

D, S1, S2 = "760", "79760401", "79760402"
B1, B2 = f"{D}/{S1}/b001", f"{D}/{S2}/b001"
DAY1 = dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC)
DAY2 = dt.datetime(2026, 11, 21, 15, tzinfo=dt.UTC)


def _roster() -> pd.DataFrame:
    rows = [  # school, name, district, cap, id, first, last
        (S1, "THCS Một", D, "THCS", "079200000001", 2015, 2019),  # A: 2015-2018, grades 6-9
        (S1, "THCS Một", D, "THCS", "079200000002", 2015, 2019),  # B
        (S1, "THCS Một", D, "THCS", "079200000003", 2010, 2015),  # C: repeated a year → grade 9 twice
        (S2, None, None, "THPT", "079200000004", 2016, 2019),     # D: district from the batches
        (S2, None, None, "THPT", None, None, None),               # E: no id, no years
    ]
    return pd.DataFrame(rows, columns=["school_code", "school_name", "district_code", "cap_hoc", "student_id",
                                       "first_year", "last_year"]).astype({"first_year": "Int32",
                                                                          "last_year": "Int32"})


def _sources(**overrides) -> Sources:
    pages = pd.DataFrame([  # batch, page, book, year, grade
        (B1, "p1", "HB-1", None, None),  # identity page of HB-1 → its first year page (2015, 6)
        (B1, "p2", "HB-1", 2015, 6),
        (B1, "p3", "HB-1", 2016, None),  # grade not read: 6 + one year = 7
        (B1, "p4", "HB-2", 2015, 6),
        (B1, "p5", "HB-9", None, None),  # no year anywhere in the book: the unknown cell
        (B2, "p1", "HB-4", 2016, 10),
    ], columns=["batch_id", "page_id", "book_ref", "school_year", "grade"])
    items = pd.DataFrame([
        (B1, "p1", "done", DAY1, DAY1), (B1, "p2", "done", DAY1, DAY2), (B1, "p2", "needs_paper", DAY1, DAY2),
        (B1, "p5", "open", DAY2, None), (B2, "p1", "claimed", DAY2, None), (B2, "p1", "done", DAY2, DAY2),
    ], columns=["batch_id", "page_id", "status", "created_at", "resolved_at"])
    rid = make_record_id(S1, "HB-1")
    src = dict(
        roster=_roster(),
        manifest=pd.DataFrame([(B1, D, S1, "HB-1"), (B1, D, S1, "HB-2"), (B1, D, S1, "HB-9"),
                               (B2, D, S2, "HB-4"), (B2, D, S2, "HB-5")],
                              columns=["batch_id", "district", "school", "book_ref"]),
        quarantine=pd.DataFrame({"batch_id": [B1, B2, B2]}),
        pages=pages,
        matches=pd.DataFrame([(B1, "HB-1", "079200000001", "matched"),
                              (B1, "HB-2", "079200000002", "matched_with_differences"),
                              (B1, "HB-9", None, "unmatched"), (B2, "HB-4", None, "ambiguous")],
                             columns=["batch_id", "book_ref", "student_id", "outcome"]),
        flagged=items[["batch_id", "page_id"]].copy(),
        accepted=pd.DataFrame([(B1, "HB-1", "079200000001"), (B2, "HB-4", "079200000004")],
                              columns=["batch_id", "book_ref", "student_id"]),
        issued=pd.DataFrame([(B1, "HB-1", "079200000001", rid)],
                            columns=["batch_id", "book_ref", "student_id", "record_id"]),
        items=items,
        ledger=pd.DataFrame([(rid, 1, "superseded", DAY1, DAY1), (rid, 2, "current", DAY2, DAY2),
                             (make_record_id(S2, "HB-4"), 1, "revoked", DAY2, DAY2)],
                            columns=["record_id", "version", "status", "issued_at", "recorded_at"]),
    )
    src.update(overrides)
    return Sources(**src)


TOTALS = {"students_expected": 5, "pages_read": 6, "fields_flagged": 6, "files_quarantined": 3,
          "reviews_open": 2, "reviews_done": 4, "records_issued": 1}


def test_student_years_follow_the_roster_and_cap_at_the_last_grade():
    r = _roster().rename(columns={"school_code": "school"}).assign(district=D)
    sy = student_years(r)
    c = sy[sy["rrow"] == 2]
    assert list(zip(c["school_year"], c["grade"], strict=True)) == [
        (2010, 6), (2011, 7), (2012, 8), (2013, 9), (2014, 9)]
    assert list(sy.loc[sy["rrow"] == 3, "grade"]) == [10, 11, 12]
    assert list(zip(*(sy.loc[sy["rrow"] == 4, k] for k in ("school_year", "grade")), strict=True)) == [(0, 0)]


def test_schools_count_books_and_add_up_to_the_sources():
    cov = compute(_sources())
    s = cov.schools.set_index("school")
    assert s.loc[S1, ["students_expected", "books_scanned", "books_matched", "books_unmatched", "pages_read",
                      "fields_flagged", "reviews_open", "reviews_done", "books_accepted", "records_issued",
                      "files_quarantined"]].tolist() == [3, 3, 2, 1, 5, 4, 1, 3, 1, 1, 1]
    # HB-4 was ambiguous at validate and matched after review (it is in accepted_records);
    # its v1 was revoked, so nothing of S2 is issued. HB-5 was scanned but never read.
    s2 = ["students_expected", "books_scanned", "books_matched", "books_unmatched", "books_accepted",
          "records_issued", "files_quarantined"]
    assert s.loc[S2, s2].tolist() == [2, 2, 1, 0, 1, 0, 2]
    assert s.loc[S1, "coverage_pct"] == pytest.approx(33.33)
    assert s.loc[S2, "district"] == D  # from the batches: the roster's district was blank
    assert s.loc[S1, "school_name"] == "THCS Một" and s.loc[S2, "school_name"] is None
    assert problems(cov, TOTALS) == []
    d = district_totals(cov.schools)
    assert d.loc[0, "records_issued"] == 1 and d.loc[0, "coverage_pct"] == pytest.approx(20.0)


def test_cells_place_students_by_roster_years_and_pages_where_they_say():
    cells = compute(_sources()).cells.set_index(["school", "cap_hoc", "school_year", "grade"])
    a = cells.loc[(S1, "THCS", 2015, 6)]  # A and B expected; A's book issued; HB-1 p1+p2 and HB-2 p4
    assert a[["students_expected", "books_scanned", "books_accepted", "records_issued", "pages_read",
              "fields_flagged", "reviews_open", "reviews_done"]].tolist() == [2, 2, 1, 1, 3, 3, 0, 3]
    assert a["coverage_pct"] == 50.0
    assert cells.loc[(S1, "THCS", 2016, 7), "pages_read"] == 1  # the grade inferred from the book
    assert cells.loc[(S1, "THCS", 2018, 9), ["students_expected", "records_issued"]].tolist() == [2, 1]
    unknown = cells.loc[(S1, "", 0, 0)]
    assert unknown[["pages_read", "reviews_open", "students_expected"]].tolist() == [1, 1, 0]
    # D: the accepted (not issued) THPT student, in each of their three years.
    for year, grade in ((2016, 10), (2017, 11), (2018, 12)):
        assert cells.loc[(S2, "THPT", year, grade), ["books_scanned", "books_accepted", "records_issued"]
                         ].tolist() == [1, 1, 0]
    assert int(cells["students_expected"].sum()) == 4 + 4 + 5 + 3 + 1


def test_backlog_runs_day_by_day():
    b = compute(_sources()).backlog.set_index(["school", "day"])
    d1, d2 = DAY1.date(), DAY2.date()
    assert b.loc[(S1, d1)].tolist()[1:] == [3, 1, 2, 1, 0]  # flagged, done, open, first issues, versions
    assert b.loc[(S1, d2)].tolist()[1:] == [1, 2, 1, 0, 1]
    assert b.loc[(S2, d2)].tolist()[1:] == [2, 1, 1, 1, 0]  # the revoked v1 was issued that day


def test_what_does_not_add_up_is_named():
    cov = compute(_sources())
    assert problems(cov, {**TOTALS, "records_issued": 2}) == [
        "records_issued: schools add up to 1, the sources hold 2"]
    cells = cov.cells.copy()
    cells.loc[0, "pages_read"] += 1
    bad = problems(type(cov)(cells, cov.schools, cov.backlog), TOTALS)
    assert len(bad) == 1 and bad[0].startswith("cells and schools disagree on 1 school")


def test_nothing_yet_gives_empty_tables():
    empty = _sources()
    empty = Sources(**{k: getattr(empty, k).iloc[0:0] for k in Sources.__dataclass_fields__})
    cov = compute(empty)
    assert cov.cells.empty and cov.schools.empty and cov.backlog.empty
