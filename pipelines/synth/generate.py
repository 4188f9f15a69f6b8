"""generate_district: a synthetic district's inbox, roster and ground truth in one call.

Stages: build the truth (truth.py) → plan every book's files and defects
(plan.py) → draw and write the books, in worker processes (scan.py) → per
batch, apply file defects and write manifest.csv last → roster.csv and truth/.

Layout under ``out_dir``::

    inbox/<district>/<school>/<batch>/   scans + manifest.csv
    roster.csv                           sector-database export (roster.py)
    truth/books.jsonl                    one JSON per scanned book: every value
    truth/fields.parquet                 one row per field of every book page: ``text`` is
                                         the intended value (a score's canonical ``8,5``),
                                         ``slip`` a teacher's slip in writing it (or ""),
                                         ``written`` the characters on paper (``8.5``)
    truth/pages.parquet                  one row per page written to a file
    truth/defects.csv                    one row per injected defect
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import random
import shutil
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pandas as pd

from pipelines.contracts import provinces, template
from pipelines.errors import ConfigError
from pipelines.parallel import available_cpus
from pipelines.synth.defects import DEFECT_COLUMNS, DEFECT_TYPES, DefectRates, truncate, zero
from pipelines.synth.degrade import DIFFICULTIES
from pipelines.synth.files import write_manifest
from pipelines.synth.hand_digits import slips_for, written_text
from pipelines.synth.plan import BookPlan, DistrictPlan, FileAction, plan_district
from pipelines.synth.render import HandDigits
from pipelines.synth.roster import write_roster
from pipelines.synth.scan import BookResult, init_worker, scan_book
from pipelines.synth.truth import MAX_SCHOOLS, MAX_STUDENTS, build_district

log = logging.getLogger(__name__)

PAGE_COLUMNS = ("district", "school", "batch", "file", "page_index", "book_ref", "book_page_no",
                "template_id", "rotation_deg", "exif_orientation", "dpi", "skew_deg", "scale",
                "blank", "difficulty", "color", "format", "file_state")


@dataclass(frozen=True)
class SynthSummary:
    """What ``generate_district`` wrote (counts only: safe to log and print)."""

    district: str
    seed: int
    difficulty: str
    schools: int
    students: int
    """Roster students (each with one book, scanned or not)."""
    books: int
    """Books scanned into the inbox."""
    batches: int
    pages: int
    """Pages written into files (blank inserts and duplicate copies included)."""
    files: int
    """Files in the inbox, manifests excluded (duplicates included)."""
    defects: dict[str, int] = field(default_factory=dict)
    out_dir: str = ""
    inbox_dir: str = ""
    roster_path: str = ""
    truth_dir: str = ""
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def generate_district(
    out_dir: Path,
    *,
    schools: int = 3,
    students: int = 20,
    seed: int = 0,
    difficulty: str = "typical",
    defects: DefectRates | None = None,
    district: str = "760",
    province: str = "079",
    batch_size: int = 25,
    workers: int = 0,
    progress: Callable[[int, int], None] | None = None,
    overwrite: bool = False,
    hand_digits: HandDigits = "mnist",
) -> SynthSummary:
    """Write a synthetic district under ``out_dir`` and return what was written.

    ``students``: students per school (some books stay unscanned, see
    ``DefectRates.unscanned_book``). ``difficulty``: clean | typical | hard | mixed
    (mixed draws one per book). ``defects``: None → ``DefectRates()`` (demo rates);
    ``DefectRates.none()`` for a defect-free corpus. ``workers``: processes drawing
    pages, 0 = one per core, 1 = in this process. Output is byte-identical for a seed
    whatever the worker count. ``progress(done_pages, total_pages)`` is called as
    books finish. ``overwrite``: replace an earlier corpus in ``out_dir`` instead of
    refusing to mix with it. ``hand_digits``: "mnist" (most hand writers write real
    people's digits, MNIST's validate split) or "font" (the handwriting font's digits).
    """
    started = time.monotonic()
    _check_args(schools, students, difficulty, district, province, batch_size, workers)
    if hand_digits not in ("mnist", "font"):
        raise ConfigError(f"hand_digits must be mnist or font, got {hand_digits!r}")
    rates = DefectRates() if defects is None else defects
    out_dir = Path(out_dir)
    inbox = out_dir / "inbox"
    roster_path = out_dir / "roster.csv"
    truth_dir = out_dir / "truth"
    _prepare(out_dir, inbox / district, roster_path, truth_dir, overwrite)

    truth = build_district(seed=seed, schools=schools, students=students, district=district,
                           province=province)
    plan = plan_district(truth, seed=seed, difficulty=difficulty, rates=rates,
                         batch_size=batch_size, inbox=inbox, hand_digits=hand_digits)
    for school, batch in plan.batches:
        (inbox / district / school / batch).mkdir(parents=True, exist_ok=True)
    log.info("synth: %d schools, %d students, %d books to scan in %d batches",
             len(truth.schools), len(truth.students), len(plan.books), len(plan.batches))

    defect_rows = {(r["defect"], r["school"], r["batch"], r["file"]): r for r in plan.defects}
    results: dict[str, BookResult] = {}
    remaining = {key: len(refs) for key, refs in plan.batches.items()}
    page_rows: list[dict[str, object]] = []
    files_written = 0

    def book_done(r: BookResult) -> None:
        # A batch is finished (defects applied, manifest written) as soon as its last
        # book is: a watching sensor can start on it while later batches are drawn.
        nonlocal files_written
        results[r.book_ref] = r
        key = (r.school, r.batch)
        remaining[key] -= 1
        if remaining[key] == 0:
            rows, manifest = _finish_batch(plan, key, plan.batches[key], results, defect_rows)
            page_rows.extend(rows)
            files_written += len(manifest)

    _run(plan, workers, book_done, progress)
    write_roster(roster_path, plan.roster)
    _write_truth(truth_dir, plan, page_rows)

    counts = Counter(str(r["defect"]) for r in plan.defects)
    summary = SynthSummary(
        district=district, seed=seed, difficulty=difficulty, schools=len(truth.schools),
        students=len(truth.students), books=len(plan.books), batches=len(plan.batches),
        pages=len(page_rows), files=files_written,
        defects={k: counts.get(k, 0) for k in DEFECT_TYPES},
        out_dir=str(out_dir), inbox_dir=str(inbox / district), roster_path=str(roster_path),
        truth_dir=str(truth_dir), elapsed_s=round(time.monotonic() - started, 2),
    )
    log.info("synth: wrote %d pages in %d files (%d defects) in %.1f s",
             summary.pages, summary.files, sum(counts.values()), summary.elapsed_s)
    return summary


def _check_args(schools: int, students: int, difficulty: str, district: str, province: str,
                batch_size: int, workers: int) -> None:
    """Bad settings fail before anything is written, with what is expected."""
    if not 1 <= schools <= MAX_SCHOOLS:
        raise ConfigError(f"schools must be within 1..{MAX_SCHOOLS}, got {schools}")
    if not 1 <= students <= MAX_STUDENTS:
        raise ConfigError(f"students per school must be within 1..{MAX_STUDENTS}, got {students}")
    if difficulty not in (*DIFFICULTIES, "mixed"):
        raise ConfigError(f"difficulty must be clean, typical, hard or mixed; got {difficulty!r}")
    if not (district.isdigit() and len(district) == 3):
        raise ConfigError(f"district must be a 3-digit code such as 760, got {district!r}")
    if province not in provinces().provinces:
        raise ConfigError(f"province {province!r} is not in data_contracts/rules/provinces.yaml")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    if workers < 0:
        raise ConfigError(f"workers must be 0 (one per core) or more, got {workers}")


def _prepare(out_dir: Path, district_inbox: Path, roster: Path, truth: Path,
             overwrite: bool) -> None:
    existing = [p for p in (district_inbox, roster, truth) if p.exists()]
    if existing and not overwrite:
        raise ConfigError(
            f"{out_dir} already holds a synthetic corpus ({', '.join(p.name for p in existing)}); "
            "choose an empty folder or pass overwrite=True"
        )
    for p in existing:
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)


def _run(plan: DistrictPlan, workers: int, book_done: Callable[[BookResult], None],
         progress: Callable[[int, int], None] | None) -> None:
    n = workers or available_cpus()
    total = sum(b.page_count for b in plan.books)
    done = 0

    def finished(r: BookResult) -> None:
        nonlocal done
        book_done(r)
        done += len(r.pages)
        if progress is not None:
            progress(done, total)

    # Largest books first keeps both cores busy to the end.
    jobs: list[BookPlan] = sorted(plan.books, key=lambda b: -b.page_count)
    if n == 1 or len(jobs) <= 1:
        for job in jobs:
            finished(scan_book(job))
        return
    # spawn: safe under a threaded caller (Dagster, pytest), unlike fork.
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(n, len(jobs)), mp_context=ctx,
                             initializer=init_worker) as pool:
        # The book's truth specs stay here: workers only need the file plans.
        futures = [pool.submit(scan_book, replace(job, specs=())) for job in jobs]
        for fut in as_completed(futures):
            finished(fut.result())


def _finish_batch(
    plan: DistrictPlan, key: tuple[str, str], refs: list[str], results: dict[str, BookResult],
    defect_rows: dict[tuple, dict[str, object]],
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """File defects, then manifest.csv (last: its appearance says the batch is complete)."""
    school, batch = key
    books = {b.book_ref: b for b in plan.books if b.school == school and b.batch == batch}
    batch_dir = Path(next(iter(books.values())).batch_dir)
    actions: list[FileAction] = plan.actions.get(key, [])
    rng = random.Random(f"hocba-synth-actions:{school}:{batch}")
    copies: dict[str, str] = {}
    page_rows: list[dict[str, object]] = []
    for ref in refs:
        for row in results[ref].pages:
            page_rows.append({**row, "file_state": "ok"})
    for a in actions:  # copies first, so a copy is always of intact bytes
        if a.kind == "duplicate_file":
            shutil.copyfile(batch_dir / a.file, batch_dir / a.copy_name)
            copies[a.file] = a.copy_name
            page_rows.extend({**r, "file": a.copy_name, "file_state": "duplicate"}
                             for r in page_rows if r["file"] == a.file)
    for a in actions:
        if a.kind in ("truncated_file", "zero_byte_file"):
            path = batch_dir / a.file
            detail = truncate(path, rng) if a.kind == "truncated_file" else zero(path)
            defect_rows[(a.kind, school, batch, a.file)]["detail"] = detail
            state = "truncated" if a.kind == "truncated_file" else "zero_byte"
            for r in page_rows:
                if r["file"] == a.file:
                    r["file_state"] = state
    manifest: list[dict[str, object]] = []
    for ref in refs:
        for fp in books[ref].files:
            row = {"file": fp.name, "book_ref": ref, "first_page_no": fp.first_page_no,
                   "pages": fp.pages_declared, "cap_hoc": fp.cap_hoc, "note": fp.note}
            manifest.append(row)
            if fp.name in copies:
                manifest.append({**row, "file": copies[fp.name]})
    write_manifest(batch_dir, manifest)
    return page_rows, manifest


def _write_truth(truth_dir: Path, plan: DistrictPlan, page_rows: list[dict[str, object]]) -> None:
    truth_dir.mkdir(parents=True, exist_ok=True)
    field_rows: list[dict[str, object]] = []
    with (truth_dir / "books.jsonl").open("w", encoding="utf-8") as fh:
        for bp in plan.books:
            book = plan.truths[bp.book_ref]
            hand = {i: any(v == "handwritten" for k, v in s.styles.items() if s.values.get(k))
                    for i, s in enumerate(bp.specs, start=1)}
            rec = {
                "book_ref": bp.book_ref, "student_id": book.student_id, "district": bp.district,
                "school": bp.school, "batch": bp.batch, "cap_hoc": book.cap_hoc,
                "first_year": book.first_year, "dpi": bp.dpi, "difficulty": bp.difficulty,
                "color": bp.color, "layout": bp.layout,
                "files": [f.name for f in bp.files],
                "identity": book.identity,
                "years": [
                    {"school_year": y.school_year, "grade": y.grade, "class_name": y.class_name,
                     "rule_set": y.rule_set, "layout_family": y.layout_family,
                     "template_id": y.template_id, "promoted": y.promoted,
                     "book_page_no": i + 2, "values": y.values}
                    for i, y in enumerate(book.years)
                ],
                "pages": [
                    {"book_page_no": p.book_page_no, "template_id": p.template_id,
                     "school_year": p.school_year, "handwritten": hand[p.book_page_no]}
                    for p in book.pages
                ],
            }
            fh.write(json.dumps(rec, ensure_ascii=False, sort_keys=True) + "\n")
            for page_no, spec in enumerate(bp.specs, start=1):
                assert spec.template_id is not None
                slips = slips_for(spec)  # the renderer draws the very same ones
                for fs in template(spec.template_id).field_specs():
                    text, slip = spec.values.get(fs.field_id, ""), slips.get(fs.field_id, "")
                    field_rows.append({
                        "book_ref": bp.book_ref, "book_page_no": page_no,
                        "template_id": spec.template_id, "field_id": fs.field_id,
                        "field_type": fs.type, "text": text,
                        "style": spec.styles.get(fs.field_id, "print"),
                        "slip": slip, "written": written_text(text, slip),
                    })
    pd.DataFrame(field_rows, columns=["book_ref", "book_page_no", "template_id", "field_id",
                                      "field_type", "text", "style", "slip",
                                      "written"]).to_parquet(
        truth_dir / "fields.parquet", index=False)

    pages = pd.DataFrame(page_rows, columns=list(PAGE_COLUMNS))
    pages = pages.sort_values(["district", "school", "batch", "file", "page_index"],
                              kind="stable").reset_index(drop=True)
    pages["book_page_no"] = pages["book_page_no"].astype("Int32")
    for c in ("page_index", "rotation_deg", "exif_orientation", "dpi"):
        pages[c] = pages[c].astype("int32")
    pages.to_parquet(truth_dir / "pages.parquet", index=False)

    defects = pd.DataFrame(plan.defects, columns=list(DEFECT_COLUMNS))
    defects = defects.sort_values(["defect", "school", "batch", "file", "student_id"],
                                  kind="stable")
    defects.to_csv(truth_dir / "defects.csv", index=False, encoding="utf-8")
