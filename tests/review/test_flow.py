"""The reviewer's way through the console over HTTP (issue 14, parts 4 and 5).

A GET never changes state; an empty entry is "blank on the paper" on the item page, in group mode and in
the JSON API; Esc skips; a page left behind is released and "next" gives one's own open claim first; F2
asks first and can be undone until the batch is accepted; the data team resolves the "Cần xem sổ giấy"
list and reopens finished fields, each audited; the queue shows open work first, school and student
names, progress, breadcrumbs in words, search and the book's pages. Real SQLite (and PostgreSQL when
HOCBA_TEST_DATABASE_URL is set), real HTTP through TestClient, the stage tables written as the pipeline
writes them.
"""

from __future__ import annotations

import html as htmllib
import logging
import re

import pytest
from fastapi.testclient import TestClient

from pipelines.review import pages, store
from pipelines.review.app import create_app
from pipelines.table_io import table_path
from tests.review.webfixtures import (
    BATCH_A,
    BATCH_B,
    PASSWORD,
    SCHOOL_A_NAME,
    STUDENT_1,
    STUDENT_2,
    World,
    build_world,
    csrf_of,
    write_book_tables,
)

SECRET = "flow-secret-" + "y" * 40


@pytest.fixture
def world(tmp_path, hocba_home, db_url) -> World:
    return build_world(tmp_path / "world", db_url)


@pytest.fixture
def app(world):
    return create_app(database_url=world.database_url, storage_root=world.storage_root, secret=SECRET)


def client(app, username: str) -> TestClient:
    c = TestClient(app, follow_redirects=False)
    t = csrf_of(c.get("/login").text)
    assert c.post("/login", data={"username": username, "password": PASSWORD, "next": "/",
                                  "csrf_token": t}).status_code == 303
    return c


@pytest.fixture
def an(app) -> TestClient:
    return client(app, "an.bd")


@pytest.fixture
def dung(app) -> TestClient:
    """The data team of district A."""
    return client(app, "dung.bd")


def token(c: TestClient) -> str:
    return csrf_of(c.get("/").text)


def post(c: TestClient, url: str, **data):
    return c.post(url, data={"csrf_token": token(c), **data})


def api(c: TestClient, url: str, body: dict):
    return c.post(url, json=body, headers={"X-CSRF-Token": token(c)})


def item(world: World, key: str):
    return store.get_item(world.engine, world.users["quantri"], world.items[key])


def actions(world: World, key: str) -> list[str]:
    return [a.action for a in reversed(store.audit(world.engine, item_id=world.items[key]))]


def text_of(fragment: str) -> str:
    """The words a person reads in an HTML fragment."""
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def crumbs(page: str) -> str:
    m = re.search(r'<nav class="crumbs" aria-label="Vị trí">(.*?)</nav>', page, re.S)
    assert m, "no breadcrumbs"
    return text_of(m.group(1))


# --- 4. a GET never changes state ------------------------------------------------------------
def test_a_get_never_claims_or_changes_anything(an, world):
    """A link on another site (SameSite=Lax sends the cookie on a top-level GET) must claim nothing."""
    i = world.items["toan_ca_nam"]
    before = len(store.audit(world.engine))
    for path in [f"/items/{i}", f"/review/next?batch={BATCH_A}",
                 f"/review/next?batch={BATCH_A}&field_type=score",
                 f"/group?batch={BATCH_A}&field_type=score", f"/group?batch={BATCH_A}", "/",
                 "/search?q=an", f"/items/{i}?undo={i}", f"/api/items/{i}", "/api/batches"]:
        assert an.get(path).status_code == 200, path
    assert len(store.audit(world.engine)) == before
    assert {item(world, k).status for k in world.items} == {"open"}
    # The page shows the field read-only and offers the claim as a POST carrying the CSRF token.
    page = an.get(f"/items/{i}").text
    assert 'id="item-form"' not in page
    form = re.search(rf'<form id="claim-form" method="post" action="/items/{i}/claim">(.*?)</form>', page,
                     re.S).group(1)
    assert f'name="csrf_token" value="{csrf_of(page)}"' in form and "autofocus" in form
    # A forged POST (no token) claims nothing either; the real button does.
    assert an.post(f"/items/{i}/claim").status_code == 403 and item(world, "toan_ca_nam").status == "open"
    r = post(an, f"/items/{i}/claim")
    assert r.status_code == 303 and r.headers["location"] == f"/items/{i}"
    assert item(world, "toan_ca_nam").claimed_by == world.users["an.bd"].id
    assert 'id="item-form"' in an.get(f"/items/{i}").text
    # GET /review/next and GET /group offer their claim as a POST too.
    start = an.get(f"/review/next?batch={BATCH_A}").text
    assert '<form method="post" action="/review/next">' in start
    assert 'name="batch" value="HN-BD/HN-BD-THCS01/2024-001"' in start
    group = an.get(f"/group?batch={BATCH_A}&field_type=date").text
    assert 'id="group-claim-form" method="post" action="/group/claim"' in group and 'class="card' not in group


def test_the_queue_starts_with_the_keyboard_from_a_post(app, world):
    """Batches with open work come first; the first one's start button has the focus (Enter starts)."""
    admin = client(app, "quantri")
    for key in ("toan_ca_nam", "ngu_van_ca_nam", "toan_hk1", "vat_li_hk2", "hoc_luc", "full_name"):
        store.submit(world.engine, world.users["quantri"], world.items[key], action="correct", value="")
    page = admin.get("/").text
    sections = re.findall(r'<section class="batch[^"]*" data-batch="([^"]+)"', page)
    assert sections == [BATCH_B, BATCH_A]  # A is finished: after B although A sorts first
    start = re.search(r'<form method="post" action="/review/next" class="inline start">(.*?)</form>', page,
                      re.S).group(1)
    assert f'name="batch" value="{BATCH_B}"' in start and "autofocus" in start
    assert page.count("autofocus") == 1
    r = admin.post("/review/next", data={"csrf_token": csrf_of(page), "batch": BATCH_B})
    b = world.items["b_toan_ca_nam"]
    assert r.headers["location"] == f"/items/{b}?batch=HN-CG%2FHN-CG-THCS02%2F2024-001"


# --- 5. blank on the paper, everywhere ----------------------------------------------------------
def test_an_empty_entry_with_nothing_proposed_is_blank_on_the_paper(an, world):
    j = world.items["ngu_van_ca_nam"]  # nothing proposed (read "7,O")
    post(an, f"/items/{j}/claim")
    assert "để trống = ô trống trên sổ" in an.get(f"/items/{j}").text
    r = post(an, f"/items/{j}", action="auto", value="", batch=BATCH_A, field_type="score")
    assert r.status_code == 303 and r.headers["location"].startswith(f"/items/{world.items['toan_ca_nam']}?")
    it = item(world, "ngu_van_ca_nam")
    assert (it.status, it.final_value) == ("done", None)
    [row] = store.audit(world.engine, item_id=j, action="correct")
    assert (row.old_value, row.new_value, row.user_id) == (None, None, world.users["an.bd"].id)


def test_an_empty_entry_is_blank_in_group_mode_and_the_api(an, world):
    j, k = world.items["ngu_van_ca_nam"], world.items["toan_hk1"]
    r = api(an, f"/api/items/{j}", {"action": "auto", "value": ""})
    assert r.status_code == 200 and (r.json()["status"], r.json()["final_value"]) == ("done", None)
    r = api(an, f"/api/items/{k}", {"action": "correct"})  # no value at all: blank too
    assert r.status_code == 200 and (r.json()["status"], r.json()["final_value"]) == ("done", None)
    # Group mode: an untouched empty card with nothing proposed, confirmed with the rest.
    store.reopen(world.engine, world.users["dung.bd"], j)
    store.release(world.engine, world.users["dung.bd"], j)
    post(an, "/group/claim", batch=BATCH_A, field_type="score")
    a = world.items["toan_ca_nam"]
    r = an.post("/group", data={"csrf_token": token(an), "batch": BATCH_A, "field_type": "score",
                                "item": [str(a), str(j)], f"value_{a}": "8,4", f"value_{j}": ""})
    assert r.status_code == 303
    assert (item(world, "ngu_van_ca_nam").status, item(world, "ngu_van_ca_nam").final_value) == ("done", None)
    assert actions(world, "ngu_van_ca_nam")[-1] == "correct"


# --- Esc skips ----------------------------------------------------------------------------------------
def test_esc_skips_to_the_next_field_and_the_skipped_one_goes_to_the_back(an, world):
    nav = {"batch": BATCH_A, "field_type": "score"}
    a, b, c, d = (world.items[k] for k in ("toan_ca_nam", "ngu_van_ca_nam", "toan_hk1", "vat_li_hk2"))
    assert post(an, "/review/next", **nav).headers["location"].startswith(f"/items/{a}?")
    r = post(an, f"/items/{a}/skip", **nav)
    assert r.status_code == 303 and r.headers["location"].startswith(f"/items/{b}?")
    assert (item(world, "toan_ca_nam").status, item(world, "toan_ca_nam").claimed_by) == ("open", None)
    assert actions(world, "toan_ca_nam") == ["claim", "skip"]
    assert post(an, f"/items/{b}/skip", **nav).headers["location"].startswith(f"/items/{c}?")
    r = post(an, f"/items/{c}", action="auto", value="6,5", **nav)
    assert r.headers["location"].startswith(f"/items/{d}?")
    r = post(an, f"/items/{d}", action="auto", value="9,1", **nav)
    assert r.headers["location"].startswith(f"/items/{a}?")  # only skipped ones left: the oldest skip
    # Another reviewer still gets the skipped fields in queue order.
    r = post(client(an.app, "dung.bd"), "/review/next", **nav)
    assert r.headers["location"].startswith(f"/items/{b}?")
    # The last one left comes back, said plainly.
    post(an, f"/items/{a}", action="auto", value="8,4", **nav)
    store.release(world.engine, world.users["dung.bd"], b)
    r = post(an, "/review/next", **nav)
    assert r.headers["location"].startswith(f"/items/{b}?")
    r = post(an, f"/items/{b}/skip", **nav)
    assert r.headers["location"].startswith(f"/items/{b}?")
    assert "Chỉ còn trường này trong phần bạn đang duyệt." in an.get(r.headers["location"]).text


# --- leaving a field ---------------------------------------------------------------------------------
def test_a_field_left_behind_comes_back_first_and_the_leave_beacon_releases_it(an, app, world):
    nav = {"batch": BATCH_A}
    a = world.items["toan_ca_nam"]
    assert post(an, "/review/next", **nav).headers["location"].startswith(f"/items/{a}?")
    an.get("/")  # left by a link (or Back): the claim is still held …
    assert item(world, "toan_ca_nam").claimed_by == world.users["an.bd"].id
    # … and "next" hands it back to its claimer first, not the one after it.
    assert post(an, "/review/next", **nav).headers["location"].startswith(f"/items/{a}?")
    r = post(an, "/review/next", batch=BATCH_A, field_type="score")
    assert r.headers["location"].startswith(f"/items/{a}?")
    # review.js's pagehide beacon: navigator.sendBeacon(url, URLSearchParams) with the CSRF token.
    r = an.post(f"/items/{a}/release", content=f"csrf_token={token(an)}",
                headers={"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"})
    assert r.status_code == 303 and item(world, "toan_ca_nam").status == "open"
    assert actions(world, "toan_ca_nam")[-1] == "release"
    # Without the token the beacon (or a forger) releases nothing.
    post(an, f"/items/{a}/claim")
    assert an.post(f"/items/{a}/release", content="x=1", headers={
        "Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"}).status_code == 403
    assert item(world, "toan_ca_nam").status == "claimed"
    assert f'data-item="{a}"' in an.get(f"/items/{a}").text  # what review.js releases on pagehide


# --- F2: confirmation, undo, the data team's list -------------------------------------------------
def test_f2_asks_first_and_the_same_reviewer_can_undo_until_the_batch_is_accepted(an, dung, world):
    nav = {"batch": BATCH_A, "field_type": "score"}
    c = world.items["toan_hk1"]
    post(an, f"/items/{c}/claim")
    r = post(an, f"/items/{c}", action="illegible", value="6,5", **nav)  # F2 without JavaScript
    assert r.status_code == 200
    assert re.search(r'<form id="paper-form" class="confirm"[^>]*role="alertdialog"[^>]*>', r.text)
    assert not re.search(r'<form id="paper-form"[^>]* hidden>', r.text)
    assert 'id="btn-paper-confirm" type="submit" class="warn" autofocus' in r.text
    assert (item(world, "toan_hk1").status, actions(world, "toan_hk1")) == ("claimed", ["claim"])
    assert api(an, f"/api/items/{c}", {"action": "illegible"}).json()["error"] == "confirm_required"
    assert item(world, "toan_hk1").status == "claimed"
    # Confirmed: to the paper book, and the next field offers the undo.
    r = post(an, f"/items/{c}", action="illegible", confirm="1", **nav)
    assert r.status_code == 303 and r.headers["location"].endswith(f"&undo={c}")
    assert item(world, "toan_hk1").status == "needs_paper"
    nxt = an.get(r.headers["location"]).text
    bar = re.search(r'<form id="undo-form" class="undo-bar" method="post" action="/items/(\d+)/undo-paper"'
                    r'.*?</form>', nxt, re.S)
    assert bar and int(bar.group(1)) == c
    assert "Đã chuyển «Toán — HK I» (Sổ THCS01-0002) sang danh sách cần xem sổ giấy. Hoàn tác Ctrl + Z" in (
        text_of(bar.group(0)))
    # Someone else cannot undo it; its own reviewer can.
    assert post(dung, f"/items/{c}/undo-paper").status_code == 409
    r = post(an, f"/items/{c}/undo-paper", **nav)
    assert r.status_code == 303 and r.headers["location"].startswith(f"/items/{c}?")
    it = item(world, "toan_hk1")
    assert (it.status, it.claimed_by, it.final_value) == ("claimed", world.users["an.bd"].id, None)
    assert 'id="item-form"' in an.get(r.headers["location"]).text
    assert actions(world, "toan_hk1") == ["claim", "illegible", "paper_undo"]
    # Once the batch's accepted_records are written after the mark, the undo is gone.
    post(an, f"/items/{c}", action="illegible", confirm="1", **nav)
    world.storage.write_bytes(table_path("accepted_records", BATCH_A), b"PAR1")
    assert 'id="undo-form"' not in an.get(f"/items/{c}?undo={c}").text
    r = post(an, f"/items/{c}/undo-paper")
    assert r.status_code == 409 and "đã được chấp nhận" in r.text
    assert item(world, "toan_hk1").status == "needs_paper"


def test_the_needs_paper_list_is_the_data_teams_and_scoped(an, dung, app, world):
    write_book_tables(world)
    for key in ("toan_hk1", "vat_li_hk2", "hoc_luc"):
        r = api(an, f"/api/items/{world.items[key]}", {"action": "illegible", "confirm": True})
        assert r.status_code == 200
    store.submit(world.engine, world.users["quantri"], world.items["b_toan_hk1"], action="illegible")
    assert an.get("/paper").status_code == 403 and "/paper" not in an.get("/").text.split("</header>")[0]
    page = dung.get("/paper")
    assert page.status_code == 200 and "Cần xem sổ giấy" in page.text
    rows = re.findall(r'<form class="paper-row[^"]*" method="post" action="/paper/(\d+)"', page.text)
    assert [int(x) for x in rows] == [world.items[k] for k in ("toan_hk1", "vat_li_hk2", "hoc_luc")]
    where = f"{SCHOOL_A_NAME} › {STUDENT_2[1]} · sổ THCS01-0002 › Năm học 2023-2024 · lớp 8 · trang 2"
    assert where in text_of(page.text)
    c, v, h, b = (world.items[k] for k in ("toan_hk1", "vat_li_hk2", "hoc_luc", "b_toan_hk1"))
    # A value read on the paper, checked like any entry.
    r = post(dung, f"/paper/{c}", value="12,5")
    assert r.status_code == 422 and "từ 0 đến 10" in r.text
    assert item(world, "toan_hk1").status == "needs_paper"
    r = post(dung, f"/paper/{c}", value="6.5")
    assert r.status_code == 303 and r.headers["location"] == "/paper"
    assert (item(world, "toan_hk1").status, item(world, "toan_hk1").final_value) == ("done", "6,5")
    assert "Đã lưu kết quả xem sổ giấy" in dung.get("/paper").text
    # "Không có trên sổ", and the same from the item page's form.
    assert post(dung, f"/paper/{v}", value="9,9", not_on_paper="1").status_code == 303
    assert (item(world, "vat_li_hk2").status, item(world, "vat_li_hk2").final_value) == ("done", None)
    assert f'action="/paper/{h}"' in dung.get(f"/items/{h}").text
    assert post(dung, f"/paper/{h}", value="Khá").status_code == 303
    # Outside the scope, and for a reviewer: refused.
    assert post(dung, f"/paper/{b}", value="4,0").status_code == 403
    assert post(an, f"/paper/{b}", value="4,0").status_code == 403
    assert item(world, "b_toan_hk1").status == "needs_paper"
    [row] = store.audit(world.engine, item_id=v, action="paper_resolve")
    assert (row.user_id, row.new_value, row.detail) == (
        world.users["dung.bd"].id, None, {"not_on_paper": True})
    assert "Không có trường nào cần xem sổ giấy" in dung.get("/paper").text


def test_the_data_team_reopens_a_finished_field_and_corrects_it(an, dung, world):
    c = world.items["toan_hk1"]
    assert api(an, f"/api/items/{c}", {"action": "auto", "value": "6,5"}).status_code == 200
    assert 'id="reopen-form"' not in an.get(f"/items/{c}").text
    assert post(an, f"/items/{c}/reopen").status_code == 403
    assert 'id="reopen-form"' in dung.get(f"/items/{c}").text
    r = post(dung, f"/items/{c}/reopen", reason="giáo viên báo nhập sai")
    assert r.status_code == 303 and r.headers["location"] == f"/items/{c}"
    page = dung.get(f"/items/{c}").text
    assert 'id="item-form"' in page and "Giá trị trước khi mở lại" in page
    assert re.search(r'<input id="value" name="value" value="6,5"', page)  # Enter keeps it unless changed
    assert post(dung, f"/items/{c}", action="auto", value="7,0").status_code == 303
    assert (item(world, "toan_hk1").status, item(world, "toan_hk1").final_value) == ("done", "7,0")
    [row] = store.audit(world.engine, item_id=c, action="reopen")
    assert (row.user_id, row.old_value, row.reason) == (
        world.users["dung.bd"].id, "6,5", "giáo viên báo nhập sai")
    assert actions(world, "toan_hk1") == ["accept", "reopen", "correct"]
    assert post(dung, f"/items/{world.items['b_toan_hk1']}/reopen").status_code == 403  # outside the scope


# --- the queue, breadcrumbs, search, the book ---------------------------------------------------------
def test_queue_and_item_pages_show_names_and_progress(an, world):
    write_book_tables(world)
    page = an.get("/").text
    assert f"{SCHOOL_A_NAME} (HN-BD-THCS01)" in text_of(page)
    assert '<p class="progress" id="progress">còn 6 ô · hôm nay bạn đã duyệt 0</p>' in page
    assert f"{STUDENT_1[1]} · sổ THCS01-0001" in text_of(page)
    r = api(an, f"/api/items/{world.items['toan_hk1']}", {"action": "auto", "value": "6,5"})
    assert r.status_code == 200
    assert "còn 5 ô · hôm nay bạn đã duyệt 1" in an.get("/").text
    words = pages.progress_words({"remaining": 1569, "done_today": 120})
    assert words == "còn 1.569 ô · hôm nay bạn đã duyệt 120"  # dots between thousands
    i = world.items["toan_ca_nam"]
    post(an, f"/items/{i}/claim", batch=BATCH_A, field_type="score")
    item_page = an.get(f"/items/{i}?batch={BATCH_A}&field_type=score").text
    assert crumbs(item_page) == (f"{SCHOOL_A_NAME} › {STUDENT_1[1]} · sổ THCS01-0001 › "
                                 "Năm học 2023-2024 · lớp 8 · trang 2 › Toán — Cả năm")
    assert "còn 3 ô · hôm nay bạn đã duyệt 1" in item_page  # the scores left in batch A
    # The book's other pages, one key away (Page Up / Page Down in review.js).
    book = re.search(r'<nav class="book-pages"[^>]*>(.*?)</nav>', item_page, re.S).group(1)
    assert text_of(book).startswith("Các trang của sổ ( Page Up / Page Down ): Trang 1 Năm học 2023-2024")
    assert 'aria-current="page">Năm học 2023-2024 · lớp 8 · trang 2<' in book


def test_breadcrumbs_without_the_tables_say_the_codes_plainly(app, world):
    binh = client(app, "binh.cg")
    assert crumbs(binh.get(f"/items/{world.items['b_toan_hk1']}").text) == (
        "Trường mã HN-CG-THCS02 › Sổ THCS02-0001 › Trang không rõ số › Toán — HK I")


def test_search_by_name_identifier_or_book_within_the_scope(an, app, world):
    write_book_tables(world)

    def hits(c, q):
        return re.findall(r'<tr data-book="([^"]+)">', c.get("/search", params={"q": q}).text)

    assert hits(an, "nguyen van an") == ["THCS01-0001"]      # no diacritics, any case
    assert hits(an, "Trần Thị") == ["THCS01-0002"]
    assert hits(an, "001308054321") == ["THCS01-0002"]        # the identifier read on the page
    assert hits(an, "0012080") == ["THCS01-0001"]             # the roster's, by its first digits
    assert hits(an, "thcs01-000") == ["THCS01-0001", "THCS01-0002"]
    assert hits(an, "không có ai") == [] and "Không tìm thấy sổ nào" in an.get("/search?q=khong co ai").text
    binh = client(app, "binh.cg")
    assert hits(binh, "nguyen van an") == [] and hits(binh, "thcs02") == ["THCS02-0001"]
    r = an.get("/search", params={"q": "an"})
    assert 'href="/book?batch=HN-BD%2FHN-BD-THCS01%2F2024-001&amp;book=THCS01-0001"' in r.text


def test_the_book_page_and_its_page_images_are_scoped(an, app, world):
    write_book_tables(world)
    url = f"/book?batch={BATCH_A}&book=THCS01-0001"
    page = an.get(url)
    assert page.status_code == 200
    words = text_of(page.text)
    assert STUDENT_1[1] in words and SCHOOL_A_NAME in words and "Trang 1" in words
    assert "Năm học 2023-2024 · lớp 8 · trang 2 Toán — Cả năm — chờ duyệt" in words
    p01 = an.get(f"/book/page?batch={BATCH_A}&page=THCS01-0001-p01")  # a page with no flagged field
    assert p01.status_code == 200 and p01.headers["content-type"] == "image/png"
    assert p01.content == world.storage.read_bytes(f"pages/{BATCH_A}/THCS01-0001-p01.png")
    assert an.get(f"/book/page?batch={BATCH_A}&page=THCS01-0001-p02").status_code == 200
    binh = client(app, "binh.cg")
    assert binh.get(url).status_code == 404
    assert binh.get(f"/book/page?batch={BATCH_A}&page=THCS01-0001-p01").status_code == 404
    assert an.get(f"/book/page?batch={BATCH_A}&page=nope").status_code == 404


def test_no_personal_data_in_the_logs(an, dung, world, caplog):
    write_book_tables(world)
    caplog.set_level(logging.DEBUG)
    f = world.items["full_name"]
    post(an, f"/items/{f}/claim")
    post(an, f"/items/{f}", action="auto", value="Nguyễn Văn Ân")
    an.get("/search", params={"q": "Trần Thị Bình"})
    an.get(f"/book?batch={BATCH_A}&book=THCS01-0001")
    c = world.items["toan_hk1"]
    api(an, f"/api/items/{c}", {"action": "illegible", "confirm": True})
    post(dung, f"/paper/{c}", value="6,75")
    post(dung, f"/paper/{c}", value="6,5")
    post(dung, f"/items/{c}/reopen", reason="Nguyễn Văn Ân nhờ sửa")
    logged = caplog.text
    assert "review decision" in logged or "paper resolved" in logged  # something was logged …
    for secret in ("Nguyễn", "Trần", "Bình", "6,5", "6,75", STUDENT_1[0], STUDENT_2[0]):
        assert secret not in logged, secret  # … ids only


def test_the_new_pages_keep_to_the_content_security_policy(an, dung, world):
    """No inline script, style or handler on the new pages (the CSP would silently break them)."""
    write_book_tables(world)
    c = world.items["toan_hk1"]
    api(an, f"/api/items/{c}", {"action": "illegible", "confirm": True})
    post(an, f"/items/{world.items['toan_ca_nam']}/claim")
    a = world.items["toan_ca_nam"]
    for who, path in [(an, f"/review/next?batch={BATCH_A}"), (an, "/search?q=an"),
                      (an, f"/items/{c}?undo={c}"), (an, f"/book?batch={BATCH_A}&book=THCS01-0001"),
                      (an, f"/items/{a}"),
                      (an, f"/group?batch={BATCH_A}"), (dung, "/paper"), (dung, f"/items/{c}"),
                      (an, f"/?undo={c}")]:
        r = who.get(path)
        assert r.status_code == 200, path
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert not re.search(r"<script(?![^>]*\bsrc=)", r.text), path
        assert " style=" not in r.text and "<style" not in r.text, path
        assert not re.search(r"\son[a-z]+=", r.text), path
