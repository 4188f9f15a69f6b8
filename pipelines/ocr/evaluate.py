"""OCR readings against the synthetic corpus's ground truth (benchmarks, demo, tests).

"Exact after normalization" is deliberately narrow: Unicode NFC, runs of white space
collapsed, and for scores the decimal point read as the decimal comma. No fuzzy
vocabulary snapping and no comma insertion: those are validate's decisions, and
counting them here would hide OCR errors behind them.
"""

from __future__ import annotations

import unicodedata

import pandas as pd


def normalize(field_type: str, text: str) -> str:
    t = " ".join(unicodedata.normalize("NFC", text or "").split())
    if field_type == "score":
        t = t.replace(".", ",")
    return t


def join_truth(
    readings: pd.DataFrame, page_images: pd.DataFrame, truth_pages: pd.DataFrame,
    truth_fields: pd.DataFrame,
) -> pd.DataFrame:
    """Readings with their true value: adds ``truth``, ``style`` (the truth's: print | handwritten)
    and ``correct``; the reading's detected style (``field_readings.style``: hand | print) is
    renamed ``read_style``.

    Pages are matched to the truth by source file and page index (not by position in
    the book, which a blank or missing page shifts). Readings of a page laid out on
    another template than its true one (or not at all) find no truth per field and
    are left out: count those from page_layouts.
    """
    pi = page_images[["page_id", "batch_id", "file_path", "page_index"]].copy()
    pi["file"] = pi["file_path"].map(lambda p: p.rsplit("/", 1)[-1])
    # File names repeat across batches (every scanner starts at SCAN_0001): key by batch too.
    t = truth_pages.astype({"district": str, "school": str, "batch": str})
    tp = t.assign(batch_id=t["district"] + "/" + t["school"] + "/" + t["batch"])
    tp = tp[["batch_id", "file", "page_index", "book_ref", "book_page_no"]].rename(
        columns={"book_ref": "true_book_ref", "book_page_no": "true_page_no"})
    pages = pi.merge(tp, on=["batch_id", "file", "page_index"], how="inner")[
        ["page_id", "true_book_ref", "true_page_no"]]
    r = readings.rename(columns={"style": "read_style"}).merge(pages, on="page_id", how="inner")
    t = truth_fields.rename(columns={"text": "truth", "book_ref": "true_book_ref",
                                     "book_page_no": "true_page_no"})[
        ["true_book_ref", "true_page_no", "template_id", "field_id", "truth", "style"]]
    out = r.merge(t, on=["true_book_ref", "true_page_no", "template_id", "field_id"], how="inner")
    out["correct"] = [
        normalize(ft, a) == normalize(ft, b)
        for ft, a, b in zip(out["field_type"], out["text"], out["truth"], strict=True)
    ]
    return out


def accuracy_table(joined: pd.DataFrame) -> pd.DataFrame:
    """Fields, correct and accuracy per (field_type, style), for fields with a true value."""
    j = joined[joined["truth"] != ""]
    g = j.groupby(["field_type", "style"])["correct"].agg(["size", "sum"]).reset_index()
    g.columns = ["field_type", "style", "fields", "correct"]
    g["accuracy"] = (g["correct"] / g["fields"]).round(4)
    return g


TRUE_STYLE = {"handwritten": "hand", "print": "print"}
"""The truth's style words in field_readings.style's words."""


def style_accuracy(joined: pd.DataFrame) -> dict:
    """The style detector against the truth, over fields with ink read (a detected style)."""
    j = joined[(joined["truth"] != "") & (joined["read_style"] != "")]
    if j.empty:
        return {"fields": 0}
    true = j["style"].map(TRUE_STYLE)
    right = true == j["read_style"]
    out = {"fields": len(j), "accuracy": round(float(right.mean()), 4)}
    for st, g in j.groupby(true):
        out[f"{st}_recall"] = round(float((g["read_style"] == st).mean()), 4)
    return out
