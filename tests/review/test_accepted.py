"""accepted_records: auto-accepted fields plus the reviewers' corrections, per finished book."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from pipelines.review.accepted import accepted_records
from pipelines.review.store import CORRECTIONS_COLUMNS
from pipelines.validate.roster import Match, Roster

BATCH = "D1/S1/b001"


def _decisions(rows):
    return pd.DataFrame(
        [
            {
                "batch_id": BATCH,
                "book_ref": b,
                "page_id": p,
                "field_id": f,
                "field_type": t,
                "value": v,
                "confidence": 0.99,
                "threshold": 0.9,
                "decision": d,
                "reasons": [] if d == "accept" else ["low_confidence"],
            }
            for b, p, f, t, v, d in rows
        ]
    )


def _records(dec):
    tpl = {"p0": "identity", "p1": "year_thcs_tt58", "p9": "year_thcs_tt58"}
    return dec.assign(
        school_year=[None if p == "p0" else 2015 for p in dec["page_id"]],
        grade=[None if p == "p0" else 6 for p in dec["page_id"]],
        template_id=dec["page_id"].map(tpl),
    )


def _corrections(rows):
    return pd.DataFrame(
        [
            {
                "page_id": p,
                "field_id": f,
                "status": s,
                "value": v,
                "reviewed_by": "rv1",
                "reviewed_at": pd.Timestamp("2026-11-23 10:00", tz="UTC"),
            }
            for p, f, s, v in rows
        ],
        columns=list(CORRECTIONS_COLUMNS),
    )


ROSTER = Roster(
    pd.DataFrame(
        {
            "row_id": [1, 2],
            "student_id": ["079209000001", "079209000002"],
            "full_name": ["Lê Văn An", "Trần Thị Bình"],
            "name_key": ["le van an", "tran thi binh"],
            "birth_date": [dt.date(2009, 1, 2), dt.date(2009, 3, 4)],
            "gender": ["male", "female"],
            "school_code": ["S1", "S1"],
        }
    )
)


def test_books_with_open_flags_wait_and_reviewed_values_carry_their_reviewer():
    dec = _decisions(
        [
            ("B1", "p1", "scores.toan.hk1", "score", "8,5", "accept"),
            ("B1", "p1", "scores.toan.hk2", "score", "5,0", "flag"),
            ("B2", "p9", "scores.toan.hk1", "score", "7,0", "accept"),
            ("B2", "p9", "scores.toan.hk2", "score", None, "flag"),
        ]
    )
    matches = {
        "B1": Match("B1", "matched", "079209000001", 1.0),
        "B2": Match("B2", "matched", "079209000002"),
    }
    # Nothing reviewed: neither book is complete.
    assert accepted_records(dec, _records(dec), matches).empty
    # B1's flag resolved with a correction; B2's still open.
    out = accepted_records(
        dec,
        _records(dec),
        matches,
        _corrections([("p1", "scores.toan.hk2", "done", "6,5"), ("p9", "scores.toan.hk2", "open", None)]),
    )
    assert set(out["book_ref"]) == {"B1"}
    row = out.set_index("field_id").loc["scores.toan.hk2"]
    assert (row["value"], row["source"], row["reviewed_by"]) == ("6,5", "review", "rv1")
    auto = out.set_index("field_id").loc["scores.toan.hk1"]
    assert (auto["value"], auto["source"]) == ("8,5", "auto") and pd.isna(auto["reviewed_by"])
    assert out["student_id"].eq("079209000001").all() and out["batch_id"].eq(BATCH).all()


def test_a_field_needing_the_paper_book_holds_its_book_back():
    dec = _decisions([("B1", "p1", "scores.toan.hk2", "score", "5,0", "flag")])
    matches = {"B1": Match("B1", "matched", "079209000001", 1.0)}
    out = accepted_records(
        dec, _records(dec), matches, _corrections([("p1", "scores.toan.hk2", "needs_paper", None)])
    )
    assert out.empty


def test_an_unmatched_book_is_matched_again_on_its_reviewed_identity():
    dec = _decisions(
        [
            ("B1", "p0", "full_name", "name", None, "flag"),
            ("B1", "p0", "birth_date", "date", "02/01/2009", "accept"),
            ("B1", "p0", "gender", "enum", "Nam", "accept"),
            ("B1", "p0", "identifier", "identifier", None, "accept"),
        ]
    )
    matches = {"B1": Match("B1", "unmatched")}
    corr = _corrections([("p0", "full_name", "done", "Lê Văn An")])
    out = accepted_records(dec, _records(dec), matches, corr, ROSTER)
    assert set(out["student_id"]) == {"079209000001"}
    # Without the roster to match against, an unmatched book cannot be tied to a student,
    # also when its match comes back from Parquet with NaN for "no student".
    assert accepted_records(dec, _records(dec), matches, corr).empty
    nan = {"B1": Match("B1", "unmatched", float("nan"))}
    assert accepted_records(dec, _records(dec), nan, corr).empty
