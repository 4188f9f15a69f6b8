"""Validate's decisions and the final accepted values against a synthetic run's ground truth.

For the accuracy benchmark, the demo and the analysts' notebook (notebooks/accuracy.ipynb); it
needs a synthetic corpus's ``truth/`` folder (pages.parquet, fields.parquet, books.jsonl).

- ``score``: what validate proposed and decided (before review): auto-accepted, flagged,
  silent errors (accepted but wrong), caught errors (wrong and flagged), roster matches.
- ``final_errors``: the values that go on to be signed (``accepted_records``, after review)
  that differ from the truth, split by source (``auto`` | ``review``).
- ``run_tables``: a stored run's stage tables, as both take them.

OCR's own exact-match accuracy is ``pipelines.ocr.evaluate`` (``join_truth``, ``accuracy_table``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.ocr.evaluate import join_truth
from pipelines.storage import Storage
from pipelines.table_io import read_table
from pipelines.validate.normalize import normalize_value_for_compare
from pipelines.validate.records import field_vocabulary

RUN_TABLES = ("page_images", "page_layouts", "field_readings", "normalized_records", "roster_matches",
              "field_decisions", "review_queue", "accepted_records")
"""The stage tables ``run_tables`` reads (all partitioned by batch)."""

SOURCES = ("auto", "review")
"""``accepted_records.source``: accepted without review, or the reviewer's value."""


def run_tables(storage: Storage, keys: Iterable[str] | None = None,
               tables: Iterable[str] = RUN_TABLES) -> dict[str, pd.DataFrame]:
    """A stored run's stage tables, one frame each: the batches ``keys`` ("district/school/batch"),
    or every batch stored when None. A table never written comes back empty, with its columns."""
    parts = None if keys is None else list(keys)
    return {t: read_table(storage, t, parts) for t in tables}


def read_truth(truth_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The truth's (pages, fields) frames."""
    truth_dir = Path(truth_dir)
    return pd.read_parquet(truth_dir / "pages.parquet"), pd.read_parquet(truth_dir / "fields.parquet")


def score(tables: dict, truth_dir: Path) -> tuple[dict, pd.DataFrame]:
    """Validate's decisions against the truth: (summary, the decided readings joined to the truth).

    ``tables`` holds ``page_images``, ``field_readings``, ``field_decisions`` and
    ``roster_matches``. The joined frame is ``join_truth``'s with the decision's ``value``,
    ``decision`` and ``reasons`` and ``right``: the value validate proposes equals the truth's
    canonical value (a blank truth must be read blank)."""

    truth_pages, truth_fields = read_truth(truth_dir)
    readings = tables["field_readings"].merge(
        tables["field_decisions"][["page_id", "field_id", "value", "decision", "reasons"]],
        on=["page_id", "field_id"])
    j = join_truth(readings, tables["page_images"], truth_pages, truth_fields)
    # Right when the value validate proposes equals the truth's canonical value; a blank
    # truth must be read blank.
    j["right"] = [
        (normalize_value_for_compare(ft, t) == (v if v is not None else normalize_value_for_compare(ft, x)))
        if t else (pd.isna(v) and not (x if isinstance(x, str) else "").strip())
        for ft, t, v, x in zip(j["field_type"], j["truth"], j["value"], j["text"], strict=True)
    ]
    d = tables["field_decisions"]
    acc, flag = j[j["decision"] == "accept"], j[j["decision"] == "flag"]
    silent = int((~acc["right"]).sum())
    books = [json.loads(line) for line in (Path(truth_dir) / "books.jsonl").read_text().splitlines()]
    true_student = {b["book_ref"]: b["student_id"] for b in books}
    m = tables["roster_matches"]
    matched_right = sum(true_student.get(b) == s for b, s in zip(m["book_ref"], m["student_id"], strict=True))
    per_type = []
    for ft, g in j.groupby("field_type"):
        a = g[g["decision"] == "accept"]
        per_type.append({"field_type": ft, "fields": len(g), "auto_accepted": len(a),
                         "flag_rate": round(1 - len(a) / len(g), 4),
                         "silent_errors": int((~a["right"]).sum()),
                         "ocr_wrong": int((~g["right"]).sum())})
    reasons = Counter(r for rs in d["reasons"] for r in rs)
    result = {
        "fields": len(d), "fields_with_truth": len(j),
        "auto_accepted": int((d["decision"] == "accept").sum()),
        "flagged": int((d["decision"] == "flag").sum()),
        "flag_rate": round(float((d["decision"] == "flag").mean()), 4),
        "silent_errors": silent,
        "silent_error_rate": round(silent / max(len(acc), 1), 5),
        "caught_errors": int((~flag["right"]).sum()),
        "roster_match_rate": round(matched_right / max(len(m), 1), 4),
        "roster_outcomes": {str(k): int(v) for k, v in m["outcome"].value_counts().items()},
        "by_type": per_type,
        "top_reasons": dict(reasons.most_common(10)),
        "silent_error_sample": [
            {"field": r.field_id, "truth": r.truth, "value": r.value, "confidence": r.confidence}
            for r in acc[~acc["right"]].head(8).itertuples()],
    }
    return result, j


def decision_table(joined: pd.DataFrame) -> pd.DataFrame:
    """Per field type, from ``score``'s joined frame: fields, auto_accepted, flagged, silent_errors
    (accepted and wrong), caught_errors (flagged and wrong) and their rates; a ``total`` row last."""
    j = joined.assign(accepted=joined["decision"] == "accept", flagged=joined["decision"] == "flag",
                      wrong=~joined["right"].astype(bool))
    j = j.assign(silent=j["accepted"] & j["wrong"], caught=j["flagged"] & j["wrong"])
    cols = {"fields": ("wrong", "size"), "auto_accepted": ("accepted", "sum"), "flagged": ("flagged", "sum"),
            "wrong": ("wrong", "sum"), "silent_errors": ("silent", "sum"), "caught_errors": ("caught", "sum")}
    t = j.groupby("field_type").agg(**cols)
    t.loc["total"] = t.sum()
    t = t.astype(int)
    t["flag_rate"] = (t["flagged"] / t["fields"].clip(lower=1)).round(4)
    t["silent_error_rate"] = (t["silent_errors"] / t["auto_accepted"].clip(lower=1)).round(5)
    t["caught_share"] = (t["caught_errors"] / t["wrong"].clip(lower=1)).round(4)
    return t.reset_index()


def confidence_bins(joined: pd.DataFrame, edges: Iterable[float] = (0, .5, .7, .8, .9, .95, .98, .99, 1.0),
                    by: str | None = None) -> pd.DataFrame:
    """OCR calibration from ``join_truth``'s frame: fields and exact accuracy per confidence bin
    (left-closed, the last bin holds 1.0), for fields with a true value; per ``by`` (e.g. "style")
    too when given. ``mean_confidence`` next to ``accuracy`` shows how far off the confidence is."""
    j = joined[joined["truth"] != ""]
    e = list(edges)
    # Left-closed bins; the top edge itself (confidence 1.0) goes in the last one.
    bins = pd.cut(j["confidence"].clip(e[0], np.nextafter(e[-1], e[0])), bins=e, right=False)
    keys = [bins.rename("bin")] + ([j[by]] if by else [])
    g = j.groupby(keys, observed=True).agg(fields=("correct", "size"), correct=("correct", "sum"),
                                           mean_confidence=("confidence", "mean")).reset_index()
    g["bin"] = g["bin"].astype(str)
    g["correct"] = g["correct"].astype(int)
    g["accuracy"] = (g["correct"] / g["fields"]).round(4)
    g["mean_confidence"] = g["mean_confidence"].round(4)
    return g


def _blank(v) -> bool:
    return not isinstance(v, str) or not v.strip()


def final_errors(tables: dict, truth_dir: Path) -> tuple[dict, pd.DataFrame]:
    """The final accepted values (``accepted_records``, after review) against the truth.

    ``tables`` holds ``accepted_records``, ``field_readings`` (for each field's template and
    type) and ``page_images`` (to place pages in the truth). A value is right when it equals the
    truth's canonical value (both compared as ``normalize_value_for_compare`` with the field's
    vocabulary); a blank truth must be accepted blank. Fields the truth cannot place (a page
    laid out on another template than its true one) are counted in ``fields_without_truth``.

    Returns (summary, the accepted fields joined to the truth with ``right``). The summary has
    ``fields``, ``fields_with_truth``, ``fields_without_truth``, ``errors``, ``error_rate``,
    ``by_source`` ({auto|review: {fields, errors, error_rate}}, both always there), ``books``,
    ``books_with_errors``, ``by_type`` and ``error_sample``."""

    truth_pages, truth_fields = read_truth(truth_dir)
    a = tables["accepted_records"]
    fr = tables["field_readings"][["page_id", "field_id", "template_id", "field_type", "text", "confidence"]]
    acc = a[["batch_id", "book_ref", "page_id", "field_id", "value", "source"]].merge(
        fr, on=["page_id", "field_id"], how="left")
    j = join_truth(acc, tables["page_images"], truth_pages, truth_fields)

    def same(ft: str, tpl: str, fid: str, truth: str, value) -> bool:
        if _blank(truth) or _blank(value):
            return _blank(truth) and _blank(value)
        vocab = field_vocabulary(tpl, fid)
        return normalize_value_for_compare(ft, truth, vocab) == normalize_value_for_compare(ft, value, vocab)

    cols = ("field_type", "template_id", "field_id", "truth", "value")
    j["right"] = pd.Series([same(*r) for r in zip(*(j[c] for c in cols), strict=True)],
                           index=j.index, dtype=bool)
    wrong = j[~j["right"]]
    by_source = {}
    for s in SOURCES:
        g = j[j["source"] == s]
        e = int((~g["right"]).sum())
        by_source[s] = {"fields": len(g), "errors": e, "error_rate": round(e / max(len(g), 1), 5)}
    by_type = [{"field_type": str(ft), "fields": len(g), "errors": int((~g["right"]).sum()),
                "errors_auto": int((~g["right"] & (g["source"] == "auto")).sum()),
                "errors_review": int((~g["right"] & (g["source"] == "review")).sum())}
               for ft, g in j.groupby("field_type")]
    result = {
        "fields": len(a), "fields_with_truth": len(j), "fields_without_truth": len(a) - len(j),
        "errors": len(wrong), "error_rate": round(len(wrong) / max(len(j), 1), 5),
        "by_source": by_source,
        "books": int(a["book_ref"].nunique()), "books_with_errors": int(wrong["book_ref"].nunique()),
        "by_type": by_type,
        "error_sample": [
            {"book_ref": r.book_ref, "field": r.field_id, "source": r.source, "truth": r.truth,
             "value": None if _blank(r.value) else r.value}
            for r in wrong.head(8).itertuples()],
    }
    return result, j
