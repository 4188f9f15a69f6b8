"""Deciding, before anything is drawn, how every book reaches the inbox.

For each scanned book: batch, file layout, dpi, colour, who wrote each page and
how, and every injected defect. All choices come from one seeded RNG in a fixed
order, so the plan (and therefore every output byte) depends on the seed only;
drawing the pages is then pure work that any process can do (``scan.py``).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.contracts import template
from pipelines.synth.defects import (
    DEFECT_COLUMNS,
    DefectRates,
    flip_gender_digit,
    name_variant,
    pick,
)
from pipelines.synth.degrade import DIFFICULTIES
from pipelines.synth.files import EXTENSION, LAYOUT_FORMAT, MULTI_PAGE, FileFormat, Layout
from pipelines.synth.render import HandDigits, PageSpec, field_styles, random_hand
from pipelines.synth.roster import roster_row
from pipelines.synth.truth import BookTruth, District, School

DPI_CHOICES = (200, 240, 250, 300)
LAYOUT_WEIGHTS: dict[str, float] = {
    "pdf": 0.35, "tiff_multi": 0.15, "tiff_pages": 0.10, "jpeg_pages": 0.28, "png_pages": 0.12,
}
MIXED_WEIGHTS = {"clean": 0.3, "typical": 0.5, "hard": 0.2}
COLOUR_SHARE = 0.55
EXIF_SHARE = 0.3  # of per-page JPEG books: pages stored turned with an Orientation tag
OPERATOR_NOTES = ("Sổ cũ, giấy ố vàng", "Bìa sổ bị rách", "Quét lại lần 2", "Có trang dán băng keo")


@dataclass(frozen=True)
class PagePlan:
    spec: PageSpec
    book_page_no: int | None
    """1-based page of the book; None for an inserted blank sheet."""
    upside_down: bool = False


@dataclass(frozen=True)
class FilePlan:
    name: str
    fmt: FileFormat
    pages: tuple[PagePlan, ...]
    first_page_no: int
    pages_declared: int
    """What the operator writes in manifest ``pages`` (kept when a page goes missing)."""
    exif_orientation: int = 1
    tiff_compression: str = "jpeg"
    cap_hoc: str = ""
    note: str = ""


@dataclass(frozen=True)
class BookPlan:
    """One worker job: everything needed to write a book's files, nothing personal
    beyond the page values themselves."""

    book_ref: str
    student_id: str
    district: str
    school: str
    batch: str
    batch_dir: str
    cap_hoc: str
    dpi: int
    difficulty: str
    color: bool
    layout: Layout
    files: tuple[FilePlan, ...]
    specs: tuple[PageSpec, ...] = field(repr=False, default=())
    """Every page of the book as written (for the ground truth), in book order."""

    @property
    def page_count(self) -> int:
        return sum(len(f.pages) for f in self.files)


@dataclass(frozen=True)
class FileAction:
    """A defect applied to a written file, before the batch manifest is written."""

    kind: str  # duplicate_file | truncated_file | zero_byte_file
    file: str
    copy_name: str = ""


@dataclass
class DistrictPlan:
    books: list[BookPlan]
    truths: dict[str, BookTruth]
    actions: dict[tuple[str, str], list[FileAction]]
    """(school, batch) → file actions."""
    batches: dict[tuple[str, str], list[str]]
    """(school, batch) → book_refs, in order."""
    roster: list[dict[str, str]]
    defects: list[dict[str, object]]


def stable_int(text: str) -> int:
    """A 32-bit integer from text, equal in every process (``hash()`` is salted)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def page_seed(seed: int, book_ref: str, key: int) -> tuple[int, int, int]:
    return (seed % 2**32, stable_int(book_ref), key)


def handwriting_probability(year: int, school: School, difficulty: str) -> float:
    """Paper filled by hand before the school printed from software, mostly printed after;
    a harder corpus has more handwriting, a clean one less."""
    base = 0.9 if year < school.software_from else 0.08
    if difficulty == "clean":
        return base * 0.6
    if difficulty == "hard":
        return min(0.97, base + 0.15)
    return base


def plan_district(
    district: District, *, seed: int, difficulty: str, rates: DefectRates, batch_size: int,
    inbox: Path, hand_digits: HandDigits = "mnist",
) -> DistrictPlan:
    if difficulty not in (*DIFFICULTIES, "mixed"):
        choices = (*DIFFICULTIES, "mixed")
        raise ValueError(f"difficulty must be one of {choices}, got {difficulty!r}")
    rng = random.Random(f"hocba-synth-plan:{seed}:{district.code}")
    students = {s.student_id: s for s in district.students}
    defects: list[dict[str, object]] = []

    def record(defect: str, **kw: object) -> None:
        row: dict[str, object] = dict.fromkeys(DEFECT_COLUMNS, "")
        row.update(defect=defect, district=district.code, **kw)
        defects.append(row)

    # Books not on the shelf: their students stay in the roster only.
    # (Never a school's first book, so every school reaches the inbox.)
    firsts = {next(b.book_ref for b in district.books if b.school == s.code)
              for s in district.schools}
    unscanned = set(pick(rng, rates.unscanned_book,
                         [b.book_ref for b in district.books if b.book_ref not in firsts]))
    for b in district.books:
        if b.book_ref in unscanned:
            record("unscanned_book", school=b.school, student_id=b.student_id,
                detail="roster student without a scanned book")

    # Base plan per scanned book, batches per school.
    drafts: list[dict] = []
    # The first books take every layout once, so even a tiny corpus has every format.
    layouts = rng.sample(list(LAYOUT_WEIGHTS), len(LAYOUT_WEIGHTS))
    batches: dict[tuple[str, str], list[str]] = {}
    for school in district.schools:
        books = [b for b in district.books
                 if b.school == school.code and b.book_ref not in unscanned]
        for i in range(0, len(books), batch_size):
            batch = f"b{i // batch_size + 1:03d}"
            naming = "scanner" if rng.random() < 0.4 else "ref"
            counter = 0
            batches[(school.code, batch)] = [b.book_ref for b in books[i:i + batch_size]]
            for b in books[i:i + batch_size]:
                layout = layouts[len(drafts)] if len(drafts) < len(layouts) else None
                d = _draft_book(rng, b, school, seed, difficulty, batch,
                                inbox / district.code / school.code / batch, layout, hand_digits)
                d["names"], counter = _file_names(d, naming, counter)
                drafts.append(d)

    # Defects on files and pages, each file carrying at most one file-level defect.
    all_files = [(bi, fi) for bi, d in enumerate(drafts) for fi in range(len(d["groups"]))]
    multi = [(bi, fi) for bi, fi in all_files if drafts[bi]["layout"] in MULTI_PAGE
             and len(drafts[bi]["groups"][fi]) >= 2]
    taken: set = set()
    missing = set(pick(rng, rates.missing_page, multi, taken))
    blank = set(pick(rng, rates.blank_page, multi, taken))
    truncated = set(pick(rng, rates.truncated_file, all_files, taken))
    zeroed = set(pick(rng, rates.zero_byte_file, all_files, taken))
    duplicated = set(pick(rng, rates.duplicate_file, all_files, taken))
    page_slots = [(bi, fi, k) for bi, fi in all_files if (bi, fi) not in truncated | zeroed
                  for k in range(len(drafts[bi]["groups"][fi]))]
    upside = set(pick(rng, rates.upside_down, page_slots))

    plans: list[BookPlan] = []
    actions: dict[tuple[str, str], list[FileAction]] = {}
    for bi, d in enumerate(drafts):
        b: BookTruth = d["book"]
        files = []
        for fi, group in enumerate(d["groups"]):
            name = d["names"][fi]
            pages = [PagePlan(d["specs"][n - 1], n, (bi, fi, k) in upside)
                     for k, n in enumerate(group)]
            declared = len(pages)
            where = {"school": b.school, "batch": d["batch"], "file": name, "book_ref": b.book_ref,
                     "student_id": b.student_id}
            if (bi, fi) in missing:
                upright = [k for k, p in enumerate(pages) if not p.upside_down] or [0]
                k = rng.choice(upright)
                gone = pages.pop(k)
                record("missing_page", page_index=k, **where,
                    detail=f"book page {gone.book_page_no} dropped; manifest pages={declared}, "
                           f"file has {len(pages)}")
            if (bi, fi) in blank:
                k = rng.randint(1, len(pages))
                spec = PageSpec(None, d["dpi"], page_seed(seed, b.book_ref, 100 + k),
                                paper=d["paper"])
                pages.insert(k, PagePlan(spec, None))
                declared += 1  # the operator counts the sheets that went through the scanner
                record("blank_page", page_index=k, **where, detail="empty sheet inserted")
            for k, p in enumerate(pages):
                if p.upside_down:
                    record("upside_down", page_index=k, **where,
                        detail=f"book page {p.book_page_no} turned 180°")
            cap_known = rng.random() < 0.9
            files.append(FilePlan(
                name=name, fmt=LAYOUT_FORMAT[d["layout"]], pages=tuple(pages),
                first_page_no=group[0], pages_declared=declared,
                exif_orientation=d["exif"], tiff_compression=d["tiff_compression"],
                cap_hoc=b.cap_hoc if cap_known else "",
                note=rng.choice(OPERATOR_NOTES) if rng.random() < 0.05 else "",
            ))
            key = (b.school, d["batch"])
            if (bi, fi) in duplicated:
                stem, ext = name.rsplit(".", 1)
                copy = f"{stem}_copy.{ext}"
                actions.setdefault(key, []).append(FileAction("duplicate_file", name, copy))
                record("duplicate_file", **{**where, "file": copy}, detail=f"byte copy of {name}")
            if (bi, fi) in truncated:
                actions.setdefault(key, []).append(FileAction("truncated_file", name))
                record("truncated_file", **where, detail="")
            if (bi, fi) in zeroed:
                actions.setdefault(key, []).append(FileAction("zero_byte_file", name))
                record("zero_byte_file", **where, detail="")
        plans.append(BookPlan(
            book_ref=b.book_ref, student_id=b.student_id, district=district.code,
            school=b.school, batch=d["batch"], batch_dir=str(d["batch_dir"]), cap_hoc=b.cap_hoc,
            dpi=d["dpi"], difficulty=d["difficulty"], color=d["color"], layout=d["layout"],
            files=tuple(files), specs=tuple(d["specs"]),
        ))

    # Roster: every student, scanned or not; discrepancies only here.
    roster = [roster_row(students[b.student_id], b, district) for b in district.books]
    order = rng.sample(range(len(roster)), len(roster))  # exports are not in shelf order
    roster = [roster[i] for i in order]
    taken_rows: set = set()
    rows = list(range(len(roster)))
    by_row = [district.books[i] for i in order]
    for i in pick(rng, rates.name_variant, rows, taken_rows):
        roster[i]["ho_ten"], kind = name_variant(roster[i]["ho_ten"], rng)
        record("name_variant", school=by_row[i].school, student_id=by_row[i].student_id,
            detail=f"ho_ten {kind}")
    for i in pick(rng, rates.missing_identifier, rows, taken_rows):
        roster[i]["ma_dinh_danh"] = ""
        record("missing_identifier", school=by_row[i].school, student_id=by_row[i].student_id,
            detail="ma_dinh_danh blank")
    for i in pick(rng, rates.gender_digit, rows, taken_rows):
        old = roster[i]["ma_dinh_danh"]
        roster[i]["ma_dinh_danh"] = flip_gender_digit(old)
        record("gender_digit", school=by_row[i].school, student_id=by_row[i].student_id,
            detail=f"century/gender digit {old[3]}→{roster[i]['ma_dinh_danh'][3]}")

    return DistrictPlan(
        books=plans,
        truths={b.book_ref: b for b in district.books if b.book_ref not in unscanned},
        actions=actions,
        batches=batches,
        roster=roster,
        defects=defects,
    )


def _draft_book(rng: random.Random, b: BookTruth, school: School, seed: int, difficulty: str,
                batch: str, batch_dir: Path, layout: Layout | None,
                hand_digits: HandDigits = "mnist") -> dict:
    diff = difficulty if difficulty != "mixed" else rng.choices(
        list(MIXED_WEIGHTS), list(MIXED_WEIGHTS.values()))[0]
    dpi = rng.choice(DPI_CHOICES)
    color = rng.random() < COLOUR_SHARE
    first = layout is not None  # the book that shows its layout first in the corpus
    if layout is None:
        layout = rng.choices(list(LAYOUT_WEIGHTS), list(LAYOUT_WEIGHTS.values()))[0]  # type: ignore[assignment]
    turned = layout == "jpeg_pages" and (first or rng.random() < EXIF_SHARE)
    exif = rng.choice((6, 8, 3)) if turned else 1
    tiff_compression = rng.choice(("jpeg", "jpeg", "tiff_adobe_deflate"))
    if layout == "png_pages" or (layout in ("tiff_multi", "tiff_pages")
                                 and tiff_compression != "jpeg"):
        color = False  # lossless profiles scan 8-bit grey: lossless colour is ~10 MB a page
    family = rng.choice(("serif", "sans"))
    old = b.first_year < 2012
    paper = ((rng.randint(238, 247), rng.randint(233, 242), rng.randint(212, 228)) if old
             else (rng.randint(246, 253), rng.randint(245, 252), rng.randint(238, 248)))
    specs = []
    year_style = []
    for y in b.years:
        hw = rng.random() < handwriting_probability(y.school_year, school, diff)
        year_style.append((hw, random_hand(rng, hand_digits)))
    for page in b.pages:
        idx = 0 if page.school_year is None else page.book_page_no - 2
        hw, hand = year_style[idx]  # the identity page is filled when year 1 begins
        tpl = template(page.template_id)
        specs.append(PageSpec(
            template_id=page.template_id, dpi=dpi,
            seed=page_seed(seed, b.book_ref, page.book_page_no),
            values=dict(page.values), styles=field_styles(tpl, hw, rng),
            print_family=family, hand=hand, paper=paper, stamp_text=school.name,
            stamp=rng.random() < 0.95, signatures=True,
            photo=page.school_year is None and rng.random() < 0.85,
        ))
    n = len(specs)
    groups = [list(range(1, n + 1))] if layout in MULTI_PAGE else [[k] for k in range(1, n + 1)]
    return {"book": b, "batch": batch, "batch_dir": batch_dir, "difficulty": diff, "dpi": dpi,
            "color": color, "layout": layout, "exif": exif, "tiff_compression": tiff_compression,
            "paper": paper, "specs": specs, "groups": groups}


def _file_names(d: dict, naming: str, counter: int) -> tuple[list[str], int]:
    """File names as the scanning station makes them: the book label, or a running number."""
    ext = EXTENSION[LAYOUT_FORMAT[d["layout"]]]
    ref = d["book"].book_ref
    names = []
    multi = len(d["groups"]) > 1
    for k, _ in enumerate(d["groups"]):
        if naming == "ref":
            names.append(f"{ref}_p{k + 1:02d}{ext}" if multi else f"{ref}{ext}")
        else:
            counter += 1
            names.append(f"SCAN_{counter:04d}{ext}")
    return names, counter

