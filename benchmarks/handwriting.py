"""Handwritten cells: the recognizers, row decoding and the decisions at the shipped thresholds (JSON).

Two ways to measure, one JSON object each:

    # a synthetic corpus (MNIST validation digits and handwriting fonts, scanned and degraded):
    .venv/bin/python benchmarks/handwriting.py --books 20 --difficulty typical [--write-cells DIR]

    # a folder of labelled cell crops, e.g. cut from a district's own scans:
    .venv/bin/python benchmarks/handwriting.py --cells DIR [--out PRED.csv]

``DIR/cells.csv`` has the columns ``file,truth,field_type,style,row,column``:

- ``file``: a PNG in DIR, one table cell at 300 dpi (``--dpi``), ruled lines included;
- ``truth``: the exact text, ``""`` for a blank cell;
- ``field_type``: ``score`` or ``comment``; ``style``: ``hand``, ``print`` or empty;
- ``row``: groups the cells of one table row of one page, as ``<page>.<subject>``; a row whose
  key ends in ``.dtb`` is the ĐTB row; ``column``: ``hk1``, ``hk2``, ``ca_nam`` or ``retest``.

``--out PRED.csv`` writes one line per cell: ``file,text,confidence,decision`` (``accept`` or
``flag``: the decision the pipeline takes at the shipped thresholds, row decoding included;
the cells of one page are validated together as the validate stage does, on a TT58 year page
of ``--school-year``).

The JSON: per (field type, style) the exact match of the recognizer alone (its text as read,
before the normalizer repairs e.g. `49` → `4,9`) and after row
decoding, top-3 accuracy, the auto-accept rate (of all cells, and ``auto_accepted_written`` of
the cells with writing) and the silent-error rate (accepted and wrong)
at the shipped thresholds with and without row decoding; the style detector's accuracy; ms per
cell. With ``--books``, also the whole corpus's flag and silent-error rates (every field type).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.contracts import field_types, table_contract
from pipelines.forms.draw import mm_to_px
from pipelines.frames import to_frame
from pipelines.ocr.engine import MARGIN_MM, MIN_INK_PX_MM2, clean_crop, read_cells, styles_of
from pipelines.ocr.evaluate import normalize as exact_form
from pipelines.recognize.base import Cell
from pipelines.validate.normalize import normalize_field
from pipelines.validate.stage import validate_batch

CELL_COLUMNS = ["file", "truth", "field_type", "style", "row", "column"]
TEMPLATE = "year_thcs_tt58"
STYLES = {"handwritten": "hand", "hand": "hand", "print": "print", "": ""}


# --- reading a folder of cells -----------------------------------------------------------------
def read_cells_dir(folder: Path, dpi: int) -> tuple[pd.DataFrame, float]:
    """``cells.csv`` with each cell read: text, confidence, candidates, detected style; and the
    milliseconds per inked cell (cleaning, style and recognition)."""
    cells = pd.read_csv(folder / "cells.csv", dtype=str, keep_default_na=False)
    missing = [c for c in CELL_COLUMNS if c not in cells.columns]
    if missing:
        raise SystemExit(f"{folder / 'cells.csv'}: missing columns {missing}; expected {CELL_COLUMNS}")
    bad = sorted(set(cells["field_type"]) - {"score", "comment"})
    if bad:
        raise SystemExit(f"{folder / 'cells.csv'}: field_type {bad}: expected score or comment")
    t0 = time.perf_counter()
    margin = mm_to_px(MARGIN_MM, dpi)
    min_ink = MIN_INK_PX_MM2 * (dpi / 25.4) ** 2
    read: list[Cell | None] = []
    for f in cells["file"]:
        gray = cv2.imread(str(folder / f), cv2.IMREAD_GRAYSCALE)
        if gray is None:
            raise SystemExit(f"{folder / f}: not a readable image (row of cells.csv naming it)")
        ink = clean_crop(gray, dpi, margin)
        read.append(Cell(gray, ink, dpi) if np.count_nonzero(ink) >= min_ink else None)
    inked = [i for i, c in enumerate(read) if c is not None]
    styles = dict(zip(inked, styles_of([read[i] for i in inked]), strict=True))
    out = cells.assign(text="", confidence=1.0, candidates=[[] for _ in range(len(cells))],
                       candidate_probs=[[] for _ in range(len(cells))], read_style="",
                       style_confidence=1.0, checks="")
    groups: dict[tuple[str, str], list[int]] = {}
    for i in inked:
        ft = cells.at[i, "field_type"]
        groups.setdefault((field_types()[ft].recognizers[styles[i].style], ft), []).append(i)
    for (name, ft), idx in groups.items():
        for i, r in zip(idx, read_cells(name, [read[i] for i in idx], ft, [cells.at[i, "file"] for i in idx]),
                        strict=True):
            out.at[i, "text"] = r.text
            out.at[i, "confidence"] = r.confidence
            out.at[i, "candidates"] = [c.text for c in r.candidates]
            out.at[i, "candidate_probs"] = [c.p for c in r.candidates]
            out.at[i, "checks"] = ";".join(r.checks)
    for i in inked:
        out.at[i, "read_style"] = styles[i].style
        out.at[i, "style_confidence"] = styles[i].confidence
    ms = (time.perf_counter() - t0) * 1000 / max(1, len(inked))
    return out, ms


def _readings_frame(cells: pd.DataFrame, school_year: str) -> pd.DataFrame:
    """The cells as ``field_readings`` of TT58 year pages (one page per row-key prefix), with
    each page's school year read, so validate decides them as it decides a stage's batch."""
    rows = []
    for _, c in cells.iterrows():
        page, subject = c["row"].rsplit(".", 1) if "." in c["row"] else ("page", c["row"])
        rows.append({
            "batch_id": "cells", "page_id": page, "book_ref": page, "template_id": TEMPLATE,
            "field_id": f"scores.{subject}.{c['column']}", "field_type": c["field_type"],
            "text": c["text"], "confidence": float(c["confidence"]),
            "engine_confidence": float(c["confidence"]), "checks": c["checks"],
            "style": c["read_style"], "style_confidence": float(c["style_confidence"]),
            "candidates": list(c["candidates"]), "candidate_probs": list(c["candidate_probs"]),
            "engine": "", "engine_settings": "", "crop_uri": c["file"], "box_px": [0.0, 0.0, 0.0, 0.0],
        })
    for page in sorted({r["page_id"] for r in rows}):
        rows.append({**rows[0], "page_id": page, "book_ref": page, "field_id": "school_year",
                     "field_type": "school_year", "text": school_year, "confidence": 1.0,
                     "engine_confidence": 1.0, "checks": "", "style": "print", "style_confidence": 1.0,
                     "candidates": [school_year], "candidate_probs": [1.0], "crop_uri": ""})
    return to_frame("field_readings", rows)


def decide_cells(cells: pd.DataFrame, school_year: str, row_decoding: bool) -> pd.DataFrame:
    """``cells`` with ``value`` (the decided text, normalized), ``decision`` and ``reasons``."""
    fr = _readings_frame(cells, school_year)
    pages = sorted(set(fr["page_id"]))
    layouts = pd.DataFrame({"page_id": pages, "status": "ok"})
    images = pd.DataFrame({"page_id": pages, "image_uri": ""})
    roster = pd.DataFrame(columns=table_contract("roster").column_names)  # no student: nothing to match
    d = validate_batch(fr, layouts, images, roster, row_decoding=row_decoding).field_decisions
    d = d[d["field_id"] != "school_year"].set_index(["page_id", "field_id"])
    keys = list(zip(fr["page_id"][: len(cells)], fr["field_id"][: len(cells)], strict=True))
    out = cells.copy()
    out["value"] = [d.at[k, "value"] for k in keys]
    out["decided_confidence"] = [float(d.at[k, "confidence"]) for k in keys]
    out["decision"] = [d.at[k, "decision"] for k in keys]
    out["reasons"] = [list(d.at[k, "reasons"]) for k in keys]
    return out


def _canonical(field_type: str, text: str) -> str:
    """The value a text stands for: the normalizer's canonical value, else the text itself."""
    if not text:
        return ""
    n = normalize_field(field_type, text)
    return n.value if n.value is not None else exact_form(field_type, text)


def metrics(plain: pd.DataFrame, decoded: pd.DataFrame) -> dict:
    """Per (type, true style): exact alone and after row decoding, top-3, accept and silent-error rates."""
    out: dict[str, dict] = {}
    truth_value = [_canonical(ft, t) for ft, t in zip(plain["field_type"], plain["truth"], strict=True)]
    plain = plain.assign(truth_value=truth_value, style=plain["style"].map(lambda s: STYLES.get(s, s)))
    decoded = decoded.assign(truth_value=truth_value)
    for (ft, st), g in plain.groupby(["field_type", "style"]):
        dg = decoded.loc[g.index]
        written = g["truth"] != ""
        top1 = [exact_form(ft, t) == exact_form(ft, tr) for t, tr in zip(g["text"], g["truth"], strict=True)]
        top3 = [any(_canonical(ft, c) == tv for c in cands[:3]) if tv else not cands
                for cands, tv in zip(g["candidates"], g["truth_value"], strict=True)]
        row = {"cells": len(g), "written": int(written.sum()),
               "exact_recognizer": _share(np.array(top1)[written.to_numpy()]),
               "top3": _share(np.array(top3)[written.to_numpy()])}
        for label, frame in (("without_row_decoding", g), ("with_row_decoding", dg)):
            right = (frame["value"].fillna("") == frame["truth_value"]).to_numpy()
            accepted = (frame["decision"] == "accept").to_numpy()
            row[label] = {
                "exact": _share(right[written.to_numpy()]),
                "auto_accepted": _share(accepted),
                "auto_accepted_written": _share(accepted[written.to_numpy()]),
                "silent_errors": int((accepted & ~right).sum()),
                "silent_error_rate": round(float((accepted & ~right).sum() / max(1, accepted.sum())), 5),
            }
        out[f"{ft}/{st or 'unlabelled'}"] = row
    return out


def _share(mask: np.ndarray) -> float | None:
    return round(float(mask.mean()), 4) if len(mask) else None


def style_detector(cells: pd.DataFrame) -> dict:
    j = cells[(cells["read_style"] != "") & (cells["style"].map(lambda s: STYLES.get(s, s)) != "")]
    if j.empty:
        return {"cells": 0}
    truth = j["style"].map(lambda s: STYLES.get(s, s))
    return {"cells": len(j), "accuracy": _share((truth == j["read_style"]).to_numpy()),
            **{f"{s}_recall": _share((j.loc[truth == s, "read_style"] == s).to_numpy())
               for s in ("hand", "print") if (truth == s).any()}}


def evaluate_cells(folder: Path, dpi: int, school_year: str, out_csv: Path | None) -> dict:
    cells, ms = read_cells_dir(folder, dpi)
    plain = decide_cells(cells, school_year, row_decoding=False)
    decoded = decide_cells(cells, school_year, row_decoding=True)
    if out_csv:
        pred = decoded.assign(text=decoded["value"].fillna(decoded["text"]),
                              confidence=decoded["decided_confidence"].round(4))
        pred[["file", "text", "confidence", "decision"]].to_csv(out_csv, index=False,
                                                               quoting=csv.QUOTE_MINIMAL)
    return {"cells": len(cells), "by_type_style": metrics(plain, decoded),
            "style_detector": style_detector(cells), "ms_per_cell": round(ms, 3)}


# --- a synthetic corpus ------------------------------------------------------------------------
def write_cells(tables: dict, truth_dir: Path, storage_root: Path, folder: Path) -> int:
    """The score table's cells of every year page read on its true template, as a cells folder."""
    from pipelines.ocr.evaluate import join_truth
    from pipelines.validate.evaluate import read_truth

    pages, fields = read_truth(truth_dir)
    j = join_truth(tables["field_readings"], tables["page_images"], pages, fields)
    j = j[j["field_id"].str.startswith("scores.") & j["field_type"].isin(["score", "comment"])
          & j["crop_uri"].notna()]
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for r in j.itertuples(index=False):
        _, subject, column = r.field_id.split(".")
        name = f"{r.page_id}.{subject}.{column}.png".replace("/", "_")
        (folder / name).write_bytes((storage_root / r.crop_uri).read_bytes())
        rows.append({"file": name, "truth": r.truth, "field_type": r.field_type,
                     "style": STYLES.get(r.style, r.style), "row": f"{r.page_id}.{subject}".replace("/", "_"),
                     "column": column})
    pd.DataFrame(rows, columns=CELL_COLUMNS).to_csv(folder / "cells.csv", index=False)
    return len(rows)


def evaluate_corpus(args) -> dict:
    from accuracy import run_corpus  # benchmarks/accuracy.py: ingest → OCR → validate a corpus

    from pipelines.synth.generate import generate_district
    from pipelines.validate.evaluate import score

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hocba-hw-") as tmp:
        corpus = Path(tmp) / "corpus"
        generate_district(corpus, schools=1, students=args.books, seed=args.seed,
                          difficulty=args.difficulty, batch_size=40, workers=args.workers)
        tables = run_corpus(corpus, Path(tmp) / "storage", args.workers)
        whole, _ = score(tables, corpus / "truth")
        folder = args.write_cells or Path(tmp) / "cells"
        n = write_cells(tables, corpus / "truth", Path(tmp) / "storage", folder)
        print(f"  {n} score-table cells cut to {folder}", file=sys.stderr)
        cells = evaluate_cells(folder, 300, args.school_year, args.out)
    keep = ("fields", "auto_accepted", "flagged", "flag_rate", "silent_errors", "silent_error_rate")
    return {"books": args.books, "difficulty": args.difficulty, "seed": args.seed,
            "corpus": {k: whole[k] for k in keep if k in whole}, **cells,
            "seconds": tables["seconds"], "wall_s": round(time.perf_counter() - t0, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", type=Path, help="a folder with cells.csv and the cell PNGs it names")
    ap.add_argument("--out", type=Path, help="write file,text,confidence,decision per cell here")
    ap.add_argument("--dpi", type=int, default=300, help="resolution of the cell PNGs (--cells)")
    ap.add_argument("--school-year", default="2016-2017",
                    help="school year the cells' pages are validated in (its era's rules; --cells)")
    ap.add_argument("--books", type=int, default=20)
    ap.add_argument("--difficulty", default="typical", choices=["clean", "typical", "hard"])
    ap.add_argument("--seed", type=int, default=2027)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--write-cells", type=Path, help="with --books: keep the cut cells folder here")
    args = ap.parse_args()
    t0 = time.perf_counter()
    if args.cells:
        got = evaluate_cells(args.cells, args.dpi, args.school_year, args.out)
        result = {"cells_dir": str(args.cells), **got, "wall_s": round(time.perf_counter() - t0, 1)}
    else:
        result = evaluate_corpus(args)
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
