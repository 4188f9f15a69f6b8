"""The review queue (flagged fields with what a reviewer needs) and accepted_records."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from pipelines.contracts import templates
from pipelines.domain.grading import year_average
from pipelines.validate.normalize import normalize_field
from pipelines.validate.records import GENDERS
from pipelines.validate.roster import BookIdentity, Match, Roster


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
    parts = field_id.split(".")
    if len(parts) == 3 and parts[0] == "scores" and parts[2] == "ca_nam":
        hk1, hk2 = page_values.get(f"scores.{parts[1]}.hk1"), page_values.get(f"scores.{parts[1]}.hk2")
        if isinstance(hk1, float) and isinstance(hk2, float):
            out.append(_score_text(year_average(hk1, hk2)))
    return out


def review_queue(decisions: pd.DataFrame, records: pd.DataFrame, readings: pd.DataFrame,
                 page_images: pd.DataFrame, values_by_page: Mapping[str, Mapping[str, object]],
                 matches: Mapping[str, Match], roster: Roster | None) -> pd.DataFrame:
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
        "candidates": [candidates(f, values_by_page.get(p, {}), matches.get(b), roster)
                       for f, p, b in zip(j["field_id"], j["page_id"], j["book_ref"], strict=True)],
        "crop_uri": j["crop_uri"], "page_image_uri": j["page_id"].map(img),
        "box_px": j["box_px"],
    })


IDENTITY_FIELDS = ("full_name", "birth_date", "gender", "identifier")
CORRECTION_COLUMNS = ["page_id", "field_id", "status", "value", "reviewed_by", "reviewed_at"]


def _identity_from(book_ref: str, school_code: str | None, values: Mapping[str, str | None]) -> BookIdentity:
    """A book's identity from its final (reviewed) identity field values."""
    birth = normalize_field("date", values.get("birth_date")).date if values.get("birth_date") else None
    return BookIdentity(book_ref=book_ref, school_code=school_code,
                        student_id=values.get("identifier") or None, full_name=values.get("full_name"),
                        birth_date=birth, gender=GENDERS.get(values.get("gender") or ""))


def accepted_records(decisions: pd.DataFrame, records: pd.DataFrame, matches: Mapping[str, Match],
                     corrections: pd.DataFrame | None = None, roster: Roster | None = None) -> pd.DataFrame:
    """Every field of each book that has no open flag and a roster student, with provenance.

    A flagged field counts as resolved when the review database has it ``done``; its value is
    the reviewer's (source ``review``). A book with an identity field reviewed is matched
    again on its final identity (the reviewer may have fixed the name the match failed on);
    it is accepted only if that match finds a student."""
    corr = corrections if corrections is not None else pd.DataFrame(columns=CORRECTION_COLUMNS)
    done = corr[corr["status"] == "done"].set_index(["page_id", "field_id"])
    key = pd.MultiIndex.from_frame(decisions[["page_id", "field_id"]])
    reviewed = key.isin(done.index)
    flagged = decisions["decision"].eq("flag").to_numpy()
    open_books = set(decisions.loc[flagged & ~reviewed, "book_ref"])
    d = decisions.assign(_reviewed=reviewed)[~decisions["book_ref"].isin(open_books)]
    d = d.merge(records[["page_id", "field_id", "school_year", "grade", "template_id"]],
                on=["page_id", "field_id"])
    tpls = templates()
    d["page_kind"] = d["template_id"].map(lambda t: tpls[t].page_kind if t in tpls else None)
    d = d.join(done[["value", "reviewed_by", "reviewed_at"]].rename(columns={"value": "review_value"}),
               on=["page_id", "field_id"])
    d["final"] = d["review_value"].where(d["_reviewed"], d["value"])
    student: dict[str, str | None] = {}
    for b, g in d.groupby("book_ref", sort=False):
        m = matches.get(b)
        sid = m.student_id if m else None
        ident = g[(g["page_kind"] == "identity_page") & g["field_id"].isin(IDENTITY_FIELDS)]
        if roster is not None and ident["_reviewed"].any():
            parts = str(g["batch_id"].iloc[0]).split("/")
            final = {f: (v if isinstance(v, str) and v else None)  # NaN: blank or unread
                     for f, v in zip(ident["field_id"], ident["final"], strict=True)}
            sid = roster.match(_identity_from(b, parts[1] if len(parts) >= 3 else None, final)).student_id
        student[b] = sid if isinstance(sid, str) and sid else None  # NaN from a Parquet round trip
    d = d.loc[d["book_ref"].map(lambda b: bool(student.get(b))).astype(bool)]
    return pd.DataFrame({
        "batch_id": d["batch_id"], "book_ref": d["book_ref"], "student_id": d["book_ref"].map(student),
        "page_id": d["page_id"], "school_year": d["school_year"], "grade": d["grade"],
        "field_id": d["field_id"], "value": d["final"],
        "source": ["review" if r else "auto" for r in d["_reviewed"]],
        "reviewed_by": d["reviewed_by"].where(d["_reviewed"], None),
        "reviewed_at": pd.to_datetime(d["reviewed_at"].where(d["_reviewed"], None), utc=True),
    }).reset_index(drop=True)
