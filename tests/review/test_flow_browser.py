"""The reviewer's way through the console in a real browser (issue 14, parts 4 and 5): headless Chromium
(Debian's) under Selenium against uvicorn, the keyboard only where a reviewer would use it.

Blank on paper with Enter, Esc skipping, F2 asking first (Esc cancels, Enter confirms) and Ctrl+Z taking
it back, the pagehide beacon releasing a field left by a link, Page Up / Page Down through the book, the
same in group mode, the data team working through "Cần xem sổ giấy", and reopening a finished field.
Every page runs under its Content-Security-Policy: a violation would show in the console log.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipelines.review import store
from pipelines.review.app import create_app
from tests.review.browser import ARTIFACTS, BROWSER_MARKS, chromium, console_errors, login, serve
from tests.review.browser import wait as _wait
from tests.review.webfixtures import PASSWORD, World, build_world, write_book_tables

pytestmark = BROWSER_MARKS


@pytest.fixture
def world(tmp_path, hocba_home) -> World:
    w = build_world(tmp_path / "world")
    write_book_tables(w)
    return w


@pytest.fixture
def server(world) -> Iterator[str]:
    app = create_app(database_url=world.database_url, storage_root=world.storage_root,
                     secret="flow-browser-" + "k" * 40)
    with serve(app) as base:
        yield base


@pytest.fixture
def browser() -> Iterator:
    with chromium() as driver:
        yield driver


def focused(css: str):
    """The element matching ``css`` has the focus (an input: with its whole value selected)."""
    def check(driver) -> bool:
        return bool(driver.execute_script(
            "const e = document.activeElement;"
            "if (!e || !e.matches(arguments[0])) return false;"
            "return e.tagName !== 'INPUT' || (e.selectionStart === 0 && e.selectionEnd === e.value.length);",
            css))
    return check


def state(world: World, key: str):
    return store.get_item(world.engine, world.users["quantri"], world.items[key])


def outcome(world: World, key: str) -> tuple[str, str | None]:
    it = state(world, key)
    return it.status, it.final_value


def on_item(world: World, key: str):
    return lambda d: f"/items/{world.items[key]}" in d.current_url


def keys(driver, *k) -> None:
    driver.switch_to.active_element.send_keys(*k)


def errors(driver) -> list[str]:
    return console_errors(driver, ignore=("status of 422",))


def test_keyboard_only_blank_skip_f2_confirm_undo_and_leaving(server, browser, world):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    login(browser, server, "an.bd", PASSWORD)
    # The queue: the first batch's start button has the focus; Enter claims (a POST) and opens the field.
    _wait(browser, focused("button.start-batch"), message="the queue's start button has no focus")
    assert "còn 6 ô · hôm nay bạn đã duyệt 0" in browser.find_element(By.ID, "progress").text
    keys(browser, Keys.ENTER)
    _wait(browser, on_item(world, "toan_ca_nam"), message="Enter on the queue did not open the first field")
    _wait(browser, focused("#value"))
    crumbs = browser.find_element(By.CSS_SELECTOR, "nav.crumbs").text
    assert crumbs == ("Trường THCS Nguyễn Du › Nguyễn Văn An · sổ THCS01-0001 › Năm học 2023-2024 · lớp 8 · "
                      "trang 2 › Toán — Cả năm")

    # Page Down shows the book's other page (the field's box hidden there), Page Up comes back.
    page = browser.find_element(By.CSS_SELECTOR, "img.page")
    own = page.get_attribute("src")
    _wait(browser, lambda d: not d.find_element(By.CSS_SELECTOR, ".stage .box").get_attribute("hidden"))
    keys(browser, Keys.PAGE_UP)
    _wait(browser, lambda d: "page=THCS01-0001-p01" in page.get_attribute("src") and d.execute_script(
        "const i = document.querySelector('img.page'); return i.complete && i.naturalWidth > 0;"))
    assert browser.find_element(By.CSS_SELECTOR, ".stage .box").get_attribute("hidden") is not None
    assert "Trang 1" in browser.find_element(By.CSS_SELECTOR, ".page-label").text
    keys(browser, Keys.PAGE_DOWN)
    _wait(browser, lambda d: page.get_attribute("src") == own)
    _wait(browser, lambda d: not d.find_element(By.CSS_SELECTOR, ".stage .box").get_attribute("hidden"))
    assert state(world, "toan_ca_nam").status == "claimed"  # looking around changes nothing

    # Enter accepts 8,4; the next field has nothing proposed: Enter on the empty input = blank on paper.
    keys(browser, Keys.ENTER)
    _wait(browser, on_item(world, "ngu_van_ca_nam"))
    _wait(browser, focused("#value"))
    assert browser.find_element(By.ID, "value").get_attribute("value") == ""
    assert "Lưu: ô trống trên sổ" in browser.find_element(By.ID, "btn-save").text
    keys(browser, Keys.ENTER)
    _wait(browser, on_item(world, "toan_hk1"), message="Enter on an empty input did not save")
    assert outcome(world, "ngu_van_ca_nam") == ("done", None)

    # Esc skips: the field is released and the next one opens.
    _wait(browser, focused("#value"))
    keys(browser, Keys.ESCAPE)
    _wait(browser, on_item(world, "vat_li_hk2"), message="Esc did not skip to the next field")
    assert (state(world, "toan_hk1").status, state(world, "toan_hk1").claimed_by) == ("open", None)
    assert [a.action for a in store.audit(world.engine, item_id=world.items["toan_hk1"], limit=1)] == ["skip"]

    # F2 asks first; Esc cancels the question (not the field), F2 + Enter confirms.
    _wait(browser, focused("#value"))
    keys(browser, Keys.F2)
    _wait(browser, focused("#btn-paper-confirm"), message="F2 did not ask for a confirmation")
    assert browser.find_element(By.ID, "paper-form").is_displayed()
    browser.save_screenshot(str(ARTIFACTS / "review-f2-confirm.png"))
    assert state(world, "vat_li_hk2").status == "claimed"
    keys(browser, Keys.ESCAPE)
    _wait(browser, focused("#value"), message="Esc did not close the question")
    assert not browser.find_element(By.ID, "paper-form").is_displayed()
    assert state(world, "vat_li_hk2").status == "claimed" and on_item(world, "vat_li_hk2")(browser)
    keys(browser, Keys.F2)
    _wait(browser, focused("#btn-paper-confirm"))
    keys(browser, Keys.ENTER)
    _wait(browser, on_item(world, "hoc_luc"), message="the confirmation did not go to the next field")
    assert state(world, "vat_li_hk2").status == "needs_paper"
    bar = browser.find_element(By.ID, "undo-form")
    assert "Đã chuyển «Vật lí — HK II»" in bar.text and "Hoàn tác" in bar.text

    # Ctrl+Z (nothing typed yet) takes it back: the field is the reviewer's again, to decide.
    _wait(browser, focused("#value"))
    keys(browser, Keys.CONTROL, "z")
    _wait(browser, on_item(world, "vat_li_hk2"), message="Ctrl+Z did not undo")
    _wait(browser, focused("#value"))
    it = state(world, "vat_li_hk2")
    assert (it.status, it.claimed_by) == ("claimed", world.users["an.bd"].id)

    # Leaving by a link gives the claim back (review.js's beacon on pagehide).
    browser.find_element(By.ID, "to-queue").click()
    _wait(browser, lambda d: d.current_url == f"{server}/")
    _wait(browser, lambda d: state(world, "vat_li_hk2").status == "open",
          message="the claim was not released")
    assert "hôm nay bạn đã duyệt 3" in browser.find_element(By.ID, "progress").text
    assert errors(browser) == []


def test_group_mode_blank_and_f2_with_confirm_and_undo(server, browser, world):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    login(browser, server, "an.bd", PASSWORD)
    browser.find_element(By.CSS_SELECTOR, 'tr[data-field-type="score"] button.as-group').click()
    _wait(browser, lambda d: "/group?" in d.current_url)
    keys_ = ["toan_ca_nam", "ngu_van_ca_nam", "toan_hk1", "vat_li_hk2"]
    ids = [world.items[k] for k in keys_]
    cards = browser.find_elements(By.CSS_SELECTOR, ".card")
    assert [int(c.get_attribute("data-item")) for c in cards] == ids

    def on_card(i: int):
        return focused(f'.g-input[data-item="{ids[i]}"]')

    def card(i: int):
        return browser.find_elements(By.CSS_SELECTOR, ".card")[i]

    _wait(browser, on_card(0))
    keys(browser, Keys.ENTER)                                   # 8,4 accepted
    _wait(browser, on_card(1))
    keys(browser, Keys.ENTER)                                   # empty, nothing proposed: blank on paper
    _wait(browser, on_card(2), message="Enter on an empty card did not save it")
    assert outcome(world, "ngu_van_ca_nam") == ("done", None)
    keys(browser, Keys.F2)                                      # asks first …
    _wait(browser, lambda d: card(2).find_element(By.CSS_SELECTOR, ".card-confirm").is_displayed())
    assert state(world, "toan_hk1").status == "claimed"
    keys(browser, Keys.ESCAPE)                                  # … Esc cancels the question only
    _wait(browser, lambda d: not card(2).find_element(By.CSS_SELECTOR, ".card-confirm").is_displayed())
    assert "/group?" in browser.current_url and state(world, "toan_ca_nam").status == "done"
    keys(browser, Keys.F2)
    _wait(browser, lambda d: card(2).find_element(By.CSS_SELECTOR, ".card-confirm").is_displayed())
    keys(browser, Keys.ENTER)                                   # … Enter confirms
    _wait(browser, lambda d: "Cần xem sổ giấy" in card(2).find_element(By.CSS_SELECTOR, ".card-done").text)
    assert state(world, "toan_hk1").status == "needs_paper"
    _wait(browser, on_card(3))
    card(2).find_element(By.CSS_SELECTOR, ".card-undo").click()  # undone: the card is open again
    _wait(browser, on_card(2), message="undo did not reopen the card")
    assert (state(world, "toan_hk1").status, state(world, "toan_hk1").claimed_by) == (
        "claimed", world.users["an.bd"].id)
    keys(browser, "6,5", Keys.ENTER)
    _wait(browser, on_card(3))
    keys(browser, Keys.ENTER)
    # The whole group done: the next group is claimed by a POST; none is left.
    _wait(browser, lambda d: "Không còn trường nào cần duyệt" in d.page_source, message="no next group")
    assert [(state(world, k).status, state(world, k).final_value) for k in keys_] == [
        ("done", "8,4"), ("done", None), ("done", "6,5"), ("done", "9,1")]
    assert errors(browser) == []


def test_the_data_team_resolves_the_needs_paper_list(server, browser, world):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    an = world.users["an.bd"]
    for key in ("toan_hk1", "vat_li_hk2"):
        store.submit(world.engine, an, world.items[key], action="illegible")
    login(browser, server, "dung.bd", PASSWORD)
    browser.find_element(By.ID, "nav-paper").click()
    _wait(browser, lambda d: d.current_url == f"{server}/paper")
    rows = browser.find_elements(By.CSS_SELECTOR, "form.paper-row")
    marked = [world.items[k] for k in ("toan_hk1", "vat_li_hk2")]
    assert [int(r.get_attribute("data-item")) for r in rows] == marked
    where = "Trường THCS Nguyễn Du › Trần Thị Bình · sổ THCS01-0002 › Năm học 2023-2024 · lớp 8 · trang 2"
    assert where in rows[0].text
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "review-paper-list.png"))
    _wait(browser, focused(f"#paper-value-{world.items['toan_hk1']}"))
    keys(browser, "6.5", Keys.ENTER)  # what the paper says, typed the way people type it
    _wait(browser, lambda d: "Đã lưu kết quả xem sổ giấy" in d.page_source)
    assert (state(world, "toan_hk1").status, state(world, "toan_hk1").final_value) == ("done", "6,5")
    _wait(browser, focused(f"#paper-value-{world.items['vat_li_hk2']}"))
    browser.find_element(By.CSS_SELECTOR, "form.paper-row button[name='not_on_paper']").click()
    _wait(browser, lambda d: "Không có trường nào cần xem sổ giấy" in d.page_source)
    it = state(world, "vat_li_hk2")
    assert (it.status, it.final_value, it.resolved_by) == ("done", None, world.users["dung.bd"].id)
    audited = [(a.item_id, a.new_value, a.detail["not_on_paper"])
               for a in reversed(store.audit(world.engine, action="paper_resolve"))]
    assert audited == [(world.items["toan_hk1"], "6,5", False), (world.items["vat_li_hk2"], None, True)]
    assert errors(browser) == []


def test_the_data_team_reopens_a_finished_field(server, browser, world):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    i = world.items["toan_hk1"]
    store.submit(world.engine, world.users["an.bd"], i, action="accept")
    login(browser, server, "dung.bd", PASSWORD, f"/items/{i}")
    assert "đã duyệt: 6,5" in browser.find_element(By.CSS_SELECTOR, "p.note").text
    browser.find_element(By.ID, "reopen-reason").send_keys("giáo viên báo nhập sai", Keys.ENTER)
    _wait(browser, lambda d: d.find_elements(By.ID, "item-form"), message="reopen did not open the field")
    _wait(browser, focused("#value"))
    assert browser.find_element(By.ID, "value").get_attribute("value") == "6,5"
    assert state(world, "toan_hk1").claimed_by == world.users["dung.bd"].id
    keys(browser, "7,0", Keys.ENTER)
    _wait(browser, lambda d: state(world, "toan_hk1").status == "done")
    assert state(world, "toan_hk1").final_value == "7,0"
    [row] = store.audit(world.engine, item_id=i, action="reopen")
    assert (row.old_value, row.reason) == ("6,5", "giáo viên báo nhập sai")
    assert errors(browser) == []
