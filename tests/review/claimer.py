"""A reviewer in a process of its own, for the cross-process claim test.

``python -m tests.review.claimer URL USER_ID``: prints ``ready``, waits for a line on stdin (so that all
start together, imports done), then claims and decides until the queue is empty and prints the ids it
decided as JSON."""

from __future__ import annotations

import json
import sys

from sqlalchemy.orm import Session

from pipelines import db
from pipelines.review import store
from pipelines.review.db import User


def main(url: str, user_id: int) -> None:
    engine = db.make_engine(url)
    with Session(engine) as s:
        user = s.get(User, user_id)
    import pipelines.validate.normalize  # noqa: F401  (imports a first decision would pay for)
    from pipelines.contracts import field_types
    from pipelines.review.labels import field_label

    # Contracts and labels a first decision would load: no claimer starts a lap behind the others.
    field_types()
    field_label("year_thcs_tt58", "scores.toan.hk1")

    store.batch_counts(engine)  # connected
    print("ready", flush=True)
    sys.stdin.readline()
    done = []
    while (item := store.claim_next(engine, user)) is not None:
        store.submit(engine, user, item.id, action="accept")
        done.append(item.id)
    engine.dispose()
    print(json.dumps(done))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
