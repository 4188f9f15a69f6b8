"""Coverage figures from the stage tables, the review database and the ledger (plain pandas).

Two units, because the questions are two (docs/architecture.md, "Coverage"):

* books, per school (``coverage_schools``): the roster lists one row per student and cấp học, and
  each is one paper book and one record; the headline "issued / expected" is counted in these.
* student-years, per school year and grade (``coverage``): "how much of 2009's grade 7 is done"
  counts each roster student in every year of their cấp học. Pages, flagged fields and review
  items are physical and land in the cell their page says it belongs to, so they add up exactly.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from pipelines.coverage_tables import CELL_KEY
from pipelines.domain.grading import GRADES
from pipelines.issue.ledger import CURRENT, versions
from pipelines.issue.model import make_record_id
from pipelines.review.queries import item_progress
from pipelines.storage import Storage
from pipelines.table_io import read_table, stored_partitions

SCHOOL_KEY = ["district", "school"]
MATCHED = ("matched", "matched_with_differences")
OPEN = ("open", "claimed")
RESOLVED = ("done", "needs_paper")
UNKNOWN_YEAR = 0
"""school_year and grade of a page (or roster row) whose year is not known."""


@dataclass(frozen=True)
class Sources:
    """What coverage reads, narrowed to the columns it needs (one row per page, book, item …)."""

    roster: pd.DataFrame
    """roster: school_code, school_name, district_code, cap_hoc, student_id, first_year, last_year"""
    manifest: pd.DataFrame
    """scan_manifest, one row per book and batch: batch_id, district, school, book_ref"""
    quarantine: pd.DataFrame
    """file_quarantine: batch_id"""
    pages: pd.DataFrame
    """page_layouts with their year: batch_id, page_id, book_ref, school_year, grade"""
    matches: pd.DataFrame
    """roster_matches: batch_id, book_ref, student_id, outcome"""
    flagged: pd.DataFrame
    """review_queue: batch_id, page_id"""
    accepted: pd.DataFrame
    """accepted_records, one row per book: batch_id, book_ref, student_id"""
    issued: pd.DataFrame
    """issued_records: batch_id, book_ref, student_id, record_id"""
    items: pd.DataFrame
    """review items: batch_id, page_id, status, created_at, resolved_at (review.queries.item_progress)"""
    ledger: pd.DataFrame
    """one row per issued version: record_id, version, status, issued_at, recorded_at (ledger.versions)"""


def _per_partition(storage: Storage, table: str, columns: list[str]) -> pd.DataFrame:
    """A per-field table read one batch at a time and made distinct, so memory follows the output."""
    parts = [read_table(storage, table, [k], columns).drop_duplicates()
             for k in stored_partitions(storage, table)]
    return (pd.concat(parts, ignore_index=True) if parts
            else read_table(storage, table, [], columns))


def load_sources(storage: Storage, engine) -> Sources:
    years = _per_partition(storage, "normalized_records", ["batch_id", "page_id", "school_year", "grade"])
    # A year page's fields all carry its year; keep the first read one per page.
    years = years.dropna(subset=["school_year"]).drop_duplicates(["batch_id", "page_id"])
    layouts = read_table(storage, "page_layouts", None, ["batch_id", "page_id", "book_ref"])
    return Sources(
        roster=read_table(storage, "roster", [None], ["school_code", "school_name", "district_code",
                                                       "cap_hoc", "student_id", "first_year", "last_year"]),
        manifest=read_table(storage, "scan_manifest", None,
                            ["batch_id", "district", "school", "book_ref"]).drop_duplicates(),
        quarantine=read_table(storage, "file_quarantine", None, ["batch_id"]),
        pages=layouts.merge(years, on=["batch_id", "page_id"], how="left"),
        matches=read_table(storage, "roster_matches", None,
                           ["batch_id", "book_ref", "student_id", "outcome"]),
        flagged=read_table(storage, "review_queue", None, ["batch_id", "page_id"]),
        accepted=_per_partition(storage, "accepted_records", ["batch_id", "book_ref", "student_id"]),
        issued=read_table(storage, "issued_records", None,
                          ["batch_id", "book_ref", "student_id", "record_id"]),
        items=item_progress(engine),
        ledger=versions(engine),
    )


@dataclass(frozen=True)
class Coverage:
    cells: pd.DataFrame
    schools: pd.DataFrame
    backlog: pd.DataFrame


# --- helpers ----------------------------------------------------------------------------------------------
def _with_school(df: pd.DataFrame) -> pd.DataFrame:
    """district and school from the batch key "district/school/batch"."""
    parts = df["batch_id"].str.split("/", n=2, expand=True) if len(df) else pd.DataFrame({0: [], 1: []})
    return df.assign(district=parts[0].astype(object), school=parts[1].astype(object))


def _cap_of_grade(grade: pd.Series) -> pd.Series:
    out = pd.Series("", index=grade.index, dtype=object)
    for cap, grades in GRADES.items():
        out[grade.isin(list(grades))] = cap
    return out


def pct_column(issued: pd.Series, expected: pd.Series) -> pd.Series:
    return (100.0 * issued / expected.where(expected > 0)).fillna(0.0).round(2)


def page_cells(pages: pd.DataFrame) -> pd.DataFrame:
    """Each page read, with the cell it belongs to: its own year as validate read it, else (an identity
    page, a year not read) its book's first year page, else the unknown-year cell."""
    p = _with_school(pages)
    book = ["batch_id", "book_ref"]
    # A year read without its grade: the grade of another page of the book, moved by the years between.
    both = p.dropna(subset=["school_year", "grade"]).drop_duplicates(book)[[*book, "school_year", "grade"]]
    p = p.merge(both, on=book, how="left", suffixes=("", "_ref"))
    p["grade"] = p["grade"].fillna(p["grade_ref"] + p["school_year"] - p["school_year_ref"])
    known = p.dropna(subset=["school_year"]).sort_values(["school_year", "grade"])
    first = known.groupby(book, as_index=False)[["school_year", "grade"]].first()
    p = p.merge(first, on=book, how="left", suffixes=("", "_book"))
    for c in ("school_year", "grade"):
        p[c] = p[c].fillna(p[f"{c}_book"]).fillna(UNKNOWN_YEAR).astype("int64")
    p["cap_hoc"] = _cap_of_grade(p["grade"])
    return p[["batch_id", "page_id", "book_ref", *CELL_KEY]]


def student_years(roster: pd.DataFrame) -> pd.DataFrame:
    """One row per roster row and school year it expects a book page for: first_year … last_year − 1,
    grade = the cấp học's first grade + years since first_year, capped at its last (a repeated year)."""
    r = roster.reset_index(drop=True).rename_axis("rrow").reset_index()
    if r.empty:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c in ("rrow", "school_year", "grade") else object)
                             for c in ("rrow", "district", "school", "cap_hoc", "school_year", "grade")})
    cap = r["cap_hoc"].fillna("")
    first = r["first_year"].astype("Int64")
    span = (r["last_year"].astype("Int64") - first)
    default = cap.map({c: len(g) for c, g in GRADES.items()}).astype("Int64")
    # No first year: the student is expected once, in the unknown-year cell.
    n = span.where(span > 0, default).where(first.notna(), 1).fillna(1).astype("int64")
    rows = r.loc[r.index.repeat(n)].copy()
    i = rows.groupby("rrow").cumcount()
    start = rows["cap_hoc"].map({c: g.start for c, g in GRADES.items()})
    last = rows["cap_hoc"].map({c: g.stop - 1 for c, g in GRADES.items()})
    known = rows["first_year"].notna() & start.notna()
    rows["school_year"] = (rows["first_year"].astype("Int64") + i).where(known, UNKNOWN_YEAR).astype("int64")
    rows["grade"] = (start + i).clip(upper=last).where(known, UNKNOWN_YEAR).astype("int64")
    rows["cap_hoc"] = rows["cap_hoc"].fillna("")
    return rows[["rrow", "district", "school", "cap_hoc", "school_year", "grade"]]


def _roster_rows_of(books: pd.DataFrame, roster: pd.DataFrame, book_cap: pd.DataFrame) -> set[int]:
    """The roster rows that ``books`` (school, book_ref, student_id) belong to. The identifier is the
    student's; among their rows (one per cấp học, maybe in two schools) prefer the book's school and
    cấp học."""
    b = books.dropna(subset=["student_id"])[["school", "book_ref", "student_id"]].drop_duplicates()
    if b.empty:
        return set()
    b = b.merge(book_cap, on=["school", "book_ref"], how="left")
    r = roster.reset_index(drop=True).rename_axis("rrow").reset_index()
    m = b.merge(r[["rrow", "student_id", "school", "cap_hoc"]], on="student_id", suffixes=("", "_r"))
    m["rank"] = (m["school"] == m["school_r"]).astype(int) * 2 + (m["book_cap"] == m["cap_hoc"]).astype(int)
    best = m.sort_values("rank", ascending=False).drop_duplicates(["school", "book_ref"])
    return set(best["rrow"])


def _record_schools(manifest: pd.DataFrame) -> pd.DataFrame:
    """record_id → district, school: a record's id is made from its school and book label."""
    m = manifest[["district", "school", "book_ref"]].drop_duplicates()
    ids = [make_record_id(s, b) for s, b in zip(m["school"], m["book_ref"], strict=True)]
    m = m.assign(record_id=pd.Series(ids, index=m.index, dtype=object))
    return m.drop_duplicates("record_id")


# --- the three tables ------------------------------------------------------------------------------------
def compute(src: Sources, now: dt.datetime | None = None) -> Coverage:
    now = now or dt.datetime.now(dt.UTC)
    pages = page_cells(src.pages)
    on_page = ["batch_id", "page_id"]
    flagged = _with_school(src.flagged).merge(pages[[*on_page, "cap_hoc", "school_year", "grade"]],
                                              on=on_page, how="left")
    items = _with_school(src.items).merge(pages[[*on_page, "cap_hoc", "school_year", "grade"]],
                                          on=on_page, how="left")
    for df in (flagged, items):  # a page not laid out (should not happen): the unknown-year cell
        df.fillna({"cap_hoc": "", "school_year": UNKNOWN_YEAR, "grade": UNKNOWN_YEAR}, inplace=True)
    items["open"] = items["status"].isin(OPEN)
    items["done"] = items["status"].isin(RESOLVED)

    # Books: one per school and label (a book re-scanned in a later batch is the same book).
    book_cap = (pages[pages["grade"] > 0].groupby(["school", "book_ref"])["grade"].max()
                .pipe(_cap_of_grade).rename("book_cap").reset_index())
    records = _record_schools(src.manifest)
    ledger_current = src.ledger[src.ledger["status"] == CURRENT]
    current = ledger_current[["record_id"]].merge(records, on="record_id", how="left")
    issued = _with_school(src.issued)
    issued = issued[issued["record_id"].isin(set(ledger_current["record_id"]))]

    roster = _roster_frame(src.roster, src.manifest)
    accepted_rows = _roster_rows_of(_with_school(src.accepted), roster, book_cap)
    issued_rows = _roster_rows_of(issued, roster, book_cap)
    # Matched by validate, or after a reviewer corrected the book's identity fields (accepted_records).
    scanned_rows = _roster_rows_of(_with_school(src.matches[src.matches["outcome"].isin(MATCHED)]), roster,
                                   book_cap) | accepted_rows | issued_rows

    # --- cells (student-years and pages) ---
    sy = student_years(roster)
    sy["books_scanned"] = sy["rrow"].isin(scanned_rows)
    sy["books_accepted"] = sy["rrow"].isin(accepted_rows)
    sy["records_issued"] = sy["rrow"].isin(issued_rows)
    students = sy.groupby(CELL_KEY).agg(students_expected=("rrow", "size"),
                                        books_scanned=("books_scanned", "sum"),
                                        books_accepted=("books_accepted", "sum"),
                                        records_issued=("records_issued", "sum"))
    physical = pd.concat([
        pages.groupby(CELL_KEY).size().rename("pages_read"),
        flagged.groupby(CELL_KEY).size().rename("fields_flagged"),
        items.groupby(CELL_KEY)[["open", "done"]].sum().rename(
            columns={"open": "reviews_open", "done": "reviews_done"}),
    ], axis=1)
    cells = pd.concat([students, physical], axis=1).fillna(0).astype("int64").reset_index()
    cells["coverage_pct"] = pct_column(cells["records_issued"], cells["students_expected"])
    cells = cells.sort_values(CELL_KEY, ignore_index=True)

    # --- schools (books) ---
    matches = _with_school(src.matches)
    accepted = _with_school(src.accepted)
    ok = matches[matches["outcome"].isin(MATCHED)]
    matched_books = (set(zip(ok["school"], ok["book_ref"], strict=True))
                     | set(zip(accepted["school"], accepted["book_ref"], strict=True)))
    matches["is_matched"] = pd.Series([k in matched_books for k in zip(matches["school"], matches["book_ref"],
                                                                        strict=True)],
                                      index=matches.index, dtype=bool)
    books = matches.drop_duplicates(["district", "school", "book_ref"])

    def count(df: pd.DataFrame, name: str) -> pd.Series:
        return df.groupby(SCHOOL_KEY).size().rename(name)

    schools = pd.concat([
        count(roster, "students_expected"),
        count(src.manifest.drop_duplicates(["district", "school", "book_ref"]), "books_scanned"),
        count(books[books["is_matched"]], "books_matched"),
        count(books[~books["is_matched"]], "books_unmatched"),
        count(pages, "pages_read"),
        count(flagged, "fields_flagged"),
        items.groupby(SCHOOL_KEY)[["open", "done"]].sum().rename(
            columns={"open": "reviews_open", "done": "reviews_done"}),
        count(accepted.drop_duplicates(["district", "school", "book_ref"]), "books_accepted"),
        count(current.dropna(subset=["school"]), "records_issued"),
        count(_with_school(src.quarantine), "files_quarantined"),
    ], axis=1).fillna(0).astype("int64").reset_index()
    names = roster.dropna(subset=["school_name"]).drop_duplicates("school").set_index("school")["school_name"]
    schools["school_name"] = schools["school"].map(names).astype(object)
    schools["school_name"] = schools["school_name"].where(schools["school_name"].notna(), None)
    schools["coverage_pct"] = pct_column(schools["records_issued"], schools["students_expected"])
    schools["as_of"] = pd.Timestamp(now)
    schools = schools.sort_values(SCHOOL_KEY, ignore_index=True)

    return Coverage(cells, schools, backlog(items, src.ledger, records))


def _roster_frame(roster: pd.DataFrame, manifest: pd.DataFrame) -> pd.DataFrame:
    """The roster with district and school named like the batches: the roster's district code, else
    the district the school's batches come from."""
    r = roster.rename(columns={"school_code": "school"}).reset_index(drop=True)
    batch_district = manifest.drop_duplicates("school").set_index("school")["district"]
    r["district"] = r["district_code"].fillna(r["school"].map(batch_district)).fillna("").astype(object)
    return r


def backlog(items: pd.DataFrame, ledger: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    """Per school and day: review items created, resolved, still open at the end of the day; records
    issued (first versions) and later versions."""
    cols = ["district", "school", "day", "fields_flagged", "reviews_done", "reviews_open", "records_issued",
            "versions_issued"]

    def per_day(df: pd.DataFrame, at: str, name: str) -> pd.Series:
        d = df.dropna(subset=[at])
        day = pd.to_datetime(d[at], utc=True).dt.date
        return d.assign(day=day).groupby([*SCHOOL_KEY, "day"]).size().rename(name)

    v = ledger.merge(records, on="record_id", how="inner")
    parts = [per_day(items, "created_at", "fields_flagged"),
             per_day(items[items["done"]], "resolved_at", "reviews_done"),
             per_day(v[v["version"] == 1], "recorded_at", "records_issued"),
             per_day(v[v["version"] > 1], "recorded_at", "versions_issued")]
    out = pd.concat(parts, axis=1).fillna(0).astype("int64").sort_index()
    if out.empty:
        return pd.DataFrame(columns=cols)
    net = out["fields_flagged"] - out["reviews_done"]
    out["reviews_open"] = net.groupby(level=SCHOOL_KEY).cumsum()
    return out.reset_index()[cols]
