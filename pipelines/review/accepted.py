"""accepted_records: the reviewers' corrections joined to validate's decisions, per finished book.

Plain logic over frames, no Dagster (the asset in ``assets.py`` reads the corrections from the
review database and calls ``accepted_records``). It lives in the review stage because it is the
review loop's product: it needs the reviewers' work, and ``reviews_done_sensor`` requests it.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from pipelines.contracts import templates
from pipelines.ids import BatchKey
from pipelines.review.store import CORRECTIONS_COLUMNS
from pipelines.validate.decide import decision_rules
from pipelines.validate.normalize import normalize_field
from pipelines.validate.records import GENDERS
from pipelines.validate.roster import BookIdentity, Match, Roster


def _identity_from(book_ref: str, school_code: str | None, values: Mapping[str, str | None]) -> BookIdentity:
    """A book's identity from its final (reviewed) identity field values."""
    birth = normalize_field("date", values.get("birth_date")).date if values.get("birth_date") else None
    return BookIdentity(book_ref=book_ref, school_code=school_code,
                        student_id=values.get("identifier") or None, full_name=values.get("full_name"),
                        birth_date=birth, gender=GENDERS.get(values.get("gender") or ""))


def accepted_records(decisions: pd.DataFrame, records: pd.DataFrame, matches: Mapping[str, Match],
                     corrections: pd.DataFrame | None = None, roster: Roster | None = None) -> pd.DataFrame:
    """Every field of each book that has no open flag and a roster student, with provenance.

    ``corrections`` is ``store.corrections`` of the batch (None: nothing reviewed). A flagged field
    counts as resolved when the review database has it ``done``; its value is the reviewer's (source
    ``review``). A book with an identity field (decisions.yaml ``identity_fields``) reviewed is
    matched again on its final identity (the reviewer may have fixed the name the match failed on);
    it is accepted only if that match finds a student."""
    identity_fields = decision_rules().identity_fields
    corr = corrections if corrections is not None else pd.DataFrame(columns=list(CORRECTIONS_COLUMNS))
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
        ident = g[(g["page_kind"] == "identity_page") & g["field_id"].isin(identity_fields)]
        if roster is not None and ident["_reviewed"].any():
            batch = BatchKey.lenient(str(g["batch_id"].iloc[0]))
            final = {f: (v if isinstance(v, str) and v else None)  # NaN: blank or unread
                     for f, v in zip(ident["field_id"], ident["final"], strict=True)}
            sid = roster.match(_identity_from(b, batch.school if batch else None, final)).student_id
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
