"""Synthetic-district throughput: pages written per second, printed as JSON.

    .venv/bin/python benchmarks/synth_throughput.py --schools 3 --students 20 --workers 2

Writes into a temporary folder (removed afterwards unless --keep DIR is given).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from pipelines.synth.generate import generate_district


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--schools", type=int, default=3)
    ap.add_argument("--students", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--difficulty", default="typical")
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--keep", type=Path, default=None, help="write here and keep the corpus")
    args = ap.parse_args()

    out = args.keep or Path(tempfile.mkdtemp(prefix="hocba-synth-bench-"))
    try:
        t0 = time.perf_counter()
        s = generate_district(out, schools=args.schools, students=args.students, seed=args.seed,
                              difficulty=args.difficulty, workers=args.workers,
                              overwrite=args.keep is not None)
        wall = time.perf_counter() - t0
        inbox_bytes = sum(p.stat().st_size for p in Path(s.inbox_dir).rglob("*") if p.is_file())
        print(json.dumps({
            "benchmark": "synth_throughput",
            "difficulty": args.difficulty,
            "workers": args.workers or os.cpu_count(),
            "cpus": os.cpu_count(),
            "books": s.books,
            "pages": s.pages,
            "files": s.files,
            "seconds": round(wall, 2),
            "pages_per_second": round(s.pages / wall, 2),
            "mb_per_page": round(inbox_bytes / max(1, s.pages) / 1e6, 2),
        }))
    finally:
        if args.keep is None:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
