"""The review store: loading, scopes, claims, decisions, second review, audit and the pipeline's views."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from pipelines.review import auth, store
from pipelines.review.db import AuditLog, ReviewDecision, ReviewItem
from pipelines.review.errors import (
    AlreadyResolved,
    Forbidden,
    InvalidValue,
    NotClaimed,
    NotFound,
    SecondEntryByOther,
    UserError,
)
from pipelines.review.store import Scope
from tests.review.conftest import (
    BATCH_A,
    BATCH_A2,
    BATCH_B,
    DISTRICT_A,
    DISTRICT_B,
    SCHOOL_A,
    SCHOOL_A2,
    SCHOOL_B,
    queue_rows,
)


def load_world(engine, second: frozenset[str] = frozenset()) -> None:
    store.load_items(engine, queue_rows(BATCH_A, 2), district=DISTRICT_A, school=SCHOOL_A,
                     second_review_fields=second)
    store.load_items(engine, queue_rows(BATCH_A2, 1, book_ref="BOOK-0100"), district=DISTRICT_A,
                     school=SCHOOL_A2, second_review_fields=second)
    store.load_items(engine, queue_rows(BATCH_B, 1, book_ref="BOOK-0200"), district=DISTRICT_B,
                     school=SCHOOL_B, second_review_fields=second)


def item_of(engine, user, batch_id: str, field_id: str, page: int = 0) -> ReviewItem:
    items = store.list_items(engine, user, batch_id=batch_id, status=None)
    items = [i for i in items if i.field_id == field_id]
    return sorted(items, key=lambda i: i.page_id)[page]


def audit_rows(engine, item_id: int) -> list[AuditLog]:
    return list(reversed(store.audit(engine, item_id=item_id)))


# --- scope ----------------------------------------------------------------------------------------
def test_scope_parse_and_rules():
    assert Scope.parse("all") == Scope("all", None)
    d = Scope.parse(" district:HN-BD ")
    assert (d.kind, d.code, str(d)) == ("district", "HN-BD", "district:HN-BD")
    s = Scope.parse("school:HN-BD-THCS01")
    assert d.allows("HN-BD", "HN-BD-THCS01") and not d.allows("HN-CG", "HN-CG-THCS02")
    assert s.allows("HN-BD", "HN-BD-THCS01") and not s.allows("HN-BD", "HN-BD-THCS05")
    assert Scope.parse("all").allows("anything", "at-all")
    for bad in ("", "district", "district:", "province:HN", "school:A B", "all:x"):
        with pytest.raises(UserError):
            Scope.parse(bad)


# --- loading --------------------------------------------------------------------------------------
def test_load_items_is_idempotent_and_keeps_the_queue_row(engine, users):
    frame = queue_rows(BATCH_A, 3)
    assert store.load_items(engine, frame, district=DISTRICT_A, school=SCHOOL_A) == 12
    assert store.load_items(engine, frame, district=DISTRICT_A, school=SCHOOL_A) == 0
    # One more page later: only its rows are new; a reviewed item is not touched by a reload.
    it = item_of(engine, users["an.bd"], BATCH_A, "scores.toan.hk1")
    store.submit(engine, users["an.bd"], it.id, action="correct", value="9,0")
    assert store.load_items(engine, queue_rows(BATCH_A, 4), district=DISTRICT_A, school=SCHOOL_A) == 4
    assert store.get_item(engine, users["an.bd"], it.id).final_value == "9,0"
    assert store.batch_counts(engine)[BATCH_A] == {"open": 15, "claimed": 0, "done": 1, "needs_paper": 0}

    grade = item_of(engine, users["an.bd"], BATCH_A, "results.hk1.ket_qua_hoc_tap")
    assert grade.vocabulary == "tt22_level"  # from the template, for the normalizer
    assert (grade.district, grade.school, grade.status) == (DISTRICT_A, SCHOOL_A, "open")
    assert grade.reasons == ["low_confidence"] and grade.candidates == []
    assert grade.box_px == [10.0, 80.0, 100.0, 24.0]
    loads = store.audit(engine, action="load_items")
    assert [a.detail["new"] for a in reversed(loads)] == [12, 0, 4]


def test_load_items_accepts_arrow_style_lists_and_missing_values(engine, users):
    frame = queue_rows(BATCH_A, 1)
    frame["reasons"] = [pd.array(["low_confidence", "rule:x"]).to_numpy() for _ in range(len(frame))]
    frame["crop_uri"] = None
    frame.loc[0, "proposed_value"] = float("nan")
    assert store.load_items(engine, frame, district=DISTRICT_A, school=SCHOOL_A,
                            second_review_fields=frozenset({"full_name"})) == 4
    items = {i.field_id: i for i in store.list_items(engine, users["an.bd"], status=None)}
    assert items["scores.toan.hk1"].proposed_value is None
    assert items["sign_date"].reasons == ["low_confidence", "rule:x"] and items["sign_date"].crop_uri is None
    assert items["full_name"].needs_second and not items["sign_date"].needs_second


def test_load_items_rejects_a_frame_without_the_contract_columns(engine):
    with pytest.raises(Exception, match="box_px"):
        store.load_items(engine, queue_rows(BATCH_A).drop(columns="box_px"), district=DISTRICT_A,
                         school=SCHOOL_A)


# --- scope enforcement ----------------------------------------------------------------------------
def test_a_reviewer_cannot_touch_another_districts_items(engine, users):
    load_world(engine)
    an = users["an.bd"]
    b_item = item_of(engine, users["binh.cg"], BATCH_B, "scores.toan.hk1")
    with pytest.raises(Forbidden):
        store.get_item(engine, an, b_item.id)
    with pytest.raises(Forbidden):
        store.claim(engine, an, b_item.id)
    with pytest.raises(Forbidden):
        store.submit(engine, an, b_item.id, action="accept")
    with pytest.raises(Forbidden):
        store.release(engine, an, b_item.id)
    assert {i.batch_id for i in store.list_items(engine, an, status=None)} == {BATCH_A, BATCH_A2}
    assert store.list_items(engine, an, batch_id=BATCH_B) == []
    assert store.claim_next(engine, an, batch_id=BATCH_B) is None
    assert {r["batch_id"] for r in store.queue_summary(engine, an)} == {BATCH_A, BATCH_A2}
    # Nothing of B changed.
    assert store.get_item(engine, users["binh.cg"], b_item.id).status == "open"
    assert store.audit(engine, item_id=b_item.id) == []
    with pytest.raises(NotFound):
        store.get_item(engine, an, 999_999)


def test_school_scope_sees_only_its_school(engine, users):
    load_world(engine)
    thu = users["thu.school"]
    assert {i.school for i in store.list_items(engine, thu, status=None)} == {SCHOOL_A2}
    other_school = item_of(engine, users["an.bd"], BATCH_A, "sign_date")
    with pytest.raises(Forbidden):
        store.get_item(engine, thu, other_school.id)
    claimed = []
    while (it := store.claim_next(engine, thu)) is not None:
        claimed.append(it)
    assert len(claimed) == 4 and {i.school for i in claimed} == {SCHOOL_A2}
    # The city admin sees every district.
    assert {i.district for i in store.list_items(engine, users["quantri"], status=None)} == {DISTRICT_A,
                                                                                           DISTRICT_B}


def test_a_deactivated_user_can_do_nothing(engine, users):
    load_world(engine)
    auth.deactivate(engine, "an.bd")
    with pytest.raises(Forbidden):
        store.claim_next(engine, users["an.bd"])  # the stale object in hand does not help
    with pytest.raises(Forbidden):
        store.list_items(engine, users["an.bd"])


# --- claims ---------------------------------------------------------------------------------------
def test_claim_next_goes_in_queue_order_and_honours_filters(engine, users):
    load_world(engine)
    an = users["an.bd"]
    first = store.claim_next(engine, an, batch_id=BATCH_A)
    assert (first.batch_id, first.page_id, first.status, first.claimed_by) == (
        BATCH_A, "BOOK-0001-p002", "claimed", an.id)
    assert first.claimed_until > dt.datetime.now(dt.UTC) + dt.timedelta(seconds=800)  # default TTL 900 s
    dates = store.claim_next(engine, an, field_type="date", ttl_s=60)
    assert dates.field_type == "date" and dates.claimed_until < dt.datetime.now(dt.UTC) + dt.timedelta(
        seconds=61)
    other_book = store.claim_next(engine, an, book_ref="BOOK-0100")
    assert other_book.book_ref == "BOOK-0100" and other_book.school == SCHOOL_A2
    skipped = store.claim_next(engine, an, batch_id=BATCH_A, skip=[first.id + 1])
    assert skipped.id not in (first.id, first.id + 1)
    assert store.claim_next(engine, an, field_type="identifier") is None
    assert [a.action for a in audit_rows(engine, first.id)] == ["claim"]


def test_a_claimed_item_is_not_given_to_another_until_it_expires(engine, users):
    store.load_items(engine, queue_rows(BATCH_A, 1, fields=(("scores.toan.hk1", "score", "8,5"),)),
                     district=DISTRICT_A, school=SCHOOL_A)
    an, ba = users["an.bd"], users["ba.bd"]
    it = store.claim_next(engine, an)
    assert store.claim_next(engine, ba) is None
    with pytest.raises(NotClaimed):
        store.claim(engine, ba, it.id)
    with pytest.raises(NotClaimed):
        store.submit(engine, ba, it.id, action="accept")
    assert store.claim(engine, an, it.id).claimed_by == an.id  # renewing one's own claim is fine

    # An expired claim is claimable again, by claim_next and by claim.
    store.claim(engine, an, it.id, ttl_s=-1)
    assert store.batch_counts(engine)[BATCH_A]["open"] == 1
    again = store.claim_next(engine, ba)
    assert (again.id, again.claimed_by) == (it.id, ba.id)
    with pytest.raises(NotClaimed):  # now ba holds it
        store.submit(engine, an, it.id, action="accept")
    store.claim(engine, ba, it.id, ttl_s=-1)
    assert store.claim(engine, an, it.id).claimed_by == an.id


def test_release_gives_the_item_back(engine, users):
    load_world(engine)
    an, ba, dung = users["an.bd"], users["ba.bd"], users["dung.bd"]
    it = store.claim_next(engine, an)
    with pytest.raises(NotClaimed):
        store.release(engine, ba, it.id)
    released = store.release(engine, an, it.id)
    assert (released.status, released.claimed_by, released.claimed_until) == ("open", None, None)
    assert store.release(engine, an, it.id).status == "open"  # releasing an open item is a no-op
    assert store.claim_next(engine, ba).id == it.id
    store.release(engine, dung, it.id)  # the district's data team may free a stuck claim
    assert store.get_item(engine, an, it.id).status == "open"
    store.submit(engine, an, it.id, action="accept")
    with pytest.raises(AlreadyResolved):
        store.release(engine, an, it.id)
    assert [a.action for a in audit_rows(engine, it.id)] == ["claim", "release", "claim", "release", "accept"]


# --- decisions ------------------------------------------------------------------------------------
def test_submit_accept_correct_illegible(engine, users):
    load_world(engine)
    an = users["an.bd"]
    score = store.claim(engine, an, item_of(engine, an, BATCH_A, "scores.toan.hk1").id)
    done = store.submit(engine, an, score.id, action="accept", reason="đúng như sổ")
    assert (done.status, done.final_value, done.resolved_by, done.claimed_by) == ("done", "8,5", an.id, None)
    assert done.resolved_at is not None

    # An open item can be decided without a claim first; the normalizer's canonical value is stored.
    date = item_of(engine, an, BATCH_A, "sign_date")
    fixed = store.submit(engine, an, date.id, action="correct", value=" 5/9/2019 ")
    assert (fixed.status, fixed.final_value) == ("done", "05/09/2019")
    grade = item_of(engine, an, BATCH_A, "results.hk1.ket_qua_hoc_tap")
    assert store.submit(engine, an, grade.id, action="correct", value="tốt").final_value == "Tốt"
    name = item_of(engine, an, BATCH_A, "full_name")
    assert store.submit(engine, an, name.id, action="correct",
                        value="nguyễn thị  hoa").final_value == "Nguyễn Thị Hoa"

    paper = item_of(engine, an, BATCH_A, "scores.toan.hk1", page=1)
    sent = store.submit(engine, an, paper.id, action="illegible", reason="mực nhòe")
    assert (sent.status, sent.final_value, sent.resolved_by) == ("needs_paper", None, an.id)

    blank = item_of(engine, an, BATCH_A, "sign_date", page=1)
    empty = store.submit(engine, an, blank.id, action="correct", value="   ")  # the box is blank on paper
    assert (empty.status, empty.final_value) == ("done", None)

    with pytest.raises(AlreadyResolved):
        store.submit(engine, an, score.id, action="correct", value="9,0")
    with pytest.raises(AlreadyResolved):
        store.claim(engine, an, score.id)
    decisions = _decisions(engine)
    assert [(d.action, d.value) for d in decisions] == [
        ("accept", "8,5"), ("correct", "05/09/2019"), ("correct", "Tốt"), ("correct", "Nguyễn Thị Hoa"),
        ("illegible", None), ("correct", None)]
    assert decisions[0].reason == "đúng như sổ"


def _decisions(engine) -> list[ReviewDecision]:
    with Session(engine) as s:
        return list(s.scalars(select(ReviewDecision).order_by(ReviewDecision.id)))


@pytest.mark.parametrize(("field_id", "value", "code"), [
    ("scores.toan.hk1", "abc", "format_invalid"),
    ("scores.toan.hk1", "12", "repaired"),  # the normalizer would guess 1,2: a person must type 1,2
    ("scores.toan.hk1", "11,5", "out_of_range"),
    ("scores.toan.hk1", "8,55", "format_invalid"),
    ("sign_date", "31/02/2019", "out_of_range"),
    ("sign_date", "hôm qua", "format_invalid"),
    ("results.hk1.ket_qua_hoc_tap", "Xuất sắc", "not_in_vocabulary"),
    ("full_name", "Nguyễn V4n An", "format_invalid"),
])
def test_a_correction_the_normalizer_rejects_saves_nothing(engine, users, field_id, value, code):
    store.load_items(engine, queue_rows(BATCH_A, 1), district=DISTRICT_A, school=SCHOOL_A)
    an = users["an.bd"]
    it = store.claim(engine, an, item_of(engine, an, BATCH_A, field_id).id)
    n_audit = len(store.audit(engine))
    with pytest.raises(InvalidValue) as exc:
        store.submit(engine, an, it.id, action="correct", value=value)
    err = exc.value
    assert (err.field_id, err.code) == (field_id, code)
    assert "cần" in err.message_vi and value not in err.message_vi  # says what is expected, not the input
    after = store.get_item(engine, an, it.id)
    assert (after.status, after.claimed_by, after.final_value) == ("claimed", an.id, None)
    assert _decisions(engine) == [] and len(store.audit(engine)) == n_audit


def test_invalid_value_messages_say_what_is_expected(engine, users):
    store.load_items(engine, queue_rows(BATCH_A, 1), district=DISTRICT_A, school=SCHOOL_A)
    an = users["an.bd"]
    cases = {"scores.toan.hk1": ("12", "từ 0 đến 10"), "sign_date": ("32/13/2019", "ngày/tháng/năm"),
             "results.hk1.ket_qua_hoc_tap": ("Giỏi", "Tốt, Khá, Đạt, Chưa đạt")}
    for fid, (value, expected) in cases.items():
        with pytest.raises(InvalidValue) as exc:
            store.submit(engine, an, item_of(engine, an, BATCH_A, fid).id, action="correct", value=value)
        assert expected in exc.value.message_vi
    with pytest.raises(InvalidValue) as exc:
        store.submit(engine, an, item_of(engine, an, BATCH_A, "scores.toan.hk1").id, action="correct",
                     value="85")
    assert exc.value.suggestion == "8,5"
    # Nothing to accept when nothing was proposed.
    with pytest.raises(InvalidValue) as exc:
        store.submit(engine, an, item_of(engine, an, BATCH_A, "full_name").id, action="accept")
    assert exc.value.code == "no_proposal"
    with pytest.raises(InvalidValue):
        store.submit(engine, an, item_of(engine, an, BATCH_A, "full_name").id, action="approve")
    assert _decisions(engine) == []


# --- second review --------------------------------------------------------------------------------
def test_second_review_needs_two_people_who_agree(engine, users):
    store.load_items(engine, queue_rows(BATCH_A, 1), district=DISTRICT_A, school=SCHOOL_A,
                     second_review_fields=frozenset({"full_name", "sign_date"}))
    an, ba, chi = users["an.bd"], users["ba.bd"], users["chi.bd"]
    it = item_of(engine, an, BATCH_A, "full_name")
    assert it.needs_second

    first = store.submit(engine, an, store.claim(engine, an, it.id).id, action="correct", value="Lê Văn Tám")
    assert (first.status, first.first_value, first.first_by, first.final_value) == (
        "open", "Lê Văn Tám", an.id, None)
    # The first person never gets it back, by any route.
    with pytest.raises(SecondEntryByOther):
        store.claim(engine, an, it.id)
    with pytest.raises(SecondEntryByOther):
        store.submit(engine, an, it.id, action="correct", value="Lê Văn Tám")
    assert all(i.id != it.id for i in iter(lambda: store.claim_next(engine, an), None))

    # A second person disagrees: their entry becomes the one to confirm, the item reopens.
    disagree = store.submit(engine, ba, it.id, action="correct", value="Lê Văn Tâm")
    assert (disagree.status, disagree.first_value, disagree.first_by) == ("open", "Lê Văn Tâm", ba.id)
    # A third agrees with the second: resolved.
    agreed = store.submit(engine, chi, it.id, action="correct", value="lê văn tâm")
    assert (agreed.status, agreed.final_value, agreed.resolved_by) == ("done", "Lê Văn Tâm", chi.id)

    rows = audit_rows(engine, it.id)
    assert [(a.action, a.user_id, a.old_value, a.new_value) for a in rows if a.action != "claim"] == [
        ("correct", an.id, None, "Lê Văn Tám"),
        ("second_disagree", ba.id, "Lê Văn Tám", "Lê Văn Tâm"),
        ("second_entry", chi.id, "Lê Văn Tâm", "Lê Văn Tâm"),
    ]
    assert rows[-1].detail["agrees"] is True and rows[-1].detail["first_by"] == ba.id


def test_second_review_accept_agrees_with_a_first_accept(engine, users):
    store.load_items(engine, queue_rows(BATCH_A, 1), district=DISTRICT_A, school=SCHOOL_A,
                     second_review_fields=frozenset({"sign_date"}))
    an, ba = users["an.bd"], users["ba.bd"]
    it = item_of(engine, an, BATCH_A, "sign_date")
    store.submit(engine, an, it.id, action="accept")
    nxt = store.claim_next(engine, ba, field_type="date")
    assert nxt.id == it.id and nxt.first_value == "25/05/2019"
    done = store.submit(engine, ba, it.id, action="correct", value="25/5/2019")  # same date, typed out
    assert (done.status, done.final_value) == ("done", "25/05/2019")
    assert store.corrections(engine, BATCH_A).set_index("field_id").loc["sign_date", "reviewed_by"] == "ba.bd"


# --- audit ----------------------------------------------------------------------------------------
def test_every_change_is_audited_with_old_and_new_value(engine, users):
    store.load_items(engine, queue_rows(BATCH_A, 1), district=DISTRICT_A, school=SCHOOL_A)
    an = users["an.bd"]
    it = item_of(engine, an, BATCH_A, "scores.toan.hk1")
    store.claim(engine, an, it.id)
    store.submit(engine, an, it.id, action="correct", value="7,5", reason="số 7 viết giống 1")
    (claim_row, correct_row) = audit_rows(engine, it.id)
    assert (claim_row.action, claim_row.user_id) == ("claim", an.id)
    assert (correct_row.action, correct_row.user_id, correct_row.old_value, correct_row.new_value,
            correct_row.reason) == ("correct", an.id, "8,5", "7,5", "số 7 viết giống 1")
    assert correct_row.at.tzinfo is not None

    paper = item_of(engine, an, BATCH_A, "sign_date")
    store.submit(engine, an, paper.id, action="illegible")
    (row,) = audit_rows(engine, paper.id)
    assert (row.action, row.old_value, row.new_value) == ("illegible", "25/05/2019", None)
    actions = {a.action for a in store.audit(engine)}
    assert actions == {"user_add", "load_items", "claim", "correct", "illegible"}


def test_the_audit_log_and_decisions_cannot_be_changed(engine, users):
    store.load_items(engine, queue_rows(BATCH_A, 1), district=DISTRICT_A, school=SCHOOL_A)
    an = users["an.bd"]
    store.submit(engine, an, item_of(engine, an, BATCH_A, "scores.toan.hk1").id, action="accept")
    for sql in ("UPDATE review_audit_log SET reason = 'x'", "DELETE FROM review_audit_log",
                "UPDATE review_decision SET value = '1,0'", "DELETE FROM review_decision"):
        with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(ReviewDecision)) == 1
        assert s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "accept")) == 1


# --- the pipeline's views -------------------------------------------------------------------------
def test_batch_counts_and_queue_summary(engine, users):
    load_world(engine)
    an, binh = users["an.bd"], users["binh.cg"]
    assert store.batch_counts(engine) == {
        BATCH_A: {"open": 8, "claimed": 0, "done": 0, "needs_paper": 0},
        BATCH_A2: {"open": 4, "claimed": 0, "done": 0, "needs_paper": 0},
        BATCH_B: {"open": 4, "claimed": 0, "done": 0, "needs_paper": 0},
    }
    store.claim_next(engine, an, batch_id=BATCH_A)
    store.claim(engine, an, item_of(engine, an, BATCH_A, "full_name").id, ttl_s=-1)  # expired: open
    store.submit(engine, an, item_of(engine, an, BATCH_A, "sign_date").id, action="accept")
    store.submit(engine, an, item_of(engine, an, BATCH_A, "sign_date", page=1).id, action="illegible")
    store.submit(engine, binh, item_of(engine, binh, BATCH_B, "sign_date").id, action="accept")
    assert store.batch_counts(engine, BATCH_A) == {
        BATCH_A: {"open": 5, "claimed": 1, "done": 1, "needs_paper": 1}}
    assert store.batch_counts(engine, "nothing/here/yet") == {
        "nothing/here/yet": {"open": 0, "claimed": 0, "done": 0, "needs_paper": 0}}
    assert store.batch_counts(engine)[BATCH_B] == {"open": 3, "claimed": 0, "done": 1, "needs_paper": 0}

    summary = store.queue_summary(engine, an)
    assert {(r["batch_id"], r["book_ref"]) for r in summary} == {(BATCH_A, "BOOK-0001"),
                                                                 (BATCH_A2, "BOOK-0100")}
    dates = next(r for r in summary if r["batch_id"] == BATCH_A and r["field_type"] == "date")
    assert {k: dates[k] for k in ("open", "claimed", "done", "needs_paper", "total")} == {
        "open": 0, "claimed": 0, "done": 1, "needs_paper": 1, "total": 2}
    assert sum(r["total"] for r in summary) == 12
    assert sum(r["claimed"] for r in summary) == 1 and sum(r["open"] for r in summary) == 9


def test_corrections_frame(engine, users):
    load_world(engine)
    an = users["an.bd"]
    empty = store.corrections(engine, "no/such/batch")
    assert list(empty.columns) == ["batch_id", "book_ref", "page_id", "field_id", "status", "value",
                                   "reviewed_by", "reviewed_at"] and empty.empty
    assert str(empty["reviewed_at"].dtype).startswith("datetime64") and empty["reviewed_at"].dt.tz is not None

    store.submit(engine, an, item_of(engine, an, BATCH_A, "scores.toan.hk1").id, action="correct", value="9")
    store.submit(engine, an, item_of(engine, an, BATCH_A, "sign_date").id, action="illegible")
    df = store.corrections(engine, BATCH_A)
    assert len(df) == 8 and set(df["batch_id"]) == {BATCH_A}
    first_page = df[df["page_id"] == "BOOK-0001-p002"].set_index("field_id")
    assert first_page.loc["scores.toan.hk1", ["status", "value", "reviewed_by"]].tolist() == [
        "done", "9,0", "an.bd"]
    assert first_page.loc["sign_date", ["status", "value", "reviewed_by"]].tolist() == [
        "needs_paper", None, "an.bd"]
    assert first_page.loc["full_name", "status"] == "open" and first_page.loc["full_name", "value"] is None
    assert pd.isna(first_page.loc["full_name", "reviewed_at"])
    reviewed_at = first_page.loc["scores.toan.hk1", "reviewed_at"]
    assert str(reviewed_at.tz) == "UTC"
    assert abs(reviewed_at - pd.Timestamp.now(tz="UTC")) < pd.Timedelta(minutes=5)


def test_usernames_for_display(engine, users):
    ids = [users["an.bd"].id, users["quantri"].id, None]
    assert store.usernames(engine, ids) == {users["an.bd"].id: "an.bd", users["quantri"].id: "quantri"}
    assert store.usernames(engine, []) == {}
