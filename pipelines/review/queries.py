"""What other stages may read of the review database: unscoped, read-only, no field values.

Coverage (its tables, the recount behind its check and the sensor's fingerprint) reads review items
through these functions only, so the review tables stay review's to change.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from pipelines.review.db import STATUSES, ReviewItem

ITEM_PROGRESS_COLUMNS = ("batch_id", "page_id", "status", "created_at", "resolved_at")


def item_progress(engine: Engine) -> pd.DataFrame:
    """One row per review item: its batch, page, stored status and times (columns
    :data:`ITEM_PROGRESS_COLUMNS`; no values). A claimed item keeps status ``claimed``, expired or not."""
    q = select(ReviewItem.batch_id, ReviewItem.page_id, ReviewItem.status, ReviewItem.created_at,
               ReviewItem.resolved_at)
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    return pd.DataFrame(rows, columns=list(ITEM_PROGRESS_COLUMNS))


def status_counts(engine: Engine) -> dict[str, int]:
    """How many review items have each status (every status of ``db.STATUSES``, 0 when none)."""
    with engine.connect() as conn:
        found = dict(conn.execute(select(ReviewItem.status, func.count()).group_by(ReviewItem.status)).all())
    return {s: int(found.get(s, 0)) for s in STATUSES}


@dataclass(frozen=True)
class Activity:
    """A summary of the review items that changes whenever an item is added or changes status."""

    items: int
    """How many items there are."""
    last_resolved_at: dt.datetime | None
    """When the latest item was resolved (None: none yet)."""
    status_length: int | None
    """The sum of the lengths of the items' status words: changes when a status does (None: no items)."""


def activity(engine: Engine) -> Activity:
    """The current :class:`Activity` (one query)."""
    with engine.connect() as conn:
        n, last, length = conn.execute(select(func.count(), func.max(ReviewItem.resolved_at),
                                              func.sum(func.length(ReviewItem.status)))).one()
    return Activity(n, last, length)
