"""Ingest → OCR → validate on a fresh synthetic corpus, scored against its ground truth (JSON).

    .venv/bin/python benchmarks/accuracy.py --books 20 --difficulty typical --json
    .venv/bin/python benchmarks/accuracy.py --books 25 --seed 101 \
        --calibrate data_contracts/calibration/ocr_confidence.csv

Prints: fields, auto_accepted, flagged, flag_rate, silent_errors (auto-accepted
fields whose value differs from the truth), silent_error_rate, caught_errors (wrong
values that were flagged), roster_match_rate (scanned books matched to their true
student), per field type rows, and the top flag reasons. ``--calibrate PATH`` also
writes the OCR calibration table (per field type, writing style and confidence bin: fields, errors)
that validate's thresholds are computed from; calibrate on another seed than you measure.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.validate.evaluate import score  # the scoring lives in the package (the demo uses it too)


def run_corpus(corpus: Path, store_root: Path, workers: int, thresholds: dict | None = None) -> dict:
    """Every batch of ``corpus`` through ingest, OCR and validate; the tables, concatenated."""
    from pipelines.ingest.batch import ingest_batch
    from pipelines.ocr.batch import ocr_batch
    from pipelines.storage import Storage
    from pipelines.validate.roster import read_roster
    from pipelines.validate.stage import validate_batch

    inbox, store = Storage(str(corpus / "inbox")), Storage(str(store_root))
    roster = read_roster(Storage(str(corpus / "roster.csv")))
    out: dict[str, list[pd.DataFrame]] = {}
    seconds = Counter()
    batches = sorted({str(Path(p).parent) for p in inbox.walk_files() if p.endswith("manifest.csv")})
    for rel in batches:
        district, school, _ = rel.split("/")
        t = time.perf_counter()
        pi = ingest_batch(inbox, rel, store, batch_id=rel, district=district, school=school,
                          workers=workers).page_images
        seconds["ingest"] += time.perf_counter() - t
        t = time.perf_counter()
        ocr = ocr_batch(store, pi, batch_id=rel, workers=workers)
        seconds["ocr"] += time.perf_counter() - t
        t = time.perf_counter()
        v = validate_batch(ocr.field_readings, ocr.page_layouts, pi, roster, thresholds)
        seconds["validate"] += time.perf_counter() - t
        for name, df in (("page_images", pi), ("page_layouts", ocr.page_layouts),
                         ("field_readings", ocr.field_readings), ("normalized_records", v.normalized_records),
                         ("roster_matches", v.roster_matches), ("field_decisions", v.field_decisions)):
            out.setdefault(name, []).append(df)
        print(f"  {rel}: {len(pi)} pages, {len(v.field_decisions)} fields", file=sys.stderr)
    tables = {k: pd.concat(v, ignore_index=True) for k, v in out.items()}
    tables["seconds"] = {k: round(v, 1) for k, v in seconds.items()}
    return tables


def revalidate(kept: Path) -> dict:
    """Validate a kept run's OCR tables again and score it: for tuning validate without OCR."""
    from pipelines.storage import Storage
    from pipelines.validate.roster import read_roster
    from pipelines.validate.stage import validate_batch

    tables = {n: pd.read_pickle(kept / f"{n}.pkl") for n in ("page_images", "page_layouts", "field_readings")}
    roster = read_roster(Storage(str(kept / "corpus" / "roster.csv")))
    parts: dict[str, list[pd.DataFrame]] = {}
    for _, fr in tables["field_readings"].groupby("batch_id"):
        pages = set(fr["page_id"])
        v = validate_batch(fr, tables["page_layouts"][tables["page_layouts"]["page_id"].isin(pages)],
                           tables["page_images"], roster)
        parts.setdefault("roster_matches", []).append(v.roster_matches)
        parts.setdefault("field_decisions", []).append(v.field_decisions)
    tables.update({k: pd.concat(v, ignore_index=True) for k, v in parts.items()})
    result, _ = score(tables, kept / "corpus" / "truth")
    return {"revalidated": str(kept), **result}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--books", type=int, default=20)
    ap.add_argument("--difficulty", default="typical", choices=["clean", "typical", "hard"])
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--calibrate", type=Path, help="write the OCR calibration table here")
    ap.add_argument("--json", action="store_true", help="print only the JSON object")
    ap.add_argument("--keep", type=Path, help="keep the corpus and the stage tables in this folder")
    ap.add_argument("--revalidate", type=Path,
                    help="a --keep folder: validate and score its OCR tables again (no new corpus, no OCR)")
    args = ap.parse_args()

    from pipelines.synth.generate import generate_district
    from pipelines.validate.decide import calibration_table

    t0 = time.perf_counter()
    if args.revalidate:
        result = revalidate(args.revalidate)
        print(json.dumps({**result, "wall_s": round(time.perf_counter() - t0, 1)}, ensure_ascii=False,
                         indent=None if args.json else 2))
        return
    with tempfile.TemporaryDirectory(prefix="hocba-acc-") as tmp_dir:
        tmp = args.keep or Path(tmp_dir)
        corpus = Path(tmp) / "corpus"
        generate_district(corpus, schools=1, students=args.books, seed=args.seed,
                          difficulty=args.difficulty, batch_size=40, workers=args.workers)
        print(f"generated {args.books} students in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
        tables = run_corpus(corpus, Path(tmp) / "storage", args.workers)
        result, joined = score(tables, corpus / "truth")
        if args.keep:
            for name, df in tables.items():
                if isinstance(df, pd.DataFrame):
                    df.to_pickle(Path(tmp) / f"{name}.pkl")
            joined.to_pickle(Path(tmp) / "joined.pkl")
        if args.calibrate:
            # Calibrate on the fields that only confidence can stop: the others are
            # flagged anyway, and their errors must not raise every threshold.
            only_conf = joined["reasons"].map(lambda rs: set(rs) <= {"low_confidence"})
            # Per (type, style) of the confidence decide compares: the decision's (after row
            # decoding) and the reading's style (not the truth's), as decide sees them.
            dec = tables["field_decisions"][["page_id", "field_id", "confidence", "style"]]
            j = joined[(joined["truth"] != "") & only_conf]
            j = (j.drop(columns=[c for c in ("confidence", "style", "style_x", "style_y") if c in j.columns])
                 .merge(dec, on=["page_id", "field_id"]).assign(correct=lambda x: x["right"]))
            args.calibrate.parent.mkdir(parents=True, exist_ok=True)
            calibration_table(j).to_csv(args.calibrate, index=False)
            print(f"calibration table written to {args.calibrate}", file=sys.stderr)
    result = {"books": args.books, "difficulty": args.difficulty, "seed": args.seed, **result,
              "seconds": tables["seconds"], "wall_s": round(time.perf_counter() - t0, 1)}
    print(json.dumps(result, ensure_ascii=False, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
