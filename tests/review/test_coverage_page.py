"""The digitization progress page (/coverage) and its CSV, over HTTP, from real coverage tables.

The three coverage tables are written as the coverage asset writes them (``write_table``: Parquet cast to
the contracts in data_contracts/tables/coverage*.yaml) for two districts and three schools; users are
real accounts (argon2, cheap parameters) with district, school and city scopes; requests go through the
whole ASGI stack with FastAPI's TestClient.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from pipelines import db
from pipelines.contracts import table_contract
from pipelines.coverage_tables import load_coverage
from pipelines.review import auth, coverage_view
from pipelines.review.app import create_app
from pipelines.review.store import Scope
from pipelines.storage import Storage
from pipelines.table_io import write_table
from tests.review.webfixtures import PASSWORD, csrf_of

SECRET = "coverage-test-" + "c" * 40
DISTRICT_A, DISTRICT_B = "HN-BD", "HN-CG"
THCS_A, THPT_A, THCS_B = "HN-BD-THCS01", "HN-BD-THPT03", "HN-CG-THCS02"
AS_OF = pd.Timestamp("2024-05-03 10:30", tz="UTC")

USERS = [
    ("an.bd", "reviewer", f"district:{DISTRICT_A}"),
    ("dung.bd", "data_team", f"district:{DISTRICT_A}"),
    ("hoa.cg", "data_team", f"district:{DISTRICT_B}"),
    ("lan.thpt", "data_team", f"school:{THPT_A}"),
    ("quantri", "admin", "all"),
]


def _school(district, school, name, expected, issued, **more) -> dict:
    row = {"district": district, "school": school, "school_name": name, "students_expected": expected,
           "books_scanned": expected - 2, "books_matched": expected - 3, "books_unmatched": 1,
           "pages_read": 10 * expected, "fields_flagged": expected, "reviews_open": 3,
           "reviews_done": expected - 3,
           "books_accepted": issued + 1, "records_issued": issued, "files_quarantined": 1,
           "coverage_pct": round(100 * issued / expected, 2), "as_of": AS_OF}
    row.update(more)
    return row


def _cell(district, school, cap_hoc, year, grade, expected, issued, pages=50) -> dict:
    return {"district": district, "school": school, "cap_hoc": cap_hoc, "school_year": year, "grade": grade,
            "students_expected": expected, "books_scanned": expected, "books_accepted": issued,
            "records_issued": issued, "pages_read": pages, "fields_flagged": 7, "reviews_open": 1,
            "reviews_done": 6, "coverage_pct": round(100 * issued / expected, 2) if expected else 0.0}


def _day(district, school, day, flagged=0, done=0, open_=0, issued=0) -> dict:
    return {"district": district, "school": school, "day": dt.date.fromisoformat(day),
            "fields_flagged": flagged, "reviews_done": done, "reviews_open": open_, "records_issued": issued,
            "versions_issued": 0}


SCHOOLS = pd.DataFrame([
    _school(DISTRICT_A, THCS_A, "Trường THCS Bạch Đằng", 40, 30),
    _school(DISTRICT_A, THPT_A, "Trường THPT Đống Đa", 25, 5),
    _school(DISTRICT_B, THCS_B, "Trường THCS Cầu Giấy", 30, 12),
])
CELLS = pd.DataFrame([
    _cell(DISTRICT_A, THCS_A, "THCS", 2019, 6, 20, 15),
    _cell(DISTRICT_A, THCS_A, "THCS", 2020, 7, 20, 15),
    _cell(DISTRICT_A, THCS_A, "", 0, 0, 0, 0, pages=12),  # pages of a book whose year was not read
    _cell(DISTRICT_A, THPT_A, "THPT", 2019, 10, 25, 5),
    _cell(DISTRICT_B, THCS_B, "THCS", 2019, 6, 20, 2),
    _cell(DISTRICT_B, THCS_B, "THCS", 2020, 7, 10, 10),
])
BACKLOG = pd.DataFrame([
    _day(DISTRICT_A, THCS_A, "2024-05-01", flagged=30, open_=30),
    _day(DISTRICT_A, THPT_A, "2024-05-02", flagged=8, open_=8),
    _day(DISTRICT_A, THCS_A, "2024-05-04", done=20, open_=10, issued=5),
    _day(DISTRICT_B, THCS_B, "2024-05-02", flagged=4, open_=4),
])


def write_coverage(storage: Storage, schools: pd.DataFrame = SCHOOLS, cells: pd.DataFrame = CELLS,
                   backlog: pd.DataFrame = BACKLOG) -> None:
    """The three coverage tables, as the coverage asset writes them."""
    write_table(storage, "coverage", cells)
    write_table(storage, "coverage_schools", schools)
    write_table(storage, "coverage_backlog", backlog)


@dataclass
class CoverageWorld:
    root: Path
    database_url: str
    storage_root: str
    engine: object

    @property
    def storage(self) -> Storage:
        return Storage(self.storage_root)


def coverage_world(root: Path, *, written: bool = True) -> CoverageWorld:
    """A review database with the USERS and (unless ``written`` is False) the coverage tables."""
    root.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{root / 'review.db'}"
    engine = db.database(url)
    for name, role, scope in USERS:
        auth.add_user(engine, name, PASSWORD, role, scope)
    w = CoverageWorld(root, url, str(root / "storage"), engine)
    if written:
        write_coverage(w.storage)
    return w


@pytest.fixture
def world(tmp_path, hocba_home, cheap_hashing) -> CoverageWorld:
    return coverage_world(tmp_path / "world")


@pytest.fixture
def app(world):
    return create_app(database_url=world.database_url, storage_root=world.storage_root, secret=SECRET)


def client_as(app, username: str | None) -> TestClient:
    c = TestClient(app, follow_redirects=False)
    if username:
        token = csrf_of(c.get("/login").text)
        r = c.post("/login", data={"username": username, "password": PASSWORD, "next": "/",
                                   "csrf_token": token})
        assert r.status_code == 303, r.text
    return c


def headline(html: str) -> dict:
    m = re.search(r'id="coverage-headline" data-issued="(\d+)"\s+data-expected="(\d+)" '
                  r'data-pct="([\d.]+)"', html)
    assert m, "no headline"
    return {"records_issued": int(m.group(1)), "students_expected": int(m.group(2)),
            "coverage_pct": float(m.group(3))}


def chart_data(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="coverage-data">(.*?)</script>', html, re.S)
    assert m, "no chart data"
    return json.loads(m.group(1))


def table_schools(html: str, table_id: str) -> list[str]:
    m = re.search(rf'<table[^>]*id="{table_id}".*?</table>', html, re.S)
    assert m, f"no table {table_id}"
    return re.findall(r'<tr data-school="([^"]+)"', m.group(0))


def csv_rows(body: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))


# --- who may see it -------------------------------------------------------------------------------
def test_anonymous_users_go_to_the_login_page(app):
    c = client_as(app, None)
    for path, target in [("/coverage", "/login?next=%2Fcoverage"),
                         ("/coverage.csv?grade=6", "/login?next=%2Fcoverage.csv%3Fgrade%3D6")]:
        r = c.get(path)
        assert r.status_code == 303 and r.headers["location"] == target


def test_a_reviewer_is_forbidden(app):
    c = client_as(app, "an.bd")
    for path in ("/coverage", "/coverage.csv", "/coverage?grade=6"):
        r = c.get(path)
        assert r.status_code == 403, path
        assert "Chỉ nhóm dữ liệu và quản trị viên xem được tiến độ số hóa." in r.text
        assert "coverage-headline" not in r.text and THCS_A not in r.text
    assert "Tiến độ số hóa" not in c.get("/").text  # no link in the header either


def test_the_header_links_the_page_for_the_data_team_and_admins(app):
    for name in ("dung.bd", "quantri"):
        page = client_as(app, name).get("/").text
        assert '<a href="/coverage" id="nav-coverage">Tiến độ số hóa</a>' in page


# --- the headline and the scope ---------------------------------------------------------------------
def test_admin_sees_the_whole_city(app, world):
    r = client_as(app, "quantri").get("/coverage")
    assert r.status_code == 200
    html = r.text
    expected = load_coverage(world.storage).headline()
    assert headline(html) == expected == {"records_issued": 47, "students_expected": 95,
                                          "coverage_pct": 49.47}
    assert "Đã cấp <strong>47</strong> / 95 học bạ" in html and "49,5%" in html
    assert "Số liệu tính lúc" in html and "17:30 ngày 03/05/2024" in html  # 10:30 UTC, shown in Việt Nam time
    assert table_schools(html, "schools-table") == [THCS_A, THPT_A, THCS_B]
    data = chart_data(html)
    assert data["schools"]["records_issued"] == [30, 5, 12]
    assert data["schools"]["students_expected"] == [40, 25, 30]
    assert data["schools"]["labels"][0] == f"Trường THCS Bạch Đằng ({THCS_A})"
    assert "toàn thành phố" in html


def test_a_district_user_sees_only_the_district(app, world):
    html = client_as(app, "dung.bd").get("/coverage").text
    scoped = load_coverage(world.storage).scoped(district=DISTRICT_A).headline()
    assert headline(html) == scoped == {"records_issued": 35, "students_expected": 65, "coverage_pct": 53.85}
    assert THCS_B not in html and DISTRICT_B not in html and "Cầu Giấy" not in html
    assert table_schools(html, "schools-table") == [THCS_A, THPT_A]
    assert set(table_schools(html, "cells-table")) == {THCS_A, THPT_A}
    data = chart_data(html)
    assert data["schools"]["records_issued"] == [30, 5]
    # The backlog of the district's two schools, every day from the first to the last; a school's open
    # items carry over the days it has no row.
    assert data["backlog"] == {
        "days": ["2024-05-01", "2024-05-02", "2024-05-03", "2024-05-04"],
        "fields_flagged": [30, 8, 0, 0],
        "reviews_open": [30, 38, 38, 18],
        "reviews_done": [0, 0, 0, 20],
        "records_issued": [0, 0, 0, 5],
    }
    body = client_as(app, "dung.bd").get("/coverage.csv").content
    assert {r["district"] for r in csv_rows(body)} == {DISTRICT_A}


def test_a_school_user_sees_only_the_school(app, world):
    c = client_as(app, "lan.thpt")
    html = c.get("/coverage").text
    assert headline(html) == load_coverage(world.storage).scoped(school=THPT_A).headline() == {
        "records_issued": 5, "students_expected": 25, "coverage_pct": 20.0}
    assert table_schools(html, "schools-table") == [THPT_A]
    assert THCS_A not in html and THCS_B not in html
    assert [r["school"] for r in csv_rows(c.get("/coverage.csv").content)] == [THPT_A]
    # A school the user may not see is no filter around the scope: nothing comes back.
    assert csv_rows(c.get(f"/coverage.csv?school={THCS_B}").content) == []
    assert 'id="cells-table"' not in c.get(f"/coverage?school={THCS_B}").text


def test_the_other_district_sees_its_own(app):
    html = client_as(app, "hoa.cg").get("/coverage").text
    assert headline(html) == {"records_issued": 12, "students_expected": 30, "coverage_pct": 40.0}
    assert THCS_A not in html and THPT_A not in html


# --- the heat map -----------------------------------------------------------------------------------
def heat_cells(html: str) -> dict[tuple[int, int], tuple[str, str]]:
    """(grade, school year) → (bucket class, text shown)."""
    out = {}
    table = re.search(r'<table class="heat-table".*?</table>', html, re.S).group(0)
    for grade, row in re.findall(r'<tr data-grade="(\d+)">(.*?)</tr>', table, re.S):
        for cls, year, text in re.findall(
                r'<td class="heat (heat-\d+)" data-school-year="(\d+)"[^>]*>([^<]*)</td>', row, re.S):
            out[(int(grade), int(year))] = (cls, text.strip())
    return out


def test_heat_map_of_grades_and_school_years(app):
    city = heat_cells(client_as(app, "quantri").get("/coverage").text)
    assert city == {
        (6, 2019): ("heat-4", "42,5%"),    # (15 + 2) / (20 + 20)
        (7, 2020): ("heat-8", "83,3%"),    # (15 + 10) / (20 + 10)
        (10, 2019): ("heat-2", "20,0%"),
    }
    assert heat_cells(client_as(app, "hoa.cg").get("/coverage").text) == {
        (6, 2019): ("heat-1", "10,0%"), (7, 2020): ("heat-10", "100,0%")}
    html = client_as(app, "quantri").get("/coverage").text
    assert html.count('class="heat heat-none"') == 3  # grade × year pairs with nobody expected: no colour
    assert "chưa đọc được" in html  # the row whose year was not read is in the table, not in the heat map


# --- the table, its filters and the CSV ---------------------------------------------------------------
def test_filters_narrow_the_table_and_the_csv_alike(app):
    c = client_as(app, "quantri")
    html = c.get(f"/coverage?school={THCS_A}&grade=7").text
    assert table_schools(html, "cells-table") == [THCS_A]
    assert re.search(r'<option value="HN-BD-THCS01" selected>', html)
    assert re.search(r'<option value="7" selected>Lớp 7</option>', html)
    assert 'href="/coverage.csv?school=HN-BD-THCS01&amp;grade=7"' in html
    assert headline(html)["students_expected"] == 95  # the filters are the table's, not the headline's
    rows = csv_rows(c.get(f"/coverage.csv?school={THCS_A}&grade=7").content)
    assert [(r["school"], r["school_year"], r["grade"]) for r in rows] == [(THCS_A, "2020", "7")]

    rows = csv_rows(c.get("/coverage.csv?cap_hoc=THCS&school_year=2019").content)
    assert sorted(r["school"] for r in rows) == [THCS_A, THCS_B]
    assert [r["school"] for r in csv_rows(c.get("/coverage.csv?cap_hoc=THPT").content)] == [THPT_A]
    html = c.get("/coverage?cap_hoc=THPT&school_year=2020").text
    assert "Không có dòng nào khớp bộ lọc." in html and "0 dòng" in html
    for bad in ("grade=abc", "school_year=2019-2020", "grade=-1"):
        assert c.get(f"/coverage?{bad}").status_code == 400, bad
        assert c.get(f"/coverage.csv?{bad}").status_code == 400, bad


def test_csv_download(app, world):
    r = client_as(app, "dung.bd").get("/coverage.csv")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == 'attachment; filename="tien-do-so-hoa_HN-BD_20240503.csv"'
    assert r.headers["cache-control"] == "no-store"
    assert r.content.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM: Excel reads it as UTF-8
    rows = csv_rows(r.content)
    assert list(rows[0]) == table_contract("coverage").column_names
    assert [(r["school"], r["cap_hoc"], r["school_year"], r["grade"]) for r in rows] == [
        (THCS_A, "", "0", "0"), (THCS_A, "THCS", "2019", "6"), (THCS_A, "THCS", "2020", "7"),
        (THPT_A, "THPT", "2019", "10")]
    assert sum(int(r["records_issued"]) for r in rows) == 35
    assert rows[1]["coverage_pct"] == "75.0"
    everyone = csv_rows(client_as(app, "quantri").get("/coverage.csv").content)
    assert len(everyone) == len(CELLS)
    name = client_as(app, "quantri").get("/coverage.csv").headers["content-disposition"]
    assert name == 'attachment; filename="tien-do-so-hoa_all_20240503.csv"'


def test_the_page_lists_rows_up_to_a_limit(world):
    many = pd.DataFrame([_cell(DISTRICT_A, THCS_A, "THCS", 2000 + i // 7, 6 + i % 7, 10, i % 10)
                         for i in range(coverage_view.ROW_LIMIT + 20)])
    write_coverage(world.storage, cells=many)
    app = create_app(database_url=world.database_url, storage_root=world.storage_root, secret=SECRET)
    c = client_as(app, "quantri")
    html = c.get("/coverage").text
    assert html.count('<tr data-school="HN-BD-THCS01" data-district') == coverage_view.ROW_LIMIT
    assert "520 dòng" in html and "tải CSV để có tất cả" in html
    assert len(csv_rows(c.get("/coverage.csv").content)) == coverage_view.ROW_LIMIT + 20


# --- never computed ----------------------------------------------------------------------------------
def test_empty_state_before_the_coverage_asset_ran(tmp_path, hocba_home, cheap_hashing):
    w = coverage_world(tmp_path / "empty", written=False)
    app = create_app(database_url=w.database_url, storage_root=w.storage_root, secret=SECRET)
    c = client_as(app, "quantri")
    r = c.get("/coverage")
    assert r.status_code == 200
    assert "Chưa có số liệu: chạy asset coverage trong Dagster hoặc make demo" in r.text
    assert "coverage-headline" not in r.text and "coverage-data" not in r.text
    assert "chart.umd.js" not in r.text
    r = c.get("/coverage.csv")
    assert r.status_code == 200
    assert r.content.decode("utf-8-sig").strip() == ",".join(table_contract("coverage").column_names)
    assert r.headers["content-disposition"] == 'attachment; filename="tien-do-so-hoa_all.csv"'


def test_a_district_with_no_rows_yet(tmp_path, hocba_home, cheap_hashing):
    w = coverage_world(tmp_path / "w")
    write_coverage(w.storage, schools=SCHOOLS[SCHOOLS["district"] == DISTRICT_A],
                   cells=CELLS[CELLS["district"] == DISTRICT_A],
                   backlog=BACKLOG[BACKLOG["district"] == DISTRICT_A])
    app = create_app(database_url=w.database_url, storage_root=w.storage_root, secret=SECRET)
    html = client_as(app, "hoa.cg").get("/coverage").text
    assert headline(html) == {"records_issued": 0, "students_expected": 0, "coverage_pct": 0.0}
    assert "Số liệu chưa có trường nào trong phạm vi của bạn" in html and "coverage-data" not in html


# --- the web's defences -----------------------------------------------------------------------------
def test_no_inline_script_or_style_and_the_security_headers(app):
    r = client_as(app, "quantri").get("/coverage")
    assert "script-src 'self'; style-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"
    html = r.text
    assert not re.search(r"\sstyle=", html)
    scripts = re.findall(r"<script([^>]*)>", html)
    assert scripts and all('src="/static/' in s or 'type="application/json"' in s for s in scripts), scripts
    assert "http://" not in html and "https://" not in html  # no CDN
    assert '<script src="/static/vendor/chart.umd.js" defer></script>' in html
    # JSON in a script element cannot close it early: tojson escapes <, > and &.
    assert "</" not in re.search(r'id="coverage-data">(.*?)</script>', html, re.S).group(1)


def test_chart_js_is_served_from_the_site(app):
    c = client_as(app, None)
    js = c.get("/static/vendor/chart.umd.js")
    assert js.status_code == 200 and js.text.startswith("/*!\n * Chart.js v4.")
    assert "Released under the MIT License" in js.text
    assert "MIT License" in c.get("/static/vendor/chart.js.LICENSE.md").text
    script = c.get("/static/coverage.js")
    assert script.status_code == 200 and "coverage-data" in script.text


# --- coverage_view on its own ----------------------------------------------------------------------
def test_numbers_are_written_the_vietnamese_way():
    assert coverage_view.fmt_int(1234567) == "1.234.567"
    assert coverage_view.fmt_pct(49.4737) == "49,5%"
    assert coverage_view.fmt_pct(1234.5) == "1.234,5%"
    assert [coverage_view.bucket(p) for p in (0, 9.99, 10, 55, 99.9, 100)] == [0, 0, 1, 5, 9, 10]


def test_filters_parse_and_round_trip():
    f = coverage_view.Filters.parse({"school": f" {THCS_A} ", "cap_hoc": "", "school_year": "2019",
                                     "grade": "6"})
    assert f == coverage_view.Filters(THCS_A, "", 2019, 6) and f.active
    assert f.query() == f"?school={THCS_A}&school_year=2019&grade=6"
    assert coverage_view.Filters.parse({}) == coverage_view.Filters() and not coverage_view.Filters().active
    with pytest.raises(ValueError):
        coverage_view.Filters.parse({"grade": "lớp 6"})


def test_build_from_the_tables(world):
    tables = load_coverage(world.storage)
    page = coverage_view.build(tables, Scope("district", DISTRICT_A), coverage_view.Filters(grade=6))
    assert page.materialized and page.headline == tables.scoped(district=DISTRICT_A).headline()
    assert [s["school"] for s in page.schools] == [THCS_A, THPT_A]
    assert [(r["school"], r["grade"]) for r in page.rows] == [(THCS_A, 6)] and page.total_rows == 1
    assert page.as_of == AS_OF.to_pydatetime() and page.as_of_text == "17:30 ngày 03/05/2024 (giờ Việt Nam)"
    assert page.options["grade"] == [{"value": 6, "label": "Lớp 6"}, {"value": 7, "label": "Lớp 7"},
                                     {"value": 10, "label": "Lớp 10"}]
    assert page.options["school_year"][0] == {"value": 2019, "label": "2019-2020"}
    assert page.csv_url == "/coverage.csv?grade=6"
    # 35 / 65 = 53.846…: the headline shows it rounded once, not 53.85 rounded again
    assert page.headline["coverage_pct"] == 53.85 and page.headline_pct_text == "53,8%"
    nobody = coverage_view.build(tables, Scope("school", "HN-XX-THCS99"), coverage_view.Filters())
    assert nobody.materialized and not nobody.in_scope and nobody.headline["students_expected"] == 0
    unknown = coverage_view.in_scope(tables, Scope("province", "HN"))  # a kind it does not know: nothing
    assert unknown.cells.empty and unknown.schools.empty and unknown.backlog.empty
    assert list(unknown.cells.columns) == list(tables.cells.columns)
