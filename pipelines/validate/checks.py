"""Validate's asset checks: one decision per reading, one roster outcome per book, flags with reasons."""

from collections.abc import Iterator

import dagster as dg
import pandas as pd

from pipelines.checks import preview

EVERY_FIELD_DECIDED = "every_field_decided"
EVERY_BOOK_MATCHED_OR_EXPLAINED = "every_book_matched_or_explained"
FLAGS_HAVE_REASONS = "flags_have_reasons"

CHECK_SPECS = [
    dg.AssetCheckSpec(EVERY_FIELD_DECIDED, asset="field_decisions", additional_deps=["field_readings"],
                      description="Exactly one decision per field reading.", blocking=True),
    dg.AssetCheckSpec(EVERY_BOOK_MATCHED_OR_EXPLAINED, asset="roster_matches",
                      description="Every book has one roster outcome.", blocking=True),
    dg.AssetCheckSpec(FLAGS_HAVE_REASONS, asset="field_decisions",
                      description="A flagged field names why; an accepted one has no reason.",
                      blocking=True),
]


def _keys(df: pd.DataFrame) -> list[str]:
    return [f"{p}/{f}" for p, f in zip(df["page_id"], df["field_id"], strict=True)]


def validate_checks(field_readings: pd.DataFrame, decisions: pd.DataFrame,
                    roster_matches: pd.DataFrame) -> Iterator[dg.AssetCheckResult]:
    """The checks of one batch's validate tables against its ``field_readings``."""
    d = decisions
    decided = set(_keys(d))
    undecided = [k for k in _keys(field_readings) if k not in decided]
    twice = _keys(d[d.duplicated(["page_id", "field_id"])])
    yield dg.AssetCheckResult(
        check_name=EVERY_FIELD_DECIDED, asset_key="field_decisions",
        passed=len(d) == len(field_readings) and not d.duplicated(["page_id", "field_id"]).any(),
        metadata={"readings": len(field_readings), "decisions": len(d),
                  "fields": preview([*undecided, *twice])})
    books = set(field_readings["book_ref"])
    m = roster_matches
    matched = set(m["book_ref"])
    odd = sorted(books ^ matched) + sorted(set(m.loc[m["book_ref"].duplicated(), "book_ref"]))
    yield dg.AssetCheckResult(
        check_name=EVERY_BOOK_MATCHED_OR_EXPLAINED, asset_key="roster_matches",
        passed=matched == books and m["book_ref"].is_unique,
        metadata={"books": len(books), "matches": len(m), "book_refs": preview(odd)})
    reasons_n = d["reasons"].map(len)
    wrong = ((d["decision"] == "flag") & (reasons_n == 0)) | ((d["decision"] == "accept") & (reasons_n > 0))
    bad = int(wrong.sum())
    yield dg.AssetCheckResult(check_name=FLAGS_HAVE_REASONS, asset_key="field_decisions",
                              passed=bad == 0,
                              metadata={"inconsistent": bad, "fields": preview(_keys(d[wrong]))})
