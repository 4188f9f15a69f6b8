"""Ingest throughput and correctness on a synthetic district, printed as JSON.

    .venv/bin/python benchmarks/ingest_throughput.py --schools 1 --students 20 --workers 2
    .venv/bin/python benchmarks/ingest_throughput.py --corpus DIR   # an existing synth output

Generates a corpus (unless --corpus), ingests every batch, and compares the outcome
with the generator's truth: pages found, EXIF and OSD rotations, blank pages, and
each injected file/page defect. Per-page seconds are given per step (decode, blank,
orientation, write) as measured inside the workers, plus the wall time per page.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from pipelines.ingest.batch import ingest_batch
from pipelines.storage import Storage

# Injected defect → what ingest must report for it (table, reason or status).
EXPECTED = {
    "duplicate_file": ("file_quarantine", "duplicate_file"),
    "truncated_file": ("file_quarantine", "unreadable_file"),
    "zero_byte_file": ("file_quarantine", "empty_file"),
    "missing_page": ("page_quarantine", "missing_page"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=None, help="existing synth output folder")
    ap.add_argument("--schools", type=int, default=1)
    ap.add_argument("--students", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--difficulty", default="typical")
    ap.add_argument("--batch-size", type=int, default=25)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="hocba-ingest-bench-"))
    try:
        corpus = args.corpus
        if corpus is None:
            from pipelines.synth.generate import generate_district

            corpus = tmp / "corpus"
            generate_district(
                corpus,
                schools=args.schools,
                students=args.students,
                seed=args.seed,
                difficulty=args.difficulty,
                batch_size=args.batch_size,
                workers=0,
            )
        print(json.dumps(run(corpus, tmp / "storage", workers=args.workers)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(corpus: Path, storage_dir: Path, *, workers: int) -> dict:
    inbox = Storage(str(corpus / "inbox"))
    storage = Storage(str(storage_dir))
    batches = sorted(
        str(p.parent.relative_to(corpus / "inbox"))
        for p in (corpus / "inbox").rglob("manifest.csv")
    )
    results = []
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    for key in batches:
        district, school, _ = key.split("/")
        r = ingest_batch(
            inbox, key, storage, batch_id=key, district=district, school=school, workers=workers
        )
        results.append(r)
        for step, s in r.stage_seconds.items():
            seconds[step] = seconds.get(step, 0.0) + s
    wall = time.perf_counter() - t0

    pages = pd.concat([r.page_images for r in results], ignore_index=True)
    fq = pd.concat([r.file_quarantine for r in results], ignore_index=True)
    pq = pd.concat([r.page_quarantine for r in results], ignore_index=True)
    n = max(1, len(pages))
    out: dict = {
        "benchmark": "ingest_throughput",
        "workers": workers,
        "cpus": os.cpu_count(),
        "batches": len(batches),
        "pages": len(pages),
        "seconds": round(wall, 2),
        "wall_s_per_page": round(wall / n, 3),
        "step_s_per_page": {k: round(v / n, 3) for k, v in sorted(seconds.items())},
    }
    out.update(compare(corpus, pages, fq, pq))
    return out


def compare(corpus: Path, pages: pd.DataFrame, fq: pd.DataFrame, pq: pd.DataFrame) -> dict:
    truth_pages = corpus / "truth" / "pages.parquet"
    if not truth_pages.exists():
        return {}
    truth = pd.read_parquet(truth_pages)
    truth = truth[truth["file_state"] == "ok"].copy()
    truth["batch_id"] = truth["district"] + "/" + truth["school"] + "/" + truth["batch"]
    m = truth.merge(
        pages,
        left_on=["batch_id", "file", "page_index"],
        right_on=["batch_id", "file_path", "page_index"],
        how="left",
    )
    found = m["image_uri"].notna()
    exif = m["exif_orientation"].map({1: 0, 3: 180, 6: 90, 8: 270})
    upright = (360 - m["rotation_deg"]) % 360
    got = {
        "truth_pages": len(truth),
        "pages_missed": int((~found).sum()),
        "exif_errors": int((found & (m["exif_rotation"] != exif)).sum()),
        "rotation_errors": int((found & (m["rotation_applied"] != upright)).sum()),
        "blank_errors": int((found & (m["is_blank"] != m["blank"])).sum()),
    }
    defects = pd.read_csv(corpus / "truth" / "defects.csv", dtype=str)
    missed = []
    for row in defects.to_dict("records"):
        want = EXPECTED.get(row["defect"])
        if want is None:
            continue
        table, code = want
        df = fq if table == "file_quarantine" else pq
        batch_id = f"{row['district']}/{row['school']}/{row['batch']}"
        hit = df[(df["batch_id"] == batch_id) & (df["file_path"] == row["file"])]
        if code not in set(hit["reason_code"]):
            missed.append(f"{row['defect']}:{row['file']}")
    got["file_defects_checked"] = int(defects["defect"].isin(list(EXPECTED)).sum())
    got["file_defects_missed"] = missed
    return got


if __name__ == "__main__":
    main()
