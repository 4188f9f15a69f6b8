"""The review queue: flagged fields with what a reviewer needs (suggestions, crops, page images)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from pipelines.contracts.fields import SCORES, TERMS, YEAR_TERM, FieldId
from pipelines.domain.grading import year_average
from pipelines.validate.roster import Match, Roster


def _score_text(x: float) -> str:
    return f"{x:.1f}".replace(".", ",")


def candidates(field_id: str, page_values: Mapping[str, object], match: Match | None,
               roster: Roster | None) -> list[str]:
    """Suggestions for a flagged field: the roster's spelling and the recomputed Cả năm."""
    out: list[str] = []
    if match is not None and match.student_id and roster is not None:
        i = roster.by_id.get(match.student_id)
        if i is not None:
            row = roster.rows.loc[i]
            if field_id == "full_name":
                out.append(row["full_name"])
            elif field_id == "birth_date" and pd.notna(row["birth_date"]):
                out.append(row["birth_date"].strftime("%d/%m/%Y"))
            elif field_id == "identifier":
                out.append(match.student_id)
    f = FieldId.try_parse(field_id)
    if f is not None and f.table == SCORES and f.column == YEAR_TERM:
        hk1, hk2 = (page_values.get(str(f.with_column(t))) for t in TERMS[:2])
        if isinstance(hk1, float) and isinstance(hk2, float):
            out.append(_score_text(year_average(hk1, hk2)))
    return out


def review_queue(decisions: pd.DataFrame, records: pd.DataFrame, readings: pd.DataFrame,
                 page_images: pd.DataFrame, values_by_page: Mapping[str, Mapping[str, object]],
                 matches: Mapping[str, Match], roster: Roster | None,
                 suggestions: Mapping[tuple[str, str], Sequence[str]] | None = None) -> pd.DataFrame:
    """One row per flagged field. ``suggestions``: more values to offer per (page_id, field_id),
    first (row decoding's readings of a score row or ĐTB cell that fit the grading arithmetic)."""
    extra = suggestions or {}
    flagged = decisions[decisions["decision"] == "flag"]
    cols = ["page_id", "field_id", "template_id", "raw_text"]
    j = flagged.merge(records[cols], on=["page_id", "field_id"], how="left")
    j = j.merge(readings[["page_id", "field_id", "crop_uri", "box_px"]], on=["page_id", "field_id"],
                how="left")
    img = dict(zip(page_images["page_id"], page_images["image_uri"], strict=True))
    return pd.DataFrame({
        "batch_id": j["batch_id"], "book_ref": j["book_ref"], "page_id": j["page_id"],
        "template_id": j["template_id"], "field_id": j["field_id"], "field_type": j["field_type"],
        "raw_text": j["raw_text"], "proposed_value": j["value"], "confidence": j["confidence"],
        "reasons": j["reasons"],
        "candidates": [
            list(dict.fromkeys([*extra.get((p, f), ()),
                                *candidates(f, values_by_page.get(p, {}), matches.get(b), roster)]))
            for f, p, b in zip(j["field_id"], j["page_id"], j["book_ref"], strict=True)],
        "crop_uri": j["crop_uri"], "page_image_uri": j["page_id"].map(img),
        "box_px": j["box_px"],
    })
