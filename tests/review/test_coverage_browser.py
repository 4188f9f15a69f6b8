"""The digitization progress page in a real browser: Chart.js (vendored) draws under the console's
Content-Security-Policy, and the headline shows the written tables' sums.

Headless Chromium (Debian's) through Selenium against uvicorn; the coverage tables are the ones of
test_coverage_page.py, written as the coverage asset writes them. Screenshot:
build/test-artifacts/coverage.png.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipelines.review.app import create_app
from tests.review.browser import (
    ARTIFACTS,
    BROWSER_MARKS,
    chromium,
    console_errors,
    coverage_state,
    open_coverage,
    open_coverage_as,
    serve,
    wait,
)
from tests.review.test_coverage_page import (
    BACKLOG,
    CELLS,
    DISTRICT_A,
    SCHOOLS,
    SECRET,
    THCS_B,
    CoverageWorld,
    coverage_world,
)
from tests.review.webfixtures import PASSWORD

pytestmark = BROWSER_MARKS


@pytest.fixture
def world(tmp_path, hocba_home, cheap_hashing) -> CoverageWorld:
    return coverage_world(tmp_path / "world")


@pytest.fixture
def server(world) -> Iterator[str]:
    app = create_app(database_url=world.database_url, storage_root=world.storage_root, secret=SECRET)
    with serve(app) as base:
        yield base


@pytest.fixture
def browser() -> Iterator:
    with chromium() as driver:
        yield driver


def test_coverage_page_draws_its_charts(server, browser):
    """A data-team user of district HN-BD: the headline is the district's sums, both charts are drawn,
    nothing is refused by the CSP."""
    from selenium.webdriver.common.by import By

    got = open_coverage(browser, server, "dung.bd", PASSWORD, screenshot=ARTIFACTS / "coverage.png")
    mine = SCHOOLS[SCHOOLS["district"] == DISTRICT_A]
    issued, expected = int(mine["records_issued"].sum()), int(mine["students_expected"].sum())
    assert (got["records_issued"], got["students_expected"]) == (issued, expected) == (35, 65)
    assert got["coverage_pct"] == round(100 * issued / expected, 2)
    assert got["headline_text"].startswith("Đã cấp 35 / 65 học bạ (53,8%)")
    assert got["empty"] is None and got["as_of"].startswith("2024-05-03T10:30:00")
    assert {c["id"] for c in got["charts"]} == {"chart-schools", "chart-backlog"}
    assert all(c["painted"] and c["width"] > 200 and c["height"] > 150 for c in got["charts"])
    assert got["console_errors"] == []

    # What Chart.js was given: the district's two schools, the district's backlog days.
    schools = browser.execute_script(
        "const c = Chart.getChart(document.getElementById('chart-schools'));"
        "return c.data.datasets.map(d => [d.label, d.data]);")
    assert schools == [["Học bạ cần có", [40, 25]], ["Học bạ đã cấp", [30, 5]]]
    backlog = browser.execute_script(
        "const c = Chart.getChart(document.getElementById('chart-backlog'));"
        "return {labels: c.data.labels, open: c.data.datasets[1].data};")
    assert backlog == {"labels": ["01/05", "02/05", "03/05", "04/05"], "open": [30, 38, 38, 18]}
    assert THCS_B not in browser.page_source

    # The heat map colours come from classes (inline styles are refused by the CSP).
    cell = browser.find_element(By.CSS_SELECTOR, 'tr[data-grade="6"] td[data-school-year="2019"]')
    assert cell.text == "75,0%" and "heat-7" in cell.get_attribute("class")
    assert cell.value_of_css_property("background-color") == "rgba(47, 126, 188, 1)"

    # The filters post back as GET; the CSV link follows them.
    browser.find_element(By.CSS_SELECTOR, 'select[name="grade"] option[value="10"]').click()
    browser.find_element(By.CSS_SELECTOR, ".cov-filters button[type=submit]").click()
    wait(browser, lambda d: "grade=10" in d.current_url, message="the filter form did not submit")
    rows = browser.find_elements(By.CSS_SELECTOR, "#cells-table tbody tr")
    assert [r.get_attribute("data-school") for r in rows] == ["HN-BD-THPT03"]
    # The form sends its empty selects too (school=&cap_hoc=…); the CSV link keeps only the filters set.
    csv_link = browser.find_element(By.ID, "coverage-csv").get_attribute("href")
    assert csv_link == f"{server}/coverage.csv?grade=10"
    wait(browser, lambda d: coverage_state(d)["charts"], message="charts missing after filtering")
    assert console_errors(browser) == []


def test_admin_sees_the_city_and_the_header_link(server, browser):
    from selenium.webdriver.common.by import By

    got = open_coverage(browser, server, "quantri", PASSWORD)
    assert (got["records_issued"], got["students_expected"]) == (
        int(SCHOOLS["records_issued"].sum()), int(SCHOOLS["students_expected"].sum()))
    assert got["console_errors"] == []
    assert len(browser.find_elements(By.CSS_SELECTOR, "#cells-table tbody tr")) == len(CELLS)
    browser.find_element(By.CSS_SELECTOR, "a.brand").click()
    wait(browser, lambda d: d.current_url == f"{server}/")
    browser.find_element(By.ID, "nav-coverage").click()
    wait(browser, lambda d: d.current_url == f"{server}/coverage")
    assert len(BACKLOG) == 4 and console_errors(browser) == []


def test_open_coverage_as_on_its_own(server, tmp_path):
    """The function the end-to-end test calls against a real pipeline run: its own browser, a screenshot."""
    shot = tmp_path / "shots" / "cov.png"
    got = open_coverage_as(server, "hoa.cg", PASSWORD, shot)
    assert (got["records_issued"], got["students_expected"], got["coverage_pct"]) == (12, 30, 40.0)
    assert got["console_errors"] == [] and len(got["charts"]) == 2
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_empty_state_in_the_browser(tmp_path, hocba_home, cheap_hashing):
    w = coverage_world(tmp_path / "empty", written=False)
    app = create_app(database_url=w.database_url, storage_root=w.storage_root, secret=SECRET)
    with serve(app) as base:
        got = open_coverage_as(base, "quantri", PASSWORD, None)
    assert got["records_issued"] is None and got["charts"] == []
    assert got["empty"] == "Chưa có số liệu: chạy asset coverage trong Dagster hoặc make demo"
    assert got["console_errors"] == []
