"""The review console over HTTP: sessions, CSRF, scope, every page and API endpoint, group mode.

A real SQLite database, real argon2 logins and real PNGs under a temporary storage root; requests go
through FastAPI's TestClient (httpx) into the whole ASGI stack, middleware included.
"""

from __future__ import annotations

import os
import re
import stat

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from pipelines.review import auth, store
from pipelines.review.app import LoginLimiter, console_key, create_app
from pipelines.review.labels import field_label, reason_label
from tests.review.webfixtures import BATCH_A, BATCH_B, PASSWORD, World, build_world, csrf_of

SECRET = "test-secret-" + "x" * 40


@pytest.fixture
def world(tmp_path, hocba_home, db_url) -> World:
    """On SQLite, and on PostgreSQL too when HOCBA_TEST_DATABASE_URL is set (tests/review/conftest.py)."""
    return build_world(tmp_path / "world", db_url)


@pytest.fixture
def app(world):
    return create_app(database_url=world.database_url, storage_root=world.storage_root, secret=SECRET)


def client_for(app) -> TestClient:
    return TestClient(app, follow_redirects=False)


def login(client: TestClient, username: str, password: str = PASSWORD, next_url: str = "/"):
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"username": username, "password": password, "next": next_url,
                                       "csrf_token": token})


@pytest.fixture
def an(app) -> TestClient:
    """Reviewer of district A (HN-BD), logged in."""
    c = client_for(app)
    assert login(c, "an.bd").status_code == 303
    return c


def token(client: TestClient) -> str:
    return csrf_of(client.get("/").text)


def item(world: World, key: str):
    return store.get_item(world.engine, world.users["quantri"], world.items[key])


def decisions(world: World, key: str) -> list[str]:
    return [a.action for a in store.audit(world.engine, item_id=world.items[key])
            if a.action in ("accept", "correct", "illegible", "second_entry", "second_disagree")]


def claim(client: TestClient, item_id: int, **nav: str):
    """Claim one field as its page's button does (a POST: opening a page claims nothing)."""
    return client.post(f"/items/{item_id}/claim", data={"csrf_token": token(client), **nav})


def post_next(client: TestClient, **nav: str):
    """"Duyệt lần lượt": claim the next field of this part of the queue."""
    return client.post("/review/next", data={"csrf_token": token(client), **nav})


def claim_group(client: TestClient, **nav: str):
    """"Theo nhóm": claim a group, then show it."""
    r = client.post("/group/claim", data={"csrf_token": token(client), **nav})
    assert r.status_code == 303
    return client.get(r.headers["location"])


def input_value(html: str) -> str:
    m = re.search(r'<input id="value" name="value" value="([^"]*)"', html)
    assert m, "no value input"
    return m.group(1)


# --- login, logout, sessions ------------------------------------------------------------
def test_login_page_is_vietnamese_and_login_works(app):
    c = client_for(app)
    r = c.get("/login")
    assert r.status_code == 200
    assert "Đăng nhập" in r.text and 'lang="vi"' in r.text
    r = login(c, "an.bd")
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert "hocba_console=" in cookie and "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert "secure" not in cookie.lower()
    page = c.get("/")
    assert page.status_code == 200 and "Hàng đợi trường cần duyệt" in page.text
    assert "an.bd" in page.text


def test_login_with_a_wrong_password_fails(app, world):
    c = client_for(app)
    r = login(c, "an.bd", "sai-mat-khau-roi")
    assert r.status_code == 401
    assert "Sai tên đăng nhập hoặc mật khẩu." in r.text
    assert c.get("/").status_code == 303  # still no session
    assert [a.action for a in store.audit(world.engine, action="login_failed")] == ["login_failed"]


def test_login_redirects_only_within_the_site(app):
    c = client_for(app)
    assert login(c, "an.bd", next_url="/group?batch=x").headers["location"] == "/group?batch=x"
    c2 = client_for(app)
    assert login(c2, "an.bd", next_url="//evil.example/x").headers["location"] == "/"
    for target in ["https://evil.example/", "/\t/evil.example", "/\\evil.example", "javascript:alert(1)"]:
        c3 = client_for(app)
        assert login(c3, "an.bd", next_url=target).headers["location"] == "/", target


def test_login_rate_limit_per_username_and_client(app):
    c = client_for(app)
    for _ in range(5):
        assert login(c, "an.bd", "sai-mat-khau-roi").status_code in (401, 429)
    r = login(c, "an.bd")  # even the right password is refused while blocked
    assert r.status_code == 429
    assert "Đăng nhập sai quá nhiều lần" in r.text
    assert int(r.headers["retry-after"]) > 0
    assert c.get("/").status_code == 303
    # Another account from the same client is not blocked.
    assert login(client_for(app), "binh.cg").status_code == 303


def test_login_limiter_window():
    lim = LoginLimiter(max_failures=2, window_s=1)
    key = ("an.bd", "10.0.0.1")
    lim.failed(key)
    assert lim.retry_after(key) == 0
    lim.failed(key)
    assert lim.retry_after(key) >= 1
    lim.succeeded(key)
    assert lim.retry_after(key) == 0


def test_logout_ends_the_session(an):
    t = token(an)
    r = an.post("/logout", data={"csrf_token": t})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert "Đã đăng xuất." in an.get("/login").text
    r = an.get("/")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert an.get("/api/batches").status_code == 401
    # The old token died with the session.
    assert an.post("/logout", data={"csrf_token": t}).status_code == 403


def test_a_deactivated_account_loses_its_session(an, world):
    assert an.get("/").status_code == 200
    auth.deactivate(world.engine, "an.bd")
    assert an.get("/").status_code == 303
    assert an.get("/api/batches").status_code == 401


@pytest.mark.parametrize("path", ["/", "/review/next", "/items/1", "/items/1/crop", "/items/1/page",
                                  "/group?batch=x", "/search?q=an", "/book?batch=x&book=y",
                                  "/book/page?batch=x&page=y", "/paper"])
def test_pages_require_a_session(app, path):
    r = client_for(app).get(path)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("path", ["/api/batches", "/api/items/1"])
def test_api_requires_a_session(app, path):
    r = client_for(app).get(path)
    assert r.status_code == 401
    assert r.json()["error"] == "unauthenticated"


def test_api_post_without_a_session_is_401(app, world):
    c = client_for(app)
    t = csrf_of(c.get("/login").text)  # an anonymous session's token passes CSRF, not the login check
    r = c.post(f"/api/items/{world.items['toan_hk1']}", json={"action": "accept"},
               headers={"X-CSRF-Token": t})
    assert r.status_code == 401
    assert item(world, "toan_hk1").status == "open"


# --- security -----------------------------------------------------------------------------
def _post_routes(app) -> list[str]:
    """Every POST path of the app (FastAPI's included routers unwrapped)."""
    paths: list[str] = []

    def walk(routes, prefix=""):
        for r in routes:
            if hasattr(r, "original_router"):
                walk(r.original_router.routes, prefix + r.include_context.prefix)
            elif "POST" in (getattr(r, "methods", None) or ()):
                paths.append(prefix + r.path)

    walk(app.routes)
    return sorted(paths)


def test_every_post_needs_the_csrf_token(app, an, world):
    posts = _post_routes(app)
    assert posts == ["/api/items/{item_id}", "/api/items/{item_id}/undo-paper", "/group", "/group/claim",
                     "/group/release", "/items/{item_id}", "/items/{item_id}/claim",
                     "/items/{item_id}/release", "/items/{item_id}/reopen", "/items/{item_id}/skip",
                     "/items/{item_id}/undo-paper", "/login", "/logout", "/paper/{item_id}", "/review/next"]
    item_id = world.items["toan_hk1"]
    for path in posts:
        url = path.replace("{item_id}", str(item_id))
        for headers, data in [({}, {}), ({"X-CSRF-Token": "forged"}, {}), ({}, {"csrf_token": "forged"})]:
            r = an.post(url, headers=headers, data={**data, "action": "accept", "item": str(item_id),
                                                    "value": "1,0"})
            assert r.status_code == 403, (url, headers, data)
    r = an.post(f"/api/items/{item_id}", json={"action": "accept"})
    assert r.status_code == 403 and r.json()["error"] == "csrf"
    assert "Phiên làm việc đã hết hạn" in an.post(f"/items/{item_id}", data={"action": "accept"}).text
    # Nothing changed, and the session survived.
    assert item(world, "toan_hk1").status == "open" and decisions(world, "toan_hk1") == []
    assert an.get("/").status_code == 200


def test_security_headers(an, world):
    for path in ["/", "/login", f"/items/{world.items['toan_hk1']}", "/static/review.js", "/api/batches"]:
        r = an.get(path)
        assert r.status_code == (303 if path == "/login" else 200), path  # logged in: /login redirects
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert an.get("/").headers["cache-control"] == "no-store"
    crop = an.get(f"/items/{world.items['toan_hk1']}/crop")
    assert crop.headers["cache-control"].startswith("private")


def test_https_only_sets_secure_cookies(world):
    app = create_app(database_url=world.database_url, storage_root=world.storage_root, secret=SECRET,
                     https_only=True)
    c = TestClient(app, base_url="https://testserver", follow_redirects=False)
    r = login(c, "an.bd")
    assert r.status_code == 303
    assert "secure" in r.headers["set-cookie"].lower()


def test_no_inline_script_or_style_in_pages(an, world):
    """The CSP forbids them: a page relying on one would silently break."""
    for path in ["/", f"/items/{world.items['toan_ca_nam']}", f"/group?batch={BATCH_A}&field_type=score"]:
        html = an.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert " style=" not in html and "<style" not in html, path
        assert not re.search(r"\son[a-z]+=", html), path


def test_console_key_is_made_once_and_private(tmp_path):
    key = console_key(tmp_path / "home")
    path = tmp_path / "home" / "console.key"
    assert len(key) >= 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert console_key(tmp_path / "home") == key
    assert list((tmp_path / "home").iterdir()) == [path]


def test_default_secret_comes_from_the_key_file(world, hocba_home):
    app = create_app(database_url=world.database_url, storage_root=world.storage_root)
    assert (hocba_home / "console.key").exists()
    assert login(client_for(app), "an.bd").status_code == 303


# --- scope --------------------------------------------------------------------------------
def test_a_reviewer_cannot_read_or_write_another_districts_items(an, world):
    b = world.items["b_toan_ca_nam"]
    t = token(an)
    for path in [f"/items/{b}", f"/items/{b}/crop", f"/items/{b}/page"]:
        r = an.get(path)
        assert r.status_code == 403, path
    assert "Bạn không có quyền" in an.get(f"/items/{b}").text
    r = an.get(f"/api/items/{b}")
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    r = an.post(f"/items/{b}", data={"csrf_token": t, "action": "correct", "value": "9,9"})
    assert r.status_code == 403
    assert an.post(f"/items/{b}/release", data={"csrf_token": t}).status_code == 403
    r = an.post(f"/api/items/{b}", json={"action": "correct", "value": "9,9"}, headers={"X-CSRF-Token": t})
    assert r.status_code == 403
    r = an.post("/group", data={"csrf_token": t, "item": str(b), f"value_{b}": "9,9"})
    assert r.status_code == 403
    # Nor does it show up anywhere.
    assert BATCH_B not in an.get("/").text
    assert [x["batch_id"] for x in an.get("/api/batches").json()] == [BATCH_A]
    assert "Không còn trường nào" in claim_group(an, batch=BATCH_B).text
    r = post_next(an, batch=BATCH_B)
    assert r.headers["location"] == "/"
    got = store.get_item(world.engine, world.users["quantri"], b)
    assert got.status == "open" and got.final_value is None and decisions(world, "b_toan_ca_nam") == []


def test_unknown_items_are_404(an):
    assert an.get("/items/99999").status_code == 404
    assert an.get("/items/99999/crop").status_code == 404
    assert an.get("/api/items/99999").status_code == 404
    assert an.get("/no/such/page").status_code == 404


def test_admin_and_data_team_review_within_their_scope(app, world):
    admin = client_for(app)
    login(admin, "quantri")
    assert [x["batch_id"] for x in admin.get("/api/batches").json()] == [BATCH_A, BATCH_B]
    dt = client_for(app)
    login(dt, "dung.bd")
    assert dt.get(f"/items/{world.items['b_toan_hk1']}").status_code == 403
    r = dt.post(f"/api/items/{world.items['toan_hk1']}", json={"action": "accept"},
                headers={"X-CSRF-Token": token(dt)})
    assert r.status_code == 200 and r.json()["status"] == "done"


# --- the queue ------------------------------------------------------------------------------
def test_queue_groups_by_batch_field_type_and_book(an, world):
    html = an.get("/").text
    # No roster in this world: the school is named by its code, plainly.
    assert "Trường mã HN-BD-THCS01" in html and "lô 2024-001" in html
    assert re.search(r'class="remaining" data-batch="[^"]+">6<', html)
    assert "Điểm" in html and "Xếp loại" in html and "Họ tên" in html
    # Starting is a POST (a claim), by the batch, by field type (one by one or as a group), by book.
    assert re.search(r'<form method="post" action="/review/next" class="inline start">\s*'
                     r'<input type="hidden" name="csrf_token" value="[^"]+">\s*'
                     r'<input type="hidden" name="batch" value="HN-BD/HN-BD-THCS01/2024-001">', html)
    assert html.count('action="/group/claim"') == 3 and 'name="field_type" value="score"' in html
    assert 'name="book" value="THCS01-0001"' in html
    assert "THCS01-0001" in html and "THCS01-0002" in html


def test_api_batches_counts(an, world):
    t = token(an)
    an.post(f"/api/items/{world.items['toan_hk1']}", json={"action": "accept"}, headers={"X-CSRF-Token": t})
    an.post(f"/api/items/{world.items['vat_li_hk2']}", json={"action": "illegible", "confirm": True},
            headers={"X-CSRF-Token": t})
    claim(an, world.items["toan_ca_nam"])
    assert an.get("/api/batches").json() == [{
        "batch_id": BATCH_A, "open": 3, "claimed": 1, "done": 1, "needs_paper": 1, "remaining": 4,
    }]


# --- field in context ---------------------------------------------------------------------
def test_review_next_claims_and_opens_the_field_in_context(an, world):
    r = post_next(an, batch=BATCH_A, field_type="score")
    first = world.items["toan_ca_nam"]
    assert r.status_code == 303
    assert r.headers["location"] == f"/items/{first}?batch=HN-BD%2FHN-BD-THCS01%2F2024-001&field_type=score"
    it = item(world, "toan_ca_nam")
    assert it.status == "claimed" and it.claimed_by == world.users["an.bd"].id
    html = an.get(r.headers["location"]).text
    assert "Toán — Cả năm" in html
    assert f'src="/items/{first}/crop"' in html and f'src="/items/{first}/page"' in html
    assert 'data-box="330.0,117.0,59.0,22.0"' in html
    assert "độ tin cậy thấp" in html and "Cả năm ≠ (HK I + 2·HK II)/3" in html
    assert input_value(html) == "8,4" and "autofocus" in html
    assert 'class="candidate" data-value="8,3"' in html
    assert "8.4" in html  # the raw reading
    assert "<kbd>F2</kbd>" in html and "<kbd>Esc</kbd>" in html and "<kbd>Enter</kbd>" in html
    # Another reviewer's next item is a different one.
    dt = client_for(an.app)
    login(dt, "dung.bd")
    assert post_next(dt, batch=BATCH_A, field_type="score").headers["location"].startswith(
        f"/items/{world.items['ngu_van_ca_nam']}")


def test_unknown_reason_codes_are_shown_as_they_are(an, world):
    html = an.get(f"/items/{world.items['ngu_van_ca_nam']}").text
    assert "sai định dạng" in html and "rule:brand_new_check" in html
    assert "(không có)" in html  # no proposed value


def test_accept_keeps_the_proposed_value_and_goes_to_the_next(an, world):
    i = world.items["toan_ca_nam"]
    claim(an, i)
    r = an.post(f"/items/{i}", data={"csrf_token": token(an), "action": "auto", "value": "8,4",
                                     "batch": BATCH_A, "field_type": "score"})
    assert r.status_code == 303  # straight to the next field of the same part of the queue, claimed
    nxt = world.items["ngu_van_ca_nam"]
    assert r.headers["location"] == f"/items/{nxt}?batch=HN-BD%2FHN-BD-THCS01%2F2024-001&field_type=score"
    it = item(world, "toan_ca_nam")
    assert (it.status, it.final_value, it.resolved_by) == ("done", "8,4", world.users["an.bd"].id)
    assert decisions(world, "toan_ca_nam") == ["accept"]
    assert item(world, "ngu_van_ca_nam").claimed_by == world.users["an.bd"].id


def test_correct_stores_the_canonical_value(an, world):
    i = world.items["toan_ca_nam"]
    claim(an, i)
    r = an.post(f"/items/{i}", data={"csrf_token": token(an), "action": "auto", "value": " 8.3 "})
    assert r.status_code == 303 and r.headers["location"] == f"/items/{world.items['ngu_van_ca_nam']}"
    it = item(world, "toan_ca_nam")
    assert (it.status, it.final_value) == ("done", "8,3")
    [row] = [a for a in store.audit(world.engine, item_id=i) if a.action == "correct"]
    assert (row.old_value, row.new_value, row.user_id) == ("8,4", "8,3", world.users["an.bd"].id)


def test_explicit_correct_of_a_vocabulary_field(an, world):
    i = world.items["hoc_luc"]
    r = an.post(f"/items/{i}", data={"csrf_token": token(an), "action": "correct", "value": "gioi"})
    assert r.status_code == 303
    assert item(world, "hoc_luc").final_value == "Giỏi"


def test_illegible_sends_the_field_to_the_paper_book(an, world):
    i = world.items["toan_hk1"]
    claim(an, i)
    r = an.post(f"/items/{i}", data={"csrf_token": token(an), "action": "illegible", "value": "6,5",
                                     "confirm": "1"})
    assert r.status_code == 303
    it = item(world, "toan_hk1")
    assert (it.status, it.final_value) == ("needs_paper", None)
    assert decisions(world, "toan_hk1") == ["illegible"]
    assert "cần xem sổ giấy" in an.get(f"/items/{i}").text


def test_an_invalid_correction_is_422_with_the_message_and_saves_nothing(an, world):
    i = world.items["toan_ca_nam"]
    claim(an, i)
    r = an.post(f"/items/{i}", data={"csrf_token": token(an), "action": "auto", "value": "12,5",
                                     "batch": BATCH_A})
    assert r.status_code == 422
    assert "Giá trị nằm ngoài khoảng cho phép" in r.text and "từ 0 đến 10" in r.text
    assert input_value(r.text) == "12,5"  # the typed text is kept
    assert 'name="batch" value="HN-BD/HN-BD-THCS01/2024-001"' in r.text  # and where the reviewer was
    it = item(world, "toan_ca_nam")
    assert it.status == "claimed" and it.final_value is None
    assert decisions(world, "toan_ca_nam") == []
    j = world.items["ngu_van_ca_nam"]
    r = an.post(f"/items/{j}", data={"csrf_token": token(an), "action": "bogus"})
    assert r.status_code == 400


def test_a_guess_is_refused_and_offered(an, world):
    """The normalizer would read 85 as 8,5: a person types what the paper says, so it is refused and
    8,5 offered as a candidate to pick."""
    i = world.items["toan_ca_nam"]
    r = an.post(f"/items/{i}", data={"csrf_token": token(an), "action": "auto", "value": "85"})
    assert r.status_code == 422 and "Giá trị không đúng dạng" in r.text
    assert 'class="candidate" data-value="8,5"' in r.text and input_value(r.text) == "85"
    body = an.post(f"/api/items/{i}", json={"action": "correct", "value": "85"},
                   headers={"X-CSRF-Token": token(an)}).json()
    assert (body["code"], body["suggestion"]) == ("repaired", "8,5")
    assert decisions(world, "toan_ca_nam") == []


def test_an_emptied_input_means_the_box_is_blank(an, world):
    i = world.items["toan_ca_nam"]
    r = an.post(f"/items/{i}", data={"csrf_token": token(an), "action": "auto", "value": ""})
    assert r.status_code == 303
    it = item(world, "toan_ca_nam")
    assert (it.status, it.final_value) == ("done", None)
    [row] = [a for a in store.audit(world.engine, item_id=i) if a.action == "correct"]
    assert (row.old_value, row.new_value) == ("8,4", None)
    claim(an, world.items["toan_hk1"])
    assert "để trống = ô trống trên sổ" in an.get(f"/items/{world.items['toan_hk1']}").text


def test_release_gives_the_item_back(an, world):
    i = world.items["toan_ca_nam"]
    claim(an, i)
    assert item(world, "toan_ca_nam").status == "claimed"
    r = an.post(f"/items/{i}/release", data={"csrf_token": token(an)})
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert item(world, "toan_ca_nam").status == "open"


def test_a_field_held_by_someone_else(app, an, world):
    i = world.items["toan_ca_nam"]
    store.claim(world.engine, world.users["dung.bd"], i)
    html = an.get(f"/items/{i}").text
    assert "Trường này đang được người khác duyệt." in html and 'id="item-form"' not in html
    r = an.post(f"/items/{i}", data={"csrf_token": token(an), "action": "auto", "value": "8,4"})
    assert r.status_code == 409 and "người khác" in r.text
    r = an.post(f"/api/items/{i}", json={"action": "accept"}, headers={"X-CSRF-Token": token(an)})
    assert r.status_code == 409 and r.json()["error"] == "claimed_by_other"
    assert item(world, "toan_ca_nam").claimed_by == world.users["dung.bd"].id


def test_a_resolved_field_is_read_only(an, world):
    i = world.items["toan_hk1"]
    store.submit(world.engine, world.users["dung.bd"], i, action="correct", value="6,6")
    html = an.get(f"/items/{i}").text
    assert 'id="item-form"' not in html and "đã duyệt" in html and "6,6" in html
    r = an.post(f"/items/{i}", data={"csrf_token": token(an), "action": "accept", "value": ""})
    assert r.status_code == 409 and "đã được duyệt xong" in r.text


def test_review_next_when_nothing_is_left(an, world):
    r = post_next(an, batch="HN-BD/none/x", field_type="score")
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert "Không còn trường nào cần duyệt" in an.get("/").text


def test_images_are_streamed_from_storage(an, world):
    i = world.items["toan_ca_nam"]
    it = item(world, "toan_ca_nam")
    crop = an.get(f"/items/{i}/crop")
    assert crop.status_code == 200 and crop.headers["content-type"] == "image/png"
    assert crop.content == world.storage.read_bytes(it.crop_uri)
    page = an.get(f"/items/{i}/page")
    assert page.status_code == 200 and page.content == world.storage.read_bytes(it.page_image_uri)
    assert page.headers["cache-control"] == "private, max-age=600"
    world.storage.fs.rm(world.storage.full(it.page_image_uri))
    assert an.get(f"/items/{i}/page").status_code == 404


# --- group mode -----------------------------------------------------------------------------
def test_group_mode_claims_free_items_and_skips_held_ones(an, world):
    held = world.items["ngu_van_ca_nam"]
    store.claim(world.engine, world.users["dung.bd"], held)
    r = claim_group(an, batch=BATCH_A, field_type="score")
    assert r.status_code == 200
    ids = [int(x) for x in re.findall(r'<div class="card[^"]*" data-item="(\d+)"', r.text)]
    assert ids == [world.items[k] for k in ("toan_ca_nam", "toan_hk1", "vat_li_hk2")]
    for k in ("toan_ca_nam", "toan_hk1", "vat_li_hk2"):
        assert item(world, k).claimed_by == world.users["an.bd"].id
    assert item(world, "ngu_van_ca_nam").claimed_by == world.users["dung.bd"].id
    assert r.text.count('class="g-input') == 3 and "Xác nhận tất cả" in r.text
    assert "<kbd>Tab</kbd>" in r.text


def test_group_confirm_all(an, world):
    claim_group(an, batch=BATCH_A, field_type="score")
    a, b, c = (world.items[k] for k in ("toan_ca_nam", "toan_hk1", "vat_li_hk2"))
    r = an.post("/group", data={
        "csrf_token": token(an), "batch": BATCH_A, "field_type": "score", "item": [str(a), str(b), str(c)],
        f"value_{a}": "8,4",        # unchanged: accepted
        f"value_{b}": "6.0",        # changed: corrected
        f"value_{c}": "9,1", "illegible": str(c),
    })
    assert r.status_code == 303
    assert r.headers["location"] == "/group?batch=HN-BD%2FHN-BD-THCS01%2F2024-001&field_type=score"
    assert [(item(world, k).status, item(world, k).final_value) for k in
            ("toan_ca_nam", "toan_hk1", "vat_li_hk2")] == [("done", "8,4"), ("done", "6,0"),
                                                          ("needs_paper", None)]
    assert decisions(world, "toan_ca_nam") == ["accept"] and decisions(world, "toan_hk1") == ["correct"]
    # The next group holds what is left of the type.
    nxt = an.get(r.headers["location"])
    assert "Đã lưu 3 trường." in nxt.text
    assert re.findall(r'data-item="(\d+)"', nxt.text)[0] == str(world.items["ngu_van_ca_nam"])


def test_group_invalid_values_come_back_and_the_rest_is_saved(an, world):
    claim_group(an, batch=BATCH_A, field_type="score")
    a, b, n = (world.items[k] for k in ("toan_ca_nam", "toan_hk1", "ngu_van_ca_nam"))
    r = an.post("/group", data={
        "csrf_token": token(an), "batch": BATCH_A, "field_type": "score", "item": [str(a), str(b), str(n)],
        f"value_{a}": "8,4", f"value_{b}": "abc", f"value_{n}": "",
    })
    assert r.status_code == 422
    assert "Giá trị không đúng dạng" in r.text and 'value="abc"' in r.text
    assert re.findall(r'<div class="card[^"]*" data-item="(\d+)"', r.text) == [str(b)]
    assert item(world, "toan_ca_nam").status == "done"
    assert item(world, "toan_hk1").status == "claimed" and decisions(world, "toan_hk1") == []
    # Nothing proposed and nothing typed: the box is blank on the paper.
    assert (item(world, "ngu_van_ca_nam").status, item(world, "ngu_van_ca_nam").final_value) == ("done", None)
    assert decisions(world, "ngu_van_ca_nam") == ["correct"]


def test_a_field_opened_from_group_mode_goes_back_to_the_group(an, world):
    html = claim_group(an, batch=BATCH_A, field_type="score").text
    i = world.items["toan_hk1"]
    link = f"/items/{i}?batch=HN-BD%2FHN-BD-THCS01%2F2024-001&amp;field_type=score&amp;mode=group"
    assert link in html
    page = an.get(link.replace("&amp;", "&")).text
    assert 'name="mode" value="group"' in page and "Bỏ qua, về nhóm" in page and 'id="item-form"' in page
    r = an.post(f"/items/{i}", data={"csrf_token": token(an), "action": "auto", "value": "6,5",
                                     "batch": BATCH_A, "field_type": "score", "mode": "group"})
    assert r.headers["location"] == "/group?batch=HN-BD%2FHN-BD-THCS01%2F2024-001&field_type=score&mode=group"
    j = world.items["vat_li_hk2"]
    r = an.post(f"/items/{j}/release", data={"csrf_token": token(an), "batch": BATCH_A, "mode": "group"})
    assert r.headers["location"] == "/group?batch=HN-BD%2FHN-BD-THCS01%2F2024-001&mode=group"
    assert item(world, "vat_li_hk2").status == "open"


def test_group_release(an, world):
    claim_group(an, batch=BATCH_A, field_type="score")
    ids = [world.items[k] for k in ("toan_ca_nam", "toan_hk1")]
    r = an.post("/group/release", data={"csrf_token": token(an), "item": [str(i) for i in ids]})
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert item(world, "toan_ca_nam").status == "open" and item(world, "toan_hk1").status == "open"
    assert item(world, "vat_li_hk2").status == "claimed"


# --- JSON API ----------------------------------------------------------------------------------
def test_api_item(an, world):
    i = world.items["toan_ca_nam"]
    j = an.get(f"/api/items/{i}").json()
    assert j["id"] == i and j["batch_id"] == BATCH_A and j["field_id"] == "scores.toan.ca_nam"
    assert j["field_label"] == "Toán — Cả năm" and j["field_type_label"] == "Điểm"
    assert j["proposed_value"] == "8,4" and j["raw_text"] == "8.4" and j["candidates"] == ["8,3"]
    assert j["reasons"] == [{"code": "low_confidence", "label": "độ tin cậy thấp"},
                            {"code": "rule:year_average", "label": "Cả năm ≠ (HK I + 2·HK II)/3"}]
    assert j["crop_url"] == f"/items/{i}/crop" and j["box_px"] == [330.0, 117.0, 59.0, 22.0]
    assert j["status"] == "open" and j["claimed_by_me"] is False
    assert "claimed_by" not in j and "first_value" not in j


def test_api_submit(an, world):
    t = {"X-CSRF-Token": token(an)}
    i = world.items["toan_ca_nam"]
    r = an.post(f"/api/items/{i}", json={"action": "auto", "value": "8.3"}, headers=t)
    assert r.status_code == 200 and r.json()["status"] == "done" and r.json()["final_value"] == "8,3"
    r = an.post(f"/api/items/{world.items['toan_hk1']}", json={"action": "auto", "value": "6,5"}, headers=t)
    assert r.status_code == 200 and decisions(world, "toan_hk1") == ["accept"]
    r = an.post(f"/api/items/{world.items['full_name']}", headers=t,
                json={"action": "correct", "value": "Nguyễn Văn An"})
    assert r.status_code == 200 and item(world, "full_name").final_value == "Nguyễn Văn An"


def test_api_submit_errors(an, world):
    t = {"X-CSRF-Token": token(an)}
    i = world.items["vat_li_hk2"]
    r = an.post(f"/api/items/{i}", json={"action": "correct", "value": "12,5"}, headers=t)
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "invalid_value" and body["code"] == "out_of_range"
    assert body["field_id"] == "scores.vat_li.hk2" and "từ 0 đến 10" in body["message"]
    assert item(world, "vat_li_hk2").final_value is None and decisions(world, "vat_li_hk2") == []
    r = an.post(f"/api/items/{i}", json={"action": "delete"}, headers=t)
    assert r.status_code == 422 and r.json()["error"] == "bad_request"
    assert an.get("/api/items/abc").status_code == 422


# --- words and the command -----------------------------------------------------------------------
def test_labels():
    assert reason_label("low_confidence") == "độ tin cậy thấp"
    assert reason_label("rule:year_average") == "Cả năm ≠ (HK I + 2·HK II)/3"
    assert reason_label("roster_unmatched") == "không tìm thấy học sinh trong danh sách"
    assert reason_label("roster_something_new") == "danh sách học sinh: something_new"
    assert reason_label("rule:unknown_rule") == "rule:unknown_rule"
    assert field_label("year_thcs_tt58", "scores.toan.ca_nam") == "Toán — Cả năm"
    assert field_label("year_thcs_tt58", "results.hk2.hanh_kiem") == "Học kỳ II — Hạnh kiểm"
    assert field_label("identity", "history.y2.class_name") == "Quá trình học tập, dòng 2 — Lớp"
    assert field_label("identity", "birth_date") == "Ngày sinh"
    assert field_label("nope", "x.y") == "x.y"


def test_serve_command_options():
    from pipelines.cli import main

    r = CliRunner().invoke(main, ["serve", "--help"])
    assert r.exit_code == 0
    assert "--host" in r.output and "--port" in r.output and "console_port" in r.output
