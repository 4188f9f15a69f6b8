"""The reviewer's way through the queue in the store: own claims first, skipping, the paper book (undo,
the data team's resolution) and reopening, each audited; and that a reopened, corrected item reaches the
review loop again (reviews_done_sensor's finished_batches, the corrections accepted_records reads)."""

from __future__ import annotations

import datetime as dt

import pytest

from pipelines.review import store
from pipelines.review.errors import ActionRefused, AlreadyResolved, Forbidden, InvalidValue
from tests.review.conftest import BATCH_A, BATCH_B, DISTRICT_A, DISTRICT_B, SCHOOL_A, SCHOOL_B, queue_rows

SCORES = (("scores.toan.hk1", "score", "8,5"), ("scores.toan.hk2", "score", "7,0"),
          ("scores.toan.ca_nam", "score", "7,5"))


def ids_of(engine, user) -> list[int]:
    return [i.id for i in store.list_items(engine, user, batch_id=BATCH_A, status=None)]


def actions(engine, item_id: int) -> list[str]:
    return [a.action for a in reversed(store.audit(engine, item_id=item_id))]


@pytest.fixture
def a_items(engine, users) -> list[int]:
    store.load_items(engine, queue_rows(BATCH_A, 1, fields=SCORES), district=DISTRICT_A, school=SCHOOL_A)
    store.load_items(engine, queue_rows(BATCH_B, 1, book_ref="BOOK-0200", fields=SCORES), district=DISTRICT_B,
                     school=SCHOOL_B)
    return ids_of(engine, users["quantri"])


def test_claim_next_gives_the_users_own_open_claim_first(engine, users, a_items):
    """A field left by a link or Back stays claimed until it expires; it must come back to its claimer
    first, not be stuck until the claim runs out."""
    an, ba = users["an.bd"], users["ba.bd"]
    first = store.claim_next(engine, an, batch_id=BATCH_A)
    assert first.id == a_items[0]
    again = store.claim_next(engine, an, batch_id=BATCH_A, resume=True)
    assert again.id == first.id and again.claimed_by == an.id
    assert store.claim_next(engine, ba, batch_id=BATCH_A, resume=True).id == a_items[1]  # others: the next
    # The renewed claim is audited as such; another part of the queue does not hand it back.
    assert actions(engine, first.id) == ["claim", "claim"]
    assert store.audit(engine, item_id=first.id, limit=1)[0].detail["renew"] is True
    assert store.claim_next(engine, an, batch_id=BATCH_B, resume=True) is None
    # Without resume (a loop claiming many at once) a new one each time.
    assert store.claim_next(engine, an, batch_id=BATCH_A).id == a_items[2]


def test_skip_releases_and_sends_the_item_to_the_back_of_that_reviewers_queue(engine, users, a_items):
    an, ba = users["an.bd"], users["ba.bd"]
    a, b, c = a_items
    assert store.claim_next(engine, an, batch_id=BATCH_A).id == a
    skipped = store.skip(engine, an, a)
    assert (skipped.status, skipped.claimed_by) == ("open", None)
    assert store.claim_next(engine, an, batch_id=BATCH_A).id == b  # not a again
    store.skip(engine, an, b)
    assert store.claim_next(engine, an, batch_id=BATCH_A).id == c
    store.submit(engine, an, c, action="accept")
    # Only skipped ones left: the oldest skip first, then the next.
    assert store.claim_next(engine, an, batch_id=BATCH_A).id == a
    store.skip(engine, an, a)
    assert store.claim_next(engine, an, batch_id=BATCH_A).id == b
    store.release(engine, an, b)
    # Another reviewer's queue is untouched by an's skips.
    assert store.claim_next(engine, ba, batch_id=BATCH_A).id == a
    assert actions(engine, a) == ["claim", "skip", "claim", "skip", "claim"]
    with pytest.raises(AlreadyResolved):
        store.skip(engine, an, c)


def test_undo_paper_by_the_same_reviewer_until_the_batch_is_accepted(engine, users, a_items):
    an, ba = users["an.bd"], users["ba.bd"]
    a, b, _ = a_items
    store.submit(engine, an, a, action="illegible")
    with pytest.raises(ActionRefused, match="Chỉ người đã chuyển"):
        store.undo_paper(engine, ba, a)
    marked = store.get_item(engine, an, a).resolved_at
    # The batch's accepted_records written before the mark: still undoable.
    back = store.undo_paper(engine, an, a, batch_accepted_at=marked - dt.timedelta(seconds=5))
    assert (back.status, back.claimed_by, back.final_value, back.resolved_by) == (
        "claimed", an.id, None, None)
    assert store.submit(engine, an, a, action="accept").final_value == "8,5"
    with pytest.raises(ActionRefused, match="không còn ở danh sách"):
        store.undo_paper(engine, an, a)
    # Written after the mark: the batch was accepted without it; the data team takes it from here.
    store.submit(engine, an, b, action="illegible")
    later = store.get_item(engine, an, b).resolved_at + dt.timedelta(seconds=1)
    with pytest.raises(ActionRefused, match="đã được chấp nhận"):
        store.undo_paper(engine, an, b, batch_accepted_at=later)
    assert store.get_item(engine, an, b).status == "needs_paper"
    assert actions(engine, a) == ["illegible", "paper_undo", "accept"]


def test_the_data_team_resolves_paper_items_from_the_paper(engine, users, a_items):
    an, dung, binh = users["an.bd"], users["dung.bd"], users["binh.cg"]
    a, b, c = a_items
    for i in (a, b, c):
        store.submit(engine, an, i, action="illegible")
    with pytest.raises(Forbidden):
        store.resolve_paper(engine, an, a, value="9,0")  # a reviewer cannot
    with pytest.raises(Forbidden):
        store.resolve_paper(engine, binh, a, value="9,0")  # nor anyone outside the scope
    with pytest.raises(InvalidValue):
        store.resolve_paper(engine, dung, a, value="12,5")
    assert store.get_item(engine, dung, a).status == "needs_paper"
    done = store.resolve_paper(engine, dung, a, value="9.0")
    assert (done.status, done.final_value, done.resolved_by) == ("done", "9,0", dung.id)
    blank = store.resolve_paper(engine, dung, b, value=None)  # "không có trên sổ"
    assert (blank.status, blank.final_value) == ("done", None)
    assert store.resolve_paper(engine, dung, c, value="  ").final_value is None
    with pytest.raises(AlreadyResolved):
        store.resolve_paper(engine, dung, a, value="9,5")
    [row] = store.audit(engine, item_id=b, action="paper_resolve")
    assert (row.user_id, row.new_value, row.detail) == (dung.id, None, {"not_on_paper": True})
    assert store.audit(engine, item_id=a, action="paper_resolve")[0].new_value == "9,0"


def test_reopen_by_the_data_team_and_the_review_loop_runs_again(engine, users, a_items):
    """A reopened and corrected item makes its batch finish again with a later resolution time, so
    reviews_done_sensor requests a new accepted_records run (its run key changes) with the new value."""
    from pipelines.review.sensors import finished_batches

    an, dung = users["an.bd"], users["dung.bd"]
    for i in a_items:
        store.submit(engine, an, i, action="accept")
    before = finished_batches(engine)[BATCH_A]
    a = a_items[0]
    with pytest.raises(Forbidden):
        store.reopen(engine, an, a)
    store.reopen(engine, dung, a, reason="giáo viên báo nhập sai")
    with pytest.raises(ActionRefused):  # under review again: nothing to reopen
        store.reopen(engine, dung, a)
    it = store.get_item(engine, dung, a)
    assert (it.status, it.claimed_by, it.final_value, it.resolved_at) == ("claimed", dung.id, "8,5", None)
    assert BATCH_A not in finished_batches(engine)  # open work again: no rebuild meanwhile
    store.submit(engine, dung, a, action="correct", value="9,5")
    after = finished_batches(engine)[BATCH_A]
    assert after != before and after > before
    corr = store.corrections(engine, BATCH_A).set_index("field_id")
    assert (corr.loc["scores.toan.hk1", "status"], corr.loc["scores.toan.hk1", "value"]) == ("done", "9,5")
    [row] = store.audit(engine, item_id=a, action="reopen")
    assert (row.user_id, row.old_value) == (dung.id, "8,5")
    assert actions(engine, a) == ["accept", "reopen", "correct"]


def test_reopening_an_identity_field_needs_two_entries_again(engine, users):
    store.load_items(engine, queue_rows(BATCH_A, 1, fields=(("full_name", "name", "Nguyễn Văn An"),)),
                     district=DISTRICT_A, school=SCHOOL_A, second_review_fields=frozenset({"full_name"}))
    an, ba, dung = users["an.bd"], users["ba.bd"], users["dung.bd"]
    [i] = ids_of(engine, an)
    store.submit(engine, an, i, action="accept")
    store.submit(engine, ba, i, action="accept")
    store.reopen(engine, dung, i, reason="sai chính tả")
    first = store.submit(engine, dung, i, action="correct", value="Nguyễn Văn Ân")
    assert (first.status, first.first_by) == ("open", dung.id)
    assert store.submit(engine, an, i, action="correct", value="Nguyễn Văn Ân").status == "done"


def test_progress_counts_remaining_and_the_users_decisions_today(engine, users, a_items):
    an = users["an.bd"]
    midnight = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    assert store.progress(engine, an, since=midnight) == {"remaining": 3, "done_today": 0}
    store.submit(engine, an, a_items[0], action="accept")
    store.submit(engine, an, a_items[1], action="illegible")
    store.skip(engine, an, a_items[2])  # passing over is no decision
    assert store.progress(engine, an, since=midnight) == {"remaining": 1, "done_today": 2}
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    assert store.progress(engine, an, since=later)["done_today"] == 0
    assert store.progress(engine, users["binh.cg"], since=midnight) == {"remaining": 3, "done_today": 0}
