"""The console in a real browser: headless Chromium (Debian's) driven by Selenium, against uvicorn.

Shared by the browser tests (test_browser.py, test_coverage_browser.py) and usable outside pytest:
``open_coverage_as(base_url, username, password, screenshot)`` logs in to a running console, opens the
digitization progress page, waits until Chart.js has drawn, and returns the headline's numbers, for the
end-to-end test to compare with a real pipeline run. Screenshots go to build/test-artifacts/.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts"
HAVE_CHROMIUM = CHROMIUM.exists() and CHROMEDRIVER.exists()

# pytestmark of a browser test module: slow, and skipped where Chromium is missing.
BROWSER_MARKS = [
    pytest.mark.slow,
    pytest.mark.skipif(not HAVE_CHROMIUM,
                       reason="needs Debian's chromium and chromium-driver (/usr/bin/chromium, "
                              "/usr/bin/chromedriver): `make system` installs them"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """``app`` on a real uvicorn server in a background thread; yields its base URL."""
    import uvicorn

    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                       access_log=False))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(10)


@contextlib.contextmanager
def chromium(window: str = "1400,1000") -> Iterator[Any]:
    """A headless Chromium under Selenium, its console log kept (``driver.get_log('browser')``)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    before = os.environ.get("SE_OFFLINE")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never download anything
    try:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={window}",
                    "--lang=vi-VN", "--disable-gpu", "--no-first-run"):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    finally:
        if before is None:
            os.environ.pop("SE_OFFLINE", None)
        else:
            os.environ["SE_OFFLINE"] = before
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def wait(driver: Any, condition: Callable[[Any], Any], timeout: float = 15, message: str = "") -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition, message)


def login(driver: Any, base: str, username: str, password: str, path: str = "/") -> None:
    """Log in through the form and land on ``path`` (the login page's ``next``)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver.get(f"{base}/login?{urlencode({'next': path})}")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(password, Keys.ENTER)
    wait(driver, lambda d: d.current_url == f"{base}{path}", message=f"login did not reach {path}")


def console_errors(driver: Any, ignore: tuple[str, ...] = ()) -> list[str]:
    """SEVERE console messages since the last call: a CSP violation or a script error shows up here.
    Messages containing one of ``ignore`` (e.g. "status of 422" for a refusal the test provoked) are
    left out."""
    return [e["message"] for e in driver.get_log("browser")
            if e.get("level") == "SEVERE" and not any(s in e["message"] for s in ignore)]


# The charts of /coverage: drawn when Chart.js has a chart on every canvas the page has.
CHARTS_DRAWN = """
const canvases = Array.from(document.querySelectorAll('canvas'));
if (typeof Chart === 'undefined' || !canvases.length) return null;
const charts = canvases.map(c => Chart.getChart(c));
if (charts.some(c => !c)) return null;
return canvases.map(c => ({id: c.id, width: c.width, height: c.height,
                           painted: c.getContext('2d').getImageData(0, 0, c.width, c.height).data
                                     .some((v, i) => i % 4 === 3 && v > 0)}));
"""


def coverage_state(driver: Any) -> dict[str, Any]:
    """What /coverage shows right now: the headline's numbers (None when the page has no headline),
    the empty state's text, and the charts drawn."""
    from selenium.webdriver.common.by import By

    out: dict[str, Any] = {"records_issued": None, "students_expected": None, "coverage_pct": None,
                           "headline_text": None, "as_of": None, "empty": None, "charts": []}
    heads = driver.find_elements(By.ID, "coverage-headline")
    if heads:
        h = heads[0]
        out.update(records_issued=int(h.get_attribute("data-issued")),
                   students_expected=int(h.get_attribute("data-expected")),
                   coverage_pct=float(h.get_attribute("data-pct")), headline_text=h.text)
        times = driver.find_elements(By.CSS_SELECTOR, ".as-of time")
        out["as_of"] = times[0].get_attribute("datetime") if times else None
    empty = driver.find_elements(By.ID, "coverage-empty")
    if empty:
        out["empty"] = empty[0].text
    out["charts"] = driver.execute_script(CHARTS_DRAWN) or []
    return out


def open_coverage(driver: Any, base_url: str, username: str, password: str,
                  screenshot: str | Path | None = None, timeout: float = 20) -> dict[str, Any]:
    """Log in as ``username`` in ``driver``, open /coverage and wait until every chart is drawn; returns
    ``coverage_state`` plus ``console_errors``. The page's headline is ``CoverageTables.headline()`` of
    the user's scope."""
    login(driver, base_url, username, password, "/coverage")
    wait(driver, lambda d: d.execute_script("return document.readyState") == "complete", timeout)
    if driver.find_elements("id", "coverage-data"):  # materialized and something in scope: charts
        wait(driver, lambda d: (lambda s: s and all(c["painted"] for c in s))(d.execute_script(CHARTS_DRAWN)),
             timeout, message="Chart.js did not draw the charts")
    state = coverage_state(driver)
    if screenshot is not None:
        path = Path(screenshot)
        path.parent.mkdir(parents=True, exist_ok=True)
        size = driver.get_window_size()
        for _ in range(3):  # the whole page in the window: its height plus the window's own
            need = driver.execute_script(
                "return document.documentElement.scrollHeight + window.outerHeight - window.innerHeight")
            if need <= driver.get_window_size()["height"]:
                break
            driver.set_window_size(size["width"], min(int(need), 8000))
        # The charts follow the new size (a ResizeObserver): let them redraw before the picture.
        driver.execute_async_script("requestAnimationFrame(() => requestAnimationFrame(arguments[0]))")
        driver.save_screenshot(str(path))
        driver.set_window_size(size["width"], size["height"])
    state["console_errors"] = console_errors(driver)
    return state


def open_coverage_as(base_url: str, username: str, password: str,
                     screenshot: str | Path | None = ARTIFACTS / "coverage.png") -> dict[str, Any]:
    """In a fresh headless Chromium: log in to the console at ``base_url`` and open /coverage.

    Returns ``{"records_issued", "students_expected", "coverage_pct"}`` as the headline's data attributes
    give them (None when coverage was never materialized), ``"headline_text"``, ``"as_of"`` (ISO),
    ``"empty"`` (the empty state's text, or None), ``"charts"`` (one entry per canvas Chart.js drew) and
    ``"console_errors"`` (should be []: a CSP violation shows up there). Saves a full-window screenshot
    to ``screenshot`` unless it is None."""
    with chromium() as driver:
        return open_coverage(driver, base_url, username, password, screenshot)


__all__ = ["ARTIFACTS", "BROWSER_MARKS", "HAVE_CHROMIUM", "chromium", "console_errors", "coverage_state",
           "login", "open_coverage", "open_coverage_as", "serve", "wait"]
