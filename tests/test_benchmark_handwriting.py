"""``benchmarks/handwriting.py --cells DIR --out PRED.csv``: the interface a district uses to
measure the recognizer on its own labelled crops (issue 16 asks that it stays stable)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import cv2
import pandas as pd
import pytest

from pipelines.domain.grading import year_average
from scripts import glyph_cells as gc

ROOT = Path(__file__).resolve().parents[1]


def _fmt(v: float) -> str:
    return f"{v:.1f}".replace(".", ",")


@pytest.fixture(scope="module")
def cells_dir(tmp_path_factory) -> Path:
    """Two pages of handwritten score rows that hold the year-average rule, a comment cell, a
    blank cell; row keys that are not subject names (a district labels rows as it likes)."""
    d = tmp_path_factory.mktemp("cells")
    rng = random.Random(16)
    rows = []

    def cell(name: str, ftype: str, text: str, row: str, column: str, style: str = "hand") -> None:
        c = gc.render_cell(ftype, "validate", rng, style=style, text=text)
        cv2.imwrite(str(d / name), c.gray)
        rows.append({"file": name, "truth": c.text, "field_type": ftype, "style": style,
                     "row": row, "column": column})

    for p in range(2):
        for r in range(4):
            h1, h2 = rng.choice([6.0, 7.5, 8.0, 9.0]), rng.choice([5.5, 7.0, 8.5])
            for col, v in (("hk1", h1), ("hk2", h2), ("ca_nam", year_average(h1, h2))):
                cell(f"p{p}r{r}{col}.png", "score", _fmt(v), f"page{p}.row{r}", col)
        cell(f"p{p}c.png", "comment", "Đ", f"page{p}.the_arts", "ca_nam")
    blank = gc.render_cell("score", "validate", rng, style="print", text="5")
    cv2.imwrite(str(d / "blank.png"), blank.gray * 0 + 245)
    rows.append({"file": "blank.png", "truth": "", "field_type": "score", "style": "",
                 "row": "page0.row0", "column": "retest"})
    pd.DataFrame(rows).to_csv(d / "cells.csv", index=False)
    return d


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "benchmarks/handwriting.py"), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_cells_folder_gives_json_and_one_prediction_per_cell(cells_dir, tmp_path):
    out = tmp_path / "pred.csv"
    done = _run("--cells", str(cells_dir), "--out", str(out))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    truth = pd.read_csv(cells_dir / "cells.csv", dtype=str, keep_default_na=False)
    assert result["cells"] == len(truth)
    hand = result["by_type_style"]["score/hand"]
    assert hand["cells"] == 24
    for key in ("exact_recognizer", "top3"):
        assert 0 <= hand[key] <= 1
    for mode in ("without_row_decoding", "with_row_decoding"):
        assert set(hand[mode]) >= {"exact", "auto_accepted", "silent_errors", "silent_error_rate"}
    assert hand["with_row_decoding"]["exact"] >= hand["without_row_decoding"]["exact"] - 1e-9
    assert result["style_detector"]["cells"] >= 24 and result["ms_per_cell"] > 0

    pred = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(pred.columns) == ["file", "text", "confidence", "decision"]
    assert list(pred["file"]) == list(truth["file"])
    assert set(pred["decision"]) <= {"accept", "flag"}
    assert pred.set_index("file").at["blank.png", "text"] == ""
    # The JSON and the predictions agree: the accepted-and-wrong count is the same.
    merged = pred.merge(truth, on="file")
    fold = merged["truth"].map(gc.fold) != merged["text"].map(gc.fold)
    wrong_accepted = merged[(merged["decision"] == "accept") & fold & (merged["field_type"] == "score")
                            & (merged["style"] == "hand")]
    assert len(wrong_accepted) == hand["with_row_decoding"]["silent_errors"]


def test_a_bad_cells_csv_names_what_is_missing(tmp_path):
    (tmp_path / "cells.csv").write_text("file,truth\na.png,5\n")
    done = _run("--cells", str(tmp_path))
    assert done.returncode != 0
    assert "missing columns" in done.stderr and "field_type" in done.stderr
