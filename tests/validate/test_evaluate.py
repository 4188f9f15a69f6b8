"""Scoring against the synthetic truth: validate's decisions (score) and the final accepted values
(final_errors), on small hand-made tables shaped like a real run's and its truth/ folder."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from pipelines.storage import Storage
from pipelines.table_io import write_table
from pipelines.validate.evaluate import (
    confidence_bins,
    decision_table,
    final_errors,
    run_tables,
    score,
)

B1, B2 = "760/S1/b001", "760/S1/b002"
# (page_id, batch, file, page_index, book_ref)
PAGES = [("a-p000", B1, "SCAN_0001.pdf", 0, "HB-1"), ("a-p001", B1, "SCAN_0001.pdf", 1, "HB-1"),
         # The same file name in another batch is another book (every scanner starts at SCAN_0001).
         ("b-p000", B2, "SCAN_0001.pdf", 0, "HB-2"),
         # A page the truth cannot place: laid out on a template it was not printed from.
         ("b-p001", B2, "SCAN_0001.pdf", 1, "HB-2")]
STUDENT = {"HB-1": "079204920826", "HB-2": "079305098241"}

# (book_ref, book_page_no, template_id, field_id, field_type, truth, style)
TRUTH = [
    ("HB-1", 1, "identity", "full_name", "name", "Nguyễn Văn Hòa", "print"),
    ("HB-1", 1, "identity", "identifier", "identifier", "079204920826", "print"),
    ("HB-1", 1, "identity", "gender", "enum", "Nam", "print"),
    ("HB-1", 2, "year_thcs_tt58", "scores.toan.hk1", "score", "8,5", "handwritten"),
    ("HB-1", 2, "year_thcs_tt58", "scores.toan.retest", "score", "", "handwritten"),
    ("HB-1", 2, "year_thcs_tt58", "promotion", "enum", "Được lên lớp", "print"),
    ("HB-2", 1, "identity", "full_name", "name", "Trần Thị Bình", "handwritten"),
    ("HB-2", 2, "identity", "full_name", "name", "Trần Thị Bình", "print"),
]

# (page_id, template_id, field_id, field_type, text, confidence, value, decision, reasons)
READ = [
    ("a-p000", "identity", "full_name", "name", "Nguyễn Văn Hòa", 0.99, "Nguyễn Văn Hòa", "accept", []),
    ("a-p000", "identity", "identifier", "identifier", "O79204920826", 0.97, "079204920826", "accept", []),
    ("a-p000", "identity", "gender", "enum", "Nữ", 0.995, "Nữ", "accept", []),  # silent error
    ("a-p001", "year_thcs_tt58", "scores.toan.hk1", "score", "85", 0.62, "8,5", "flag", ["low_confidence"]),
    ("a-p001", "year_thcs_tt58", "scores.toan.retest", "score", "1", 0.55, "1,0", "flag",  # caught
     ["low_confidence", "rule:retest_only_below_5"]),
    ("a-p001", "year_thcs_tt58", "promotion", "enum", "Được lên lớp", 0.93, "Được lên lớp", "accept", []),
    ("b-p000", "identity", "full_name", "name", "Tran Thi Binh", 0.41, "Tran Thi Binh", "flag",  # caught
     ["low_confidence", "roster_mismatch"]),
    ("b-p001", "year_thcs_tt58", "full_name", "name", "Trần Thị Bình", 0.9, "Trần Thị Bình", "accept", []),
]


@pytest.fixture
def truth_dir(tmp_path):
    d = tmp_path / "truth"
    d.mkdir()
    pages = pd.DataFrame([
        {"district": b.split("/")[0], "school": b.split("/")[1], "batch": b.split("/")[2], "file": f,
         "page_index": i, "book_ref": book, "book_page_no": i + 1,
         "template_id": "identity" if i == 0 else "year_thcs_tt58", "blank": False}
        for _, b, f, i, book in PAGES])
    pages.to_parquet(d / "pages.parquet")
    pd.DataFrame(TRUTH, columns=["book_ref", "book_page_no", "template_id", "field_id", "field_type", "text",
                                 "style"]).to_parquet(d / "fields.parquet")
    (d / "books.jsonl").write_text("".join(json.dumps({"book_ref": b, "student_id": s}) + "\n"
                                           for b, s in STUDENT.items()))
    return d


@pytest.fixture
def tables():
    pi = pd.DataFrame([{"batch_id": b, "page_id": p, "file_path": f, "page_index": i, "book_ref": book}
                       for p, b, f, i, book in PAGES])
    batch = dict(zip(pi["page_id"], pi["batch_id"], strict=True))
    book = dict(zip(pi["page_id"], pi["book_ref"], strict=True))
    fr = pd.DataFrame([{"batch_id": batch[p], "page_id": p, "book_ref": book[p], "template_id": t,
                        "field_id": f, "field_type": ft, "text": x, "confidence": c}
                       for p, t, f, ft, x, c, *_ in READ])
    fd = pd.DataFrame([{"batch_id": batch[p], "book_ref": book[p], "page_id": p, "field_id": f,
                        "field_type": ft, "value": v, "confidence": c, "threshold": 0.9, "decision": d,
                        "reasons": r} for p, _, f, ft, _, c, v, d, r in READ])
    rm = pd.DataFrame([{"batch_id": B1, "book_ref": "HB-1", "student_id": STUDENT["HB-1"],
                        "outcome": "matched"},
                       {"batch_id": B2, "book_ref": "HB-2", "student_id": "079999999999",
                        "outcome": "matched_with_differences"}])
    return {"page_images": pi, "field_readings": fr, "field_decisions": fd, "roster_matches": rm}


def test_score_counts_silent_and_caught_errors(tables, truth_dir):
    result, joined = score(tables, truth_dir)
    assert result["fields"] == 8
    assert result["fields_with_truth"] == 7  # b-p001 is on a template its page was not printed from
    assert (result["auto_accepted"], result["flagged"]) == (5, 3)
    assert result["flag_rate"] == 0.375
    assert result["silent_errors"] == 1 and result["silent_error_sample"][0]["field"] == "gender"
    assert result["silent_error_rate"] == 0.25  # accepted fields with a truth: 4
    assert result["caught_errors"] == 2  # the retest that is blank on paper, HB-2's unaccented name
    assert result["roster_match_rate"] == 0.5
    assert result["roster_outcomes"] == {"matched": 1, "matched_with_differences": 1}
    assert result["top_reasons"] == {"low_confidence": 3, "rule:retest_only_below_5": 1, "roster_mismatch": 1}
    by_type = {r["field_type"]: r for r in result["by_type"]}
    assert by_type["score"] == {"field_type": "score", "fields": 2, "auto_accepted": 0, "flag_rate": 1.0,
                                "silent_errors": 0, "ocr_wrong": 1}
    assert set(joined.columns) >= {"truth", "style", "correct", "right", "decision", "value"}
    # OCR's own exactness is join_truth's: the repaired identifier was read wrong, decided right.
    ident = joined.set_index("field_id").loc["identifier"]
    assert not ident["correct"] and ident["right"]


def test_decision_table_per_field_type(tables, truth_dir):
    _, joined = score(tables, truth_dir)
    t = decision_table(joined).set_index("field_type")
    assert t.loc["total", "fields"] == 7
    cols = ["auto_accepted", "flagged", "silent_errors", "caught_errors"]
    assert t.loc["total", cols].tolist() == [4, 3, 1, 2]
    assert t.loc["enum", ["fields", "silent_errors", "caught_errors"]].tolist() == [2, 1, 0]
    assert t.loc["name", ["fields", "flagged", "caught_errors"]].tolist() == [2, 1, 1]
    assert t.loc["total", "caught_share"] == round(2 / 3, 4)


def test_confidence_bins(tables, truth_dir):
    _, joined = score(tables, truth_dir)
    joined.loc[joined["field_id"] == "promotion", "confidence"] = 1.0  # the top edge is in the last bin
    b = confidence_bins(joined, edges=(0, 0.5, 0.9, 1.0))
    # the blank truth (the retest) has no true value to be read: left out; "85" is not "8,5" to OCR
    got = {r.bin: (r.fields, r.correct) for r in b.itertuples()}
    assert got == {"[0.0, 0.5)": (1, 0), "[0.5, 0.9)": (1, 0), "[0.9, 1.0)": (4, 2)}
    assert b["fields"].sum() == 6
    per_style = confidence_bins(joined, edges=(0, 0.5, 0.9, 1.0), by="style")
    assert set(per_style["style"]) == {"print", "handwritten"}
    assert per_style["fields"].sum() == 6


def _accepted(rows):
    """accepted_records rows: (page_id, field_id, value, source)."""
    batch = {p: b for p, b, *_ in PAGES}
    book = {p: bk for p, _, _, _, bk in PAGES}
    return pd.DataFrame([{"batch_id": batch[p], "book_ref": book[p], "student_id": STUDENT[book[p]],
                          "page_id": p, "school_year": None, "grade": None, "field_id": f, "value": v,
                          "source": s, "reviewed_by": "rv1" if s == "review" else None,
                          "reviewed_at": pd.Timestamp("2026-11-23", tz="UTC") if s == "review" else pd.NaT}
                         for p, f, v, s in rows])


def test_final_errors_split_by_source(tables, truth_dir):
    tables = {**tables, "accepted_records": _accepted([
        ("a-p000", "full_name", "Nguyễn Văn Hoà", "auto"),       # right: the other tone style
        ("a-p000", "identifier", "079204920826", "auto"),
        ("a-p000", "gender", "Nữ", "auto"),                      # wrong, never reviewed
        ("a-p001", "scores.toan.hk1", "8,5", "review"),
        ("a-p001", "scores.toan.retest", None, "review"),        # blank on paper, entered blank
        ("a-p001", "promotion", "Được lên lớp", "auto"),
        ("b-p000", "full_name", "Trần Thị Bính", "review"),       # a reviewer's typo
        ("b-p001", "full_name", "Trần Thị Bình", "auto"),         # no truth for this page
    ])}
    result, joined = final_errors(tables, truth_dir)
    assert result["fields"] == 8 and result["fields_with_truth"] == 7 and result["fields_without_truth"] == 1
    assert result["errors"] == 2
    assert result["by_source"] == {"auto": {"fields": 3 + 1, "errors": 1, "error_rate": 0.25},
                                   "review": {"fields": 3, "errors": 1, "error_rate": round(1 / 3, 5)}}
    assert result["books"] == 2 and result["books_with_errors"] == 2
    assert {(e["field"], e["source"]) for e in result["error_sample"]} == {("gender", "auto"),
                                                                         ("full_name", "review")}
    by_type = {r["field_type"]: r for r in result["by_type"]}
    assert by_type["name"] == {"field_type": "name", "fields": 2, "errors": 1, "errors_auto": 0,
                               "errors_review": 1}
    assert joined["right"].dtype == bool and len(joined) == 7


def test_final_errors_blank_truth_must_stay_blank(tables, truth_dir):
    tables = {**tables, "accepted_records": _accepted([
        ("a-p001", "scores.toan.retest", "1,0", "auto"),
        ("a-p001", "scores.toan.hk1", None, "review"),   # a value on paper, accepted blank
    ])}
    result, _ = final_errors(tables, truth_dir)
    assert result["errors"] == 2
    assert result["by_source"]["auto"]["errors"] == 1 and result["by_source"]["review"]["errors"] == 1


def test_final_errors_with_nothing_accepted(tables, truth_dir):
    result, joined = final_errors({**tables, "accepted_records": _accepted([])[[]].reindex(
        columns=["batch_id", "book_ref", "page_id", "field_id", "value", "source"])}, truth_dir)
    assert result["errors"] == 0 and result["fields"] == 0 and joined.empty
    assert result["by_source"]["review"] == {"fields": 0, "errors": 0, "error_rate": 0.0}


def test_run_tables_reads_every_stored_batch_or_the_ones_asked(tmp_path):
    storage = Storage(str(tmp_path / "storage"))
    for b, book in ((B1, "HB-1"), (B2, "HB-2")):
        write_table(storage, "roster_matches", pd.DataFrame([{
            "batch_id": b, "book_ref": book, "student_id": STUDENT[book], "outcome": "matched", "score": 1.0,
            "differing_fields": [], "candidates": [], "identifier_issues": []}]), b)
    got = run_tables(storage, tables=("roster_matches", "accepted_records"))
    assert sorted(got["roster_matches"]["book_ref"]) == ["HB-1", "HB-2"]
    assert got["accepted_records"].empty and "source" in got["accepted_records"].columns
    one = run_tables(storage, [B2], tables=("roster_matches",))
    assert one["roster_matches"]["book_ref"].tolist() == ["HB-2"]
    assert set(run_tables(storage)) >= {"page_images", "field_readings", "field_decisions",
                                        "accepted_records"}
