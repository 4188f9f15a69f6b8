"""OCR stage vs full-page Tesseract on the synthetic corpus: speed, accuracy, memory (JSON).

    .venv/bin/python benchmarks/ocr_throughput.py --pages 20 --difficulty typical --json
    .venv/bin/python benchmarks/ocr_throughput.py --pages 500 --no-baseline --workers 2 --json

Generates a defect-free corpus with enough books for ``--pages`` pages (or reads
``--corpus``), ingests it (the real ingest stage: upright 300 dpi pages in storage),
then on the first N non-blank pages runs, one after the other:

- ours: ``pipelines.ocr.batch.ocr_batch`` (classify, align, per-field Tesseract,
  crops written), in a fresh process whose peak RSS (with its workers') is reported;
- the baseline a user would pick instead: one full-page Tesseract per page
  (``image_to_data``, ``--dpi 300``, Vietnamese), its words assigned to the template's
  field boxes after the same classification and alignment (whose time it is charged).

Accuracy is exact match after normalization (``pipelines.ocr.evaluate``) over all
fields with a non-empty true value, on pages laid out on their true template.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from pipelines.contracts import templates
from pipelines.ocr.evaluate import join_truth, normalize
from pipelines.storage import Storage

PAGES_PER_BOOK = 4.6  # identity page + 4 THCS or 3 THPT years, on average


def _prepare(args, tmp: Path) -> tuple[Path, Storage, pd.DataFrame]:
    from pipelines.ingest.batch import ingest_batch
    from pipelines.synth.defects import DefectRates
    from pipelines.synth.generate import generate_district

    corpus = args.corpus
    if corpus is None:
        corpus = tmp / "corpus"
        students = int(np.ceil(args.pages / PAGES_PER_BOOK)) + 2
        generate_district(corpus, schools=1, students=students, seed=args.seed,
                          difficulty=args.difficulty, defects=DefectRates.none(),
                          batch_size=50, workers=args.workers)
    inbox, store = Storage(str(corpus / "inbox")), Storage(str(tmp / "storage"))
    frames = []
    batches = sorted({str(Path(p).parent) for p in inbox.walk_files() if p.endswith("manifest.csv")})
    for rel in batches:
        district, school, _ = rel.split("/")
        frames.append(ingest_batch(inbox, rel, store, batch_id=rel, district=district, school=school,
                                   workers=args.workers).page_images)
        if sum(len(f) for f in frames) >= args.pages * 1.2:
            break
    pages = pd.concat(frames, ignore_index=True)
    pages = pages[~pages["is_blank"]].sort_values(["batch_id", "book_ref", "book_page_no"])
    return corpus, store, pages.head(args.pages).reset_index(drop=True)


def _run_ours(store_url: str, pages: pd.DataFrame, workers: int, queue) -> None:
    """In a fresh process, so that its peak RSS is the OCR stage's alone."""
    from pipelines.ocr.batch import ocr_batch

    t0 = time.perf_counter()
    result = ocr_batch(Storage(store_url), pages, batch_id="bench", workers=workers)
    wall = time.perf_counter() - t0
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    queue.put((result.page_layouts, result.field_readings, result.seconds, wall,
               max(self_kb, children_kb) / 1024))


def run_ours(store: Storage, pages: pd.DataFrame, workers: int):
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_run_ours, args=(store.root_url, pages, workers, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def run_baseline(store: Storage, pages: pd.DataFrame, layouts: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """Full-page Tesseract per page, words assigned to field boxes after the same alignment."""
    from pipelines.ocr.align import page_features
    from pipelines.ocr.batch import READ_DPI
    from pipelines.ocr.classify import classify_features
    from pipelines.ocr.engine import _crop_box
    from pipelines.ocr.fullpage import full_page_words

    rows, t0 = [], time.perf_counter()
    for p in pages.itertuples():
        gray = cv2.imdecode(np.frombuffer(store.read_bytes(p.image_uri), np.uint8), cv2.IMREAD_GRAYSCALE)
        c = classify_features(page_features(gray), dpi=READ_DPI)  # the same alignment, timed too
        words = full_page_words(gray)
        if c.template_id is None or c.alignment is None or not c.alignment.ok:
            continue
        tpl = templates()[c.template_id]
        centers = np.float32([[w.box[0] + w.box[2] / 2, w.box[1] + w.box[3] / 2] for w in words])
        mapped = (cv2.perspectiveTransform(centers.reshape(-1, 1, 2), c.alignment.homography).reshape(-1, 2)
                  if len(words) else np.zeros((0, 2), np.float32))
        shape = (10**6, 10**6)  # boxes are not clipped to a page here
        for spec in tpl.field_specs():
            x, y, w, h = _crop_box(spec, READ_DPI, shape)
            inside = [i for i, (cx, cy) in enumerate(mapped) if x <= cx < x + w and y <= cy < y + h]
            inside.sort(key=lambda i: (words[i].line, words[i].box[0]))
            rows.append({"page_id": p.page_id, "book_ref": p.book_ref, "template_id": c.template_id,
                         "field_id": spec.field_id, "field_type": spec.type,
                         "text": " ".join(words[i].text for i in inside)})
    return pd.DataFrame(rows), time.perf_counter() - t0


def _accuracy(joined: pd.DataFrame) -> float | None:
    j = joined[joined["truth"] != ""]
    return round(float(j["correct"].mean()), 4) if len(j) else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=20)
    ap.add_argument("--difficulty", default="typical", choices=["clean", "typical", "hard", "mixed"])
    ap.add_argument("--workers", type=int, default=1, help="OCR worker processes (1 = one core)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--corpus", type=Path, default=None, help="existing synth output folder")
    ap.add_argument("--no-baseline", action="store_true", help="skip full-page Tesseract (slow)")
    ap.add_argument("--json", action="store_true", help="print only the JSON object")
    args = ap.parse_args()
    say = (lambda *a: print(*a, file=sys.stderr)) if args.json else print

    tmp = Path(tempfile.mkdtemp(prefix="hocba-ocr-bench-"))
    try:
        t0 = time.perf_counter()
        corpus, store, pages = _prepare(args, tmp)
        say(f"prepared {len(pages)} pages in {time.perf_counter() - t0:.0f}s; running ours …")
        layouts, readings, seconds, wall, rss = run_ours(store, pages, args.workers)
        n = len(pages)
        truth_pages = pd.read_parquet(corpus / "truth" / "pages.parquet")
        truth_fields = pd.read_parquet(corpus / "truth" / "fields.parquet")
        ours = join_truth(readings, pages, truth_pages, truth_fields)
        with_truth = ours[ours["truth"] != ""]
        by_type = {ft: round(float(g["correct"].mean()), 4) for ft, g in with_truth.groupby("field_type")}
        by_type_style = {
            st: {ft: round(float(g["correct"].mean()), 4) for ft, g in gs.groupby("field_type")}
            for st, gs in with_truth.groupby("style")
        }
        by_style = {st: round(float(g["correct"].mean()), 4) for st, g in with_truth.groupby("style")}
        wrong = with_truth[~with_truth["correct"]]
        confident_wrong = {st: int((g["confidence"] >= 0.9).sum()) for st, g in wrong.groupby("style")}
        bins = pd.cut(with_truth["confidence"], [-0.01, 0.5, 0.8, 0.9, 0.95, 0.99, 1.0])
        calib = with_truth.groupby(bins, observed=True)["correct"].agg(["size", "mean"])
        truth_tpl = truth_pages.assign(file=truth_pages["file"])[["file", "page_index", "template_id"]]
        pi = pages.assign(file=pages["file_path"].map(lambda s: s.rsplit("/", 1)[-1]))
        cls = pi.merge(truth_tpl, on=["file", "page_index"]).merge(
            layouts[["page_id", "template_id"]], on="page_id", suffixes=("_true", ""))
        report = {
            "pages": n,
            "difficulty": args.difficulty,
            "workers": args.workers,
            "ours_s_per_page": round(wall / n, 3),
            "ours_field_accuracy": _accuracy(ours),
            "ours_printed_field_accuracy": by_style.get("print"),
            "ours_handwritten_field_accuracy": by_style.get("handwritten"),
            "ours_accuracy_by_type": by_type,
            "ours_accuracy_by_type_and_style": by_type_style,
            "ours_wrong_with_confidence_ge_0_9": confident_wrong,
            "ours_accuracy_by_confidence": {
                str(k): {"fields": int(r["size"]), "accuracy": round(float(r["mean"]), 4)}
                for k, r in calib.iterrows()
            },
            "fields_with_truth": len(with_truth),
            "pages_by_status": dict(Counter(layouts["status"])),
            "pages_classified_right": int((cls["template_id"] == cls["template_id_true"]).sum()),
            "peak_rss_mb": round(rss, 1),
            "ours_seconds_per_page_by_step": {k: round(v / n, 4) for k, v in seconds.items()},
        }
        if not args.no_baseline:
            say("running the full-page Tesseract baseline …")
            base_rows, base_s = run_baseline(store, pages, layouts)
            base = join_truth(base_rows, pages, truth_pages, truth_fields) if len(base_rows) else None
            report["baseline_s_per_page"] = round(base_s / n, 3)
            report["speedup"] = round(base_s / wall, 2)
            report["baseline_field_accuracy"] = _accuracy(base) if base is not None else None
            if base is not None:
                b = base[base["truth"] != ""]
                report["baseline_printed_field_accuracy"] = round(
                    float(b.loc[b["style"] == "print", "correct"].mean()), 4)
        examples = wrong[wrong["style"] == "print"].head(8)
        report["ours_printed_errors_sample"] = [
            {"field": r.field_id, "truth": r.truth, "read": normalize(r.field_type, r.text),
             "confidence": r.confidence} for r in examples.itertuples()
        ]
        print(json.dumps(report, ensure_ascii=False, indent=None if args.json else 2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
