"""Claims under contention: many reviewers at once never get the same item, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipelines import db
from pipelines.review import auth, store
from pipelines.review.db import AuditLog, ReviewDecision, ReviewItem, User
from tests.review.conftest import BATCH_A, DISTRICT_A, PASSWORD, SCHOOL_A, queue_rows

ROOT = Path(__file__).resolve().parents[2]
SCORES = (("scores.toan.hk1", "score", "8,5"), ("scores.toan.hk2", "score", "7,0"),
          ("scores.ngu_van.hk1", "score", "6,5"), ("scores.ngu_van.hk2", "score", "9,0"))


def _reviewers(engine, n: int) -> list[User]:
    return [auth.add_user(engine, f"reviewer{i}", PASSWORD, "reviewer", f"district:{DISTRICT_A}")
            for i in range(n)]


def test_eight_threads_claim_200_items_each_exactly_once(db_url, engine, cheap_hashing):
    assert store.load_items(engine, queue_rows(BATCH_A, 50, fields=SCORES), district=DISTRICT_A,
                            school=SCHOOL_A) == 200
    users = _reviewers(engine, 8)
    claimed: dict[int, list[int]] = {u.id: [] for u in users}
    errors: list[BaseException] = []
    start = threading.Barrier(len(users))

    def reviewer(user: User) -> None:
        own = db.make_engine(db_url)  # each reviewer its own engine and connection
        try:
            start.wait()
            while (item := store.claim_next(own, user)) is not None:
                assert item.claimed_by == user.id and item.status == "claimed"
                claimed[user.id].append(item.id)
        except BaseException as exc:  # asserted below
            errors.append(exc)
        finally:
            own.dispose()

    threads = [threading.Thread(target=reviewer, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == [] and not any(t.is_alive() for t in threads)

    every = [i for ids in claimed.values() for i in ids]
    assert len(every) == 200
    duplicates = [i for i, n in Counter(every).items() if n > 1]
    assert duplicates == []
    assert sum(1 for ids in claimed.values() if ids) >= 2  # the claimers really ran side by side
    with Session(engine) as s:
        rows = s.execute(select(ReviewItem.id, ReviewItem.status, ReviewItem.claimed_by)).all()
        assert {r.id for r in rows} == set(every)
        owner = {i: uid for uid, ids in claimed.items() for i in ids}
        assert all(r.status == "claimed" and r.claimed_by == owner[r.id] for r in rows)
        assert s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "claim")) == 200
    assert store.claim_next(engine, users[0]) is None


def test_four_processes_claim_and_decide_each_item_once(db_url, engine, cheap_hashing):
    assert store.load_items(engine, queue_rows(BATCH_A, 25, fields=SCORES), district=DISTRICT_A,
                            school=SCHOOL_A) == 100
    users = _reviewers(engine, 4)
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    procs = [subprocess.Popen([sys.executable, "-m", "tests.review.claimer", db_url, str(u.id)], cwd=ROOT,
                              text=True, **pipes) for u in users]
    for p in procs:  # all imported and connected: now start together
        if p.stdout.readline().strip() != "ready":
            raise AssertionError(f"claimer failed to start: {p.communicate(timeout=60)[1][-2000:]}")
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.close()
    outs = [(p.stdout.read(), p.stderr.read()) for p in procs]
    for p in procs:
        p.wait(timeout=300)
    assert [p.returncode for p in procs] == [0] * 4, [err[-2000:] for _, err in outs]
    per_process = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    decided = [i for ids in per_process for i in ids]
    assert len(decided) == 100 and len(set(decided)) == 100
    assert sum(1 for ids in per_process if ids) >= 2  # the processes really ran side by side
    with Session(engine) as s:
        per_item = Counter(s.scalars(select(ReviewDecision.item_id)))
        assert len(per_item) == 100 and set(per_item.values()) == {1}
    assert store.batch_counts(engine)[BATCH_A] == {"open": 0, "claimed": 0, "done": 100, "needs_paper": 0}
