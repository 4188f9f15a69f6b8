"""What the console takes in and what its errors say (issue 14, part 3).

Every value a reviewer types meets the field type's entry policy (data_contracts/templates/
field_types.yaml) before the normalizer: a bounded length, letters, marks, ASCII digits and the type's
punctuation, never a control or bidi character. Every error, page or API, is Vietnamese, carries the
security headers and never repeats what was sent, also a 500 from an unexpected exception, bad JSON and
bad UTF-8 in a form. Real SQLite (and PostgreSQL with HOCBA_TEST_DATABASE_URL), real HTTP via TestClient.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from pipelines.db import writer
from pipelines.review import store
from pipelines.review.app import MAX_FORM_VALUE, SECURITY_HEADERS, create_app
from tests.review.webfixtures import (
    BATCH_A,
    DISTRICT_A,
    PASSWORD,
    SCHOOL_A,
    World,
    build_world,
    csrf_of,
    review_queue,
)

SECRET = "test-secret-" + "i" * 40
MARK = "Bí-Mật-Đầu-Vào"
"""Sent in requests that fail: no response may contain it."""
ENGLISH = ("Internal Server Error", "Input should", "JSON decode error", "Field required", "Traceback")


@pytest.fixture
def world(tmp_path, hocba_home, db_url) -> World:
    w = build_world(tmp_path / "world", db_url)
    # A free-text field (identity page: birth place) beside the scores, names and grades of the world.
    frame = review_queue(BATCH_A, [("noi_sinh", "THCS01-0003", "THCS01-0003-p01", "birth_place", "free_text",
                                    "Ha Noi", "Hà Nội", 0.4, ["low_confidence"], [], (100, 300, 400, 24))],
                         w.storage)
    frame["template_id"] = "identity"
    store.load_items(w.engine, frame.drop(columns="_key"), district=DISTRICT_A, school=SCHOOL_A)
    [it] = store.list_items(w.engine, w.users["quantri"], page_id="THCS01-0003-p01", status=None)
    w.items["noi_sinh"] = it.id
    return w


@pytest.fixture
def app(world):
    return create_app(database_url=world.database_url, storage_root=world.storage_root, secret=SECRET)


@pytest.fixture
def an(app) -> TestClient:
    c = TestClient(app, follow_redirects=False, raise_server_exceptions=False)
    t = csrf_of(c.get("/login").text)
    r = c.post("/login", data={"username": "an.bd", "password": PASSWORD, "csrf_token": t})
    assert r.status_code == 303
    return c


def csrf(c: TestClient) -> str:
    return csrf_of(c.get("/").text)


def api_submit(c: TestClient, item_id: int, value: str, action: str = "correct"):
    return c.post(f"/api/items/{item_id}", json={"action": action, "value": value},
                  headers={"X-CSRF-Token": csrf(c)})


def assert_safe_error(r, status: int, *, sent: str = MARK) -> None:
    """A Vietnamese error with the security headers that does not repeat what was sent."""
    assert r.status_code == status, r.text[:300]
    for name, value in SECURITY_HEADERS.items():
        assert r.headers.get(name) == value, name
    assert r.headers["cache-control"] == "no-store"
    body = r.text
    assert sent not in body and quote(sent) not in body
    assert not any(e in body for e in ENGLISH), body[:300]
    if r.headers["content-type"].startswith("application/json"):
        message = r.json()["message"]
        assert "detail" not in r.json()
    else:
        assert 'lang="vi"' in body
        message = body
    assert any(w in message for w in ("không", "Lỗi", "Yêu cầu", "Giá trị", "Trường")), message


def item(world: World, key: str):
    return store.get_item(world.engine, world.users["quantri"], world.items[key])


# --- the entry policy, at the store ------------------------------------------------------------------
@pytest.mark.parametrize(("key", "value", "code"), [
    ("noi_sinh", "x" * 200_000, "too_long"),
    ("noi_sinh", "Hà" + "a" * 1000, "too_long"),
    ("noi_sinh", "Hà\x00Nội", "invisible_character"),
    ("noi_sinh", "Hà Nội\u202e", "invisible_character"),  # right-to-left override
    ("noi_sinh", "\ufeff", "invisible_character"),  # a lone byte-order mark
    ("noi_sinh", "Hà\u200bNội", "invisible_character"),  # zero-width space
    ("noi_sinh", "Hà Nội <script>", "character_not_allowed"),
    ("noi_sinh", "Москва", "character_not_allowed"),  # letters, but not Latin
    ("full_name", "Nguyễn\u202eVăn An", "invisible_character"),
    ("full_name", "Nguyễn Văn " + "A" * 100, "too_long"),
    ("toan_hk1", "٨,٥", "non_ascii_digit"),  # Arabic-Indic
    ("toan_hk1", "８,５", "non_ascii_digit"),  # full-width
    ("toan_hk1", "8,5\x00", "invisible_character"),
    ("hoc_luc", "Khá\u202d", "invisible_character"),
])
def test_the_entry_policy_refuses_before_anything_is_saved(an, world, key, value, code):
    r = api_submit(an, world.items[key], value)
    assert_safe_error(r, 422, sent=value)
    body = r.json()
    assert (body["error"], body["code"]) == ("invalid_value", code)
    assert body["field_id"] == item(world, key).field_id
    assert "Trường «" in body["message"] and "chỉ nhận" in body["message"]  # the field, what it takes
    assert item(world, key).status == "open" and item(world, key).final_value is None
    assert [a for a in store.audit(world.engine, item_id=world.items[key]) if a.new_value] == []


def test_messages_name_the_field_and_what_it_allows(an, world):
    body = api_submit(an, world.items["toan_hk1"], "٨,٥").json()
    assert body["message"] == ("Giá trị có chữ số không phải 0-9 thông thường. Trường «Toán — HK I» chỉ "
                               "nhận chữ số 0-9, khoảng trắng và các dấu , . (tối đa 8 ký tự).")
    body = api_submit(an, world.items["noi_sinh"], "x" * 2000).json()
    assert body["message"].startswith("Giá trị quá dài. Trường «Nơi sinh» chỉ nhận chữ cái, dấu, chữ số 0-9")
    assert "(tối đa 1000 ký tự)" in body["message"]


def test_the_normalizers_format_messages_come_before_the_character_list(an, world):
    body = api_submit(an, world.items["ngu_van_ca_nam"], "7,O").json()  # a letter O for a 0
    assert (body["code"], body["suggestion"]) == ("repaired", "7,0")
    body = api_submit(an, world.items["toan_hk1"], "tám").json()
    assert body["code"] == "format_invalid" and "một điểm từ 0 đến 10" in body["message"]


def test_unicode_digits_are_refused_alike_for_every_numeric_type(world):
    """Refused, not folded: Arabic-Indic and full-width digits the same way, for every type."""
    from pipelines.contracts import field_types
    from pipelines.validate.normalize import normalize_field

    for value in ("٨", "８", "৮", "𝟾"):
        for ftype, ok in [("score", "8"), ("integer", "8"), ("date", "08/09/2008"),
                          ("school_year", "2018-2019"), ("identifier", "888888888888"), ("free_text", "8")]:
            typed = ok.replace("8", value)
            if ftype != "free_text":  # free text has no format: the policy alone refuses it there
                assert normalize_field(ftype, typed).value is None, (ftype, typed)
            assert field_types()[ftype].entry.refusal(typed) == "non_ascii_digit", (ftype, typed)
            assert field_types()[ftype].entry.refusal(ok) is None, (ftype, ok)


def test_valid_vietnamese_values_pass_the_policy(an, world):
    place = "Xã Tân Phú, huyện Đức Hoà (tỉnh Long An) – “quê nội” 2/9"
    r = api_submit(an, world.items["noi_sinh"], f"  {place}  ")
    assert r.status_code == 200, r.text
    assert item(world, "noi_sinh").final_value == place
    # A name typed with combining marks (a decomposed keyboard) is the same name, NFC.
    assert api_submit(an, world.items["full_name"], "Nguye\u0302\u0303n Văn An").status_code == 200
    assert item(world, "full_name").final_value == "Nguyễn Văn An"
    assert api_submit(an, world.items["toan_hk1"], "8 , 5").status_code == 200


def test_the_item_form_refuses_without_repeating_the_value(an, world):
    i = world.items["noi_sinh"]
    r = an.post(f"/items/{i}", data={"csrf_token": csrf(an), "action": "correct", "value": f"{MARK}\u202e"})
    assert r.status_code == 422 and "ký tự ẩn" in r.text
    assert MARK not in r.text  # the input shows what was proposed, not the refused text
    assert item(world, "noi_sinh").status != "done"


# --- errors: Vietnamese, headers, no echo --------------------------------------------------------------
def test_a_lone_surrogate_in_json_is_a_vietnamese_422(an, world):
    i = world.items["full_name"]
    for body in (b'{"action": "\\ud800", "value": "x"}', b'{"action": "correct", "value": "\\ud800"}'):
        r = an.post(f"/api/items/{i}", content=body,
                    headers={"X-CSRF-Token": csrf(an), "content-type": "application/json"})
        assert_safe_error(r, 422, sent="\\ud800")
        assert "\ud800".encode("utf-8", "surrogatepass") not in r.content
    assert item(world, "full_name").status == "open"


def test_bad_json_and_bad_fields_do_not_echo_pydantic(an, world):
    i = world.items["toan_hk1"]
    r = an.post(f"/api/items/{i}", content=f'{{"action": "correct", "value": "{MARK}'.encode(),
                headers={"X-CSRF-Token": csrf(an), "content-type": "application/json"})
    assert_safe_error(r, 422)
    assert r.json()["error"] == "bad_request"
    r = an.post(f"/api/items/{i}", json={"action": MARK, "value": "8,5"}, headers={"X-CSRF-Token": csrf(an)})
    assert_safe_error(r, 422)
    assert r.json() == {"error": "bad_request", "message": "Yêu cầu không hợp lệ (sai hoặc thiếu: action).",
                        "fields": ["action"]}
    r = an.get(f"/api/items/{MARK}")
    assert_safe_error(r, 422)
    assert r.json()["fields"] == ["item_id"]
    r = an.post(f"/api/items/{i}", content=b'{"action": "correct", "value": "\xff\xfe"}',
                headers={"X-CSRF-Token": csrf(an), "content-type": "application/json"})
    assert_safe_error(r, 400)  # not UTF-8: Starlette's 400, in our words


def test_bad_utf8_in_a_form_is_refused_in_vietnamese(an, world):
    i = world.items["noi_sinh"]
    t = csrf(an)
    r = an.post(f"/items/{i}", content=f"csrf_token={t}&action=correct&value=H%C3%A0%ff%fe".encode(),
                headers={"content-type": "application/x-www-form-urlencoded"})
    assert_safe_error(r, 400, sent="\ufffd")
    assert "UTF-8" in r.text
    assert item(world, "noi_sinh").status != "done"
    # Multipart (no page of the console sends it) decodes bad bytes as Latin-1, silently: refused.
    r = an.post(f"/items/{i}", data={"csrf_token": t, "action": "correct"},
                files={"value": ("v", b"H\xff\xfe", "text/plain")})
    assert_safe_error(r, 400, sent="ÿþ")
    # Login too.
    c = TestClient(an.app, follow_redirects=False)
    lt = csrf_of(c.get("/login").text)
    r = c.post("/login", content=f"csrf_token={lt}&username=an%ff&password=x".encode(),
               headers={"content-type": "application/x-www-form-urlencoded"})
    assert_safe_error(r, 400, sent="\ufffd")


def test_an_oversized_form_field_is_refused(an, world):
    r = an.post(f"/items/{world.items['noi_sinh']}",
                data={"csrf_token": csrf(an), "action": "correct", "value": MARK * (MAX_FORM_VALUE // 10)})
    assert_safe_error(r, 400)
    assert "quá dài" in r.text and "20.000" in r.text


def test_an_unexpected_exception_is_a_vietnamese_500_with_the_security_headers(an, world):
    # A real fault: the audit table is gone, so every decision's transaction fails inside the database.
    t = csrf(an)
    with Session(writer(world.engine)) as s, s.begin():
        s.execute(text("ALTER TABLE review_audit_log RENAME TO review_audit_log_gone"))
    try:
        secret = "Trần Thị Bímật"
        r = an.post(f"/api/items/{world.items['full_name']}", json={"action": "correct", "value": secret},
                    headers={"X-CSRF-Token": t})
        assert_safe_error(r, 500, sent=secret)
        assert r.json() == {"error": "internal", "message": r.json()["message"]}
        assert r.json()["message"].startswith("Lỗi máy chủ")
        r = an.post(f"/items/{world.items['full_name']}",
                    data={"csrf_token": t, "action": "correct", "value": "Trần Văn Mật"})
        assert_safe_error(r, 500, sent="Trần Văn Mật")
        assert "Lỗi máy chủ" in r.text
        # What the server logs of it (the exception) holds no value either.
        with pytest.raises(Exception, match="review_audit_log") as raised:
            store.submit(world.engine, world.users["an.bd"], world.items["full_name"], action="correct",
                         value=secret)
        assert secret not in str(raised.value) and "parameters hidden" in str(raised.value)
    finally:
        with Session(writer(world.engine)) as s, s.begin():
            s.execute(text("ALTER TABLE review_audit_log_gone RENAME TO review_audit_log"))


def test_an_unexpected_exception_on_a_page_is_a_vietnamese_500(an, world):
    # A real fault in storage: the crop's path is a folder now.
    crop = world.root / "storage" / item(world, "toan_hk1").crop_uri
    crop.unlink()
    crop.mkdir()
    r = an.get(f"/items/{world.items['toan_hk1']}/crop")
    assert_safe_error(r, 500)
    assert "Lỗi máy chủ" in r.text and "/static/console.css" in r.text


def test_long_or_strange_usernames_at_login_are_not_echoed_or_looked_up(app, world):
    c = TestClient(app, follow_redirects=False)
    for name in ("a" * 10_000, f"an.bd\u202e{MARK}", "an.bd\x00"):
        t = csrf_of(c.get("/login").text)
        r = c.post("/login", data={"username": name, "password": PASSWORD, "csrf_token": t})
        assert r.status_code == 401
        assert name not in r.text and MARK not in r.text and "a" * 65 not in r.text
    t = csrf_of(c.get("/login").text)
    r = c.post("/login", data={"username": "an.bd", "password": "x" * 5000, "csrf_token": t})
    assert r.status_code == 401 and 'value="an.bd"' in r.text  # a plausible name stays in the form
    reasons = [a.reason for a in store.audit(world.engine, action="login_failed")]
    assert reasons.count("unknown_user") == 3 and reasons.count("wrong_password") == 1


def test_notes_are_bounded_and_lose_invisible_characters(world):
    with Session(writer(world.engine)) as s, s.begin():
        store.record_audit(s, action="reopen", user_id=world.users["quantri"].id,
                           reason="Sổ\u202e ghi\x00 sai\n  " + "x" * 10_000)
    [row] = store.audit(world.engine, action="reopen")
    assert row.reason.startswith("Sổ ghi sai xxx") and len(row.reason) == store.MAX_NOTE
    assert store.clean_note(None) == "" and store.clean_note("  Hoà\u200b  ") == "Hoà"


def test_nav_parameters_with_invisible_characters_are_dropped(an, world):
    r = an.get(f"/group?batch={quote(BATCH_A)}%00&field_type=score")
    assert r.status_code == 200 and "\x00" not in r.text
