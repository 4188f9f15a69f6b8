"""The console in a real browser: headless Chromium (Debian's) driven by Selenium, against uvicorn.

What only a browser shows: autofocus and selection (typing replaces the proposed value), review.js's
keyboard (Enter, F2, Esc, Ctrl+Enter, the group's fetch calls with the CSRF header), and that the page
works under its own Content-Security-Policy. Screenshots go to build/test-artifacts/.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipelines.review import store
from pipelines.review.app import create_app
from tests.review.browser import ARTIFACTS, BROWSER_MARKS, chromium, console_errors, login, serve
from tests.review.browser import wait as _wait
from tests.review.webfixtures import BATCH_A, PASSWORD, World, build_world

pytestmark = BROWSER_MARKS


@pytest.fixture
def world(tmp_path, hocba_home) -> World:
    return build_world(tmp_path / "world")


@pytest.fixture
def server(world) -> Iterator[str]:
    """The console on a real uvicorn server in a background thread; yields its base URL."""
    app = create_app(database_url=world.database_url, storage_root=world.storage_root,
                     secret="browser-test-" + "k" * 40)
    with serve(app) as base:
        yield base


@pytest.fixture
def browser() -> Iterator:
    with chromium() as driver:
        yield driver


def _focused_and_selected(input_id: str | None = None, css: str | None = None):
    """The element is focused with its whole value selected: the next keystroke replaces it."""
    def check(driver) -> bool:
        return bool(driver.execute_script(
            "const e = document.activeElement;"
            "if (!e || e.tagName !== 'INPUT') return false;"
            "if (arguments[0] && e.id !== arguments[0]) return false;"
            "if (arguments[1] && !e.matches(arguments[1])) return false;"
            "return e.selectionStart === 0 && e.selectionEnd === e.value.length;", input_id, css))
    return check


def _login(driver, base: str, username: str = "an.bd") -> None:
    login(driver, base, username, PASSWORD)


def _remaining(driver) -> int:
    from selenium.webdriver.common.by import By

    return int(driver.find_element(By.CSS_SELECTOR, f'.remaining[data-batch="{BATCH_A}"]').text)


def _errors(driver) -> list[str]:
    """Console errors: a CSP violation or a script error shows up here (a 422 the test provoked does not
    count)."""
    return console_errors(driver, ignore=("status of 422",))


def test_correct_a_score_with_the_keyboard(server, browser, world):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    _login(browser, server)
    before = _remaining(browser)
    assert before == 6

    # "Từng trường" of the score row: claims (a POST) the first flagged score and opens it in context.
    browser.find_element(By.CSS_SELECTOR, 'tr[data-field-type="score"] button.one-by-one').click()
    target = world.items["toan_ca_nam"]
    _wait(browser, lambda d: f"/items/{target}?" in d.current_url, message="no item page")
    _wait(browser, _focused_and_selected("value"), message="the input never got focus and selection")
    _wait(browser, lambda d: d.execute_script(
        "const i = document.querySelector('img.crop'), p = document.querySelector('img.page');"
        "return i.complete && i.naturalWidth > 0 && p.complete && p.naturalWidth > 0 &&"
        " !document.querySelector('.stage .box').hidden;"), message="images or the field's box missing")
    box = browser.find_element(By.CSS_SELECTOR, ".stage .box")
    assert box.size["width"] > 20 and box.is_displayed()  # the zoomed page shows the field highlighted
    page = browser.page_source
    assert "Toán — Cả năm" in page and "độ tin cậy thấp" in page and "Cả năm ≠ (HK I + 2·HK II)/3" in page
    browser.save_screenshot(str(ARTIFACTS / "review-item.png"))

    # Typing replaces the proposed 8,4; Enter saves the correction and opens the next score field.
    browser.switch_to.active_element.send_keys("8.3")
    assert "Lưu giá trị đã sửa" in browser.find_element(By.ID, "btn-save").text
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    nxt = world.items["ngu_van_ca_nam"]
    _wait(browser, lambda d: f"/items/{nxt}?" in d.current_url, message="Enter did not go to the next item")
    saved = store.get_item(world.engine, world.users["quantri"], target)
    assert (saved.status, saved.final_value) == ("done", "8,3")

    # Esc passes over the next item (given back) and opens the one after; the queue link leaves it,
    # given back too: one field fewer to review.
    _wait(browser, _focused_and_selected("value"))
    browser.switch_to.active_element.send_keys(Keys.ESCAPE)
    third = world.items["toan_hk1"]
    _wait(browser, lambda d: f"/items/{third}?" in d.current_url, message="Esc did not skip")
    assert store.get_item(world.engine, world.users["quantri"], nxt).status == "open"
    browser.find_element(By.ID, "to-queue").click()
    _wait(browser, lambda d: d.current_url == f"{server}/", message="the link did not return to the queue")
    _wait(browser, lambda d: store.get_item(world.engine, world.users["quantri"], third).status == "open")
    assert _remaining(browser) == before - 1
    browser.save_screenshot(str(ARTIFACTS / "review-queue.png"))
    assert _errors(browser) == []


def test_group_mode_with_the_keyboard(server, browser, world):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    _login(browser, server)
    browser.find_element(By.CSS_SELECTOR, 'tr[data-field-type="score"] button.as-group').click()
    _wait(browser, lambda d: "/group?" in d.current_url)
    keys = ["toan_ca_nam", "ngu_van_ca_nam", "toan_hk1", "vat_li_hk2"]
    ids = [world.items[k] for k in keys]
    cards = browser.find_elements(By.CSS_SELECTOR, ".card")
    assert [int(c.get_attribute("data-item")) for c in cards] == ids
    browser.save_screenshot(str(ARTIFACTS / "review-group.png"))

    def on_card(i: int):
        return _focused_and_selected(css=f'.g-input[data-item="{ids[i]}"]')

    def done(i: int):
        return lambda d: "done" in d.find_elements(By.CSS_SELECTOR, ".card")[i].get_attribute("class")

    _wait(browser, on_card(0), message="the first card's input is not focused")
    browser.switch_to.active_element.send_keys(Keys.ENTER)          # unchanged 8,4: accepted
    _wait(browser, done(0))
    _wait(browser, on_card(1), message="focus did not move to the next card")
    browser.switch_to.active_element.send_keys("7,O", Keys.ENTER)   # a typo: refused, focus stays
    _wait(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, ".card-error")[1].get_attribute("hidden"))
    assert "không đúng dạng" in browser.find_elements(By.CSS_SELECTOR, ".card-error")[1].text
    _wait(browser, on_card(1))
    browser.switch_to.active_element.send_keys("7,0", Keys.ENTER)   # corrected
    _wait(browser, done(1))
    _wait(browser, on_card(2))
    browser.switch_to.active_element.send_keys(Keys.TAB)            # Tab moves on, Shift+Tab comes back
    _wait(browser, on_card(3))
    browser.switch_to.active_element.send_keys(Keys.SHIFT, Keys.TAB)
    _wait(browser, on_card(2))
    browser.switch_to.active_element.send_keys(Keys.F2)             # illegible, once confirmed
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    _wait(browser, done(2))
    _wait(browser, on_card(3))
    browser.switch_to.active_element.send_keys(Keys.CONTROL, Keys.ENTER)  # confirm all: the last one
    _wait(browser, lambda d: "Đã lưu 1 trường." in d.page_source, message="confirm all did not post")

    got = [store.get_item(world.engine, world.users["quantri"], i) for i in ids]
    assert [(g.status, g.final_value) for g in got] == [
        ("done", "8,4"), ("done", "7,0"), ("needs_paper", None), ("done", "9,1")]
    assert "Bạn chưa nhận trường nào trong nhóm này" in browser.page_source
    assert "Không còn trường nào cần duyệt" in browser.page_source
    assert _errors(browser) == []
