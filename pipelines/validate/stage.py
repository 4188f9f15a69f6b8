"""The validate stage for one batch, in plain Python (the assets are a thin layer on top)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from pipelines.validate.decide import decide
from pipelines.validate.queue import review_queue
from pipelines.validate.records import book_identity, books, normalize_readings
from pipelines.validate.roster import Match, Roster
from pipelines.validate.rowdecode import RowDecoding, decode_rows
from pipelines.validate.rules import check_book, check_year


@dataclass
class ValidateResult:
    normalized_records: pd.DataFrame
    roster_matches: pd.DataFrame
    field_decisions: pd.DataFrame
    review_queue: pd.DataFrame
    row_decoding: RowDecoding = field(default_factory=RowDecoding)
    """The score rows decoded over the recognizer's candidates (``rowdecode``)."""

    def decoding(self) -> dict[str, int]:
        """Cells decoded, changed from the recognizer's first reading, and found ambiguous."""
        d = self.row_decoding
        return {"decoded": len(d.cells), "changed": len(d.changed), "ambiguous": len(d.ambiguous)}

    def outcomes(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.roster_matches["outcome"].value_counts().items()}

    def top_reasons(self, n: int = 8) -> dict[str, int]:
        c = Counter(r.split(":")[0] if not r.startswith("rule:") else r
                    for rs in self.field_decisions["reasons"] for r in rs)
        return dict(c.most_common(n))


def matches_frame(batch_id: str, matches: list[Match]) -> pd.DataFrame:
    return pd.DataFrame([{
        "batch_id": batch_id, "book_ref": m.book_ref, "student_id": m.student_id, "outcome": m.outcome,
        "score": m.score, "differing_fields": m.differing_fields, "candidates": m.candidates,
        "identifier_issues": m.identifier_issues,
    } for m in matches], columns=["batch_id", "book_ref", "student_id", "outcome", "score",
                                  "differing_fields", "candidates", "identifier_issues"])


def matches_from_frame(df: pd.DataFrame) -> dict[str, Match]:
    return {r.book_ref: Match(r.book_ref, r.outcome, r.student_id, r.score, list(r.differing_fields),
                              list(r.candidates), list(r.identifier_issues))
            for r in df.itertuples(index=False)}


def validate_batch(readings: pd.DataFrame, layouts: pd.DataFrame, page_images: pd.DataFrame,
                   roster_rows: pd.DataFrame, thresholds: dict | None = None, *,
                   row_decoding: bool = True) -> ValidateResult:
    """``thresholds``: by (field type, style) (a plain type key: its print style); the
    calibration's when None. ``row_decoding=False`` takes each cell's first reading as it is
    (for measuring what decoding adds: ``benchmarks/handwriting.py``)."""
    batch_id = str(readings["batch_id"].iloc[0]) if len(readings) else ""
    # Score rows decoded as a whole over the recognizer's candidates: the values and confidences
    # are the decoded ones, ``raw_text`` stays what the recognizer read first.
    decoded = decode_rows(readings) if row_decoding else RowDecoding()
    records, typed = normalize_readings(decoded.apply(readings), layouts)
    if len(records):
        records["raw_text"] = readings["text"].to_numpy()
    roster = Roster(roster_rows)
    failures, matches = [], []
    values_by_page: dict[str, dict] = {}
    for book in books(records, typed):
        for y in book.years:
            failures.extend(check_year(y))
            values_by_page[y.page_id] = dict(y.values)
        failures.extend(check_book(book.identity, book.years))
        if book.identity is not None:
            values_by_page[book.identity.page_id] = dict(book.identity.values)
        matches.append(roster.match(book_identity(book)))
    by_book = {m.book_ref: m for m in matches}
    status = dict(zip(layouts["page_id"], layouts["status"], strict=True))
    checks = dict(zip(zip(readings["page_id"], readings["field_id"], strict=True), readings["checks"],
                      strict=True))
    keys = list(zip(readings["page_id"], readings["field_id"], strict=True))
    styles = dict(zip(keys, readings["style"], strict=True)) if "style" in readings.columns else {}
    decisions = decide(records, typed, failures, by_book, status, checks, thresholds, styles=styles,
                       row_ambiguous=decoded.ambiguous)
    queue = review_queue(decisions, records, readings, page_images, values_by_page, by_book, roster,
                         suggestions=decoded.suggestions)
    return ValidateResult(records.drop(columns=[]), matches_frame(batch_id, matches), decisions, queue,
                          decoded)
