"""A SIMULATED reviewer for demos and tests: answers flagged fields from the synthetic truth.

It exists so the demo and the end-to-end test can run the whole loop (flag → review →
accepted_records → issue) without a person. It works only on a synthetic corpus (it needs
its ``truth/`` folder), logs in as a user named ``simulated-reviewer`` so every decision it
makes is labelled as such in the audit log and the records' provenance, and is never on by
default: the demo turns it on with ``--simulate-review``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sqlalchemy.engine import Engine

from pipelines.ocr.evaluate import join_truth
from pipelines.review.auth import add_user, get_user_by_name
from pipelines.review.errors import InvalidValue
from pipelines.review.store import batch_counts, claim_next, submit
from pipelines.storage import Storage
from pipelines.table_io import read_table
from pipelines.validate.normalize import normalize_value_for_compare

log = logging.getLogger(__name__)

SIMULATED_USER = "simulated-reviewer"


@dataclass
class SimulatedReview:
    corrected: int = 0
    confirmed: int = 0
    illegible: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"corrected": self.corrected, "confirmed": self.confirmed, "illegible": self.illegible}


def simulated_user(engine: Engine):
    """The simulated reviewer's account (admin scope: it reviews every district), made once."""
    import secrets


    return get_user_by_name(engine, SIMULATED_USER) or add_user(
        engine, SIMULATED_USER, secrets.token_urlsafe(24), "admin", "all")


def truth_answers(storage: Storage, truth_dir: Path, batch_ids: list[str]) -> dict[tuple[str, str], str]:
    """(page_id, field_id) → the true text, for the pages of these batches."""
    items = read_table(storage, "field_readings", batch_ids)
    pages = read_table(storage, "page_images", batch_ids)
    j = join_truth(items, pages, pd.read_parquet(truth_dir / "pages.parquet"),
                   pd.read_parquet(truth_dir / "fields.parquet"))
    return {(p, f): t for p, f, t in zip(j["page_id"], j["field_id"], j["truth"], strict=True)}


def simulate_review(engine: Engine, storage: Storage, truth_dir: Path,
                    batch_ids: list[str] | None = None) -> SimulatedReview:
    """Resolve every open item of these batches (all when None) as the truth says.

    A blank truth is entered as blank. A field on a page the truth cannot place (laid out
    on the wrong template), or whose truth the normalizer rejects, is marked illegible: a
    person would fetch the paper book."""

    user = simulated_user(engine)
    batches = batch_ids or sorted(batch_counts(engine))
    answers = truth_answers(storage, truth_dir, batches)
    out = SimulatedReview()
    for batch in batches:
        while (item := claim_next(engine, user, batch_id=batch)) is not None:
            truth = answers.get((item.page_id, item.field_id))
            try:
                if truth is None:
                    raise InvalidValue(item.field_id, "không có giá trị thật", "no_truth")
                if item.proposed_value is not None and _same(item.field_type, item.vocabulary,
                                                             item.proposed_value, truth):
                    submit(engine, user, item.id, action="accept", reason="simulated: matches truth")
                    out.confirmed += 1
                else:
                    submit(engine, user, item.id, action="correct", value=truth,
                           reason="simulated: value from synthetic truth")
                    out.corrected += 1
            except InvalidValue:
                submit(engine, user, item.id, action="illegible", reason="simulated: no usable truth")
                out.illegible += 1
    log.info("simulated review: %s", out.to_dict())
    return out


def _same(field_type: str, vocabulary: str | None, proposed: str, truth: str) -> bool:
    return normalize_value_for_compare(field_type, proposed, vocabulary) == \
        normalize_value_for_compare(field_type, truth, vocabulary)
