"""The roster: read the sector database's export, and match each scanned book to a student.

The export is a CSV per school or district (UTF-8, often with a BOM; older exports
carry names in TCVN3 or VNI, converted here). A book is matched by its identifier
when the roster has it; otherwise by name, birth date and gender among the roster
rows of the book's school, scored as ``data_contracts/rules/roster_matching.yaml``
says. Outcomes: matched, matched_with_differences (which fields differ),
ambiguous (candidates listed), unmatched.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

import pandas as pd
from rapidfuzz import fuzz

from pipelines.contracts import provinces
from pipelines.contracts.loader import Strict, load
from pipelines.domain import identifier as ident
from pipelines.storage import Storage
from pipelines.validate.errors import RosterError
from pipelines.validate.text import fix_legacy, match_key, nfc

ROSTER_COLUMNS = {
    "ma_dinh_danh": "student_id", "ho_ten": "full_name", "ngay_sinh": "birth_date",
    "gioi_tinh": "gender", "dan_toc": "ethnicity", "ma_truong": "school_code",
    "ten_truong": "school_name", "ma_quan_huyen": "district_code", "cap_hoc": "cap_hoc",
    "lop": "class_name", "nam_hoc_bat_dau": "first_year", "nam_hoc_ket_thuc": "last_year",
}
REQUIRED = ("ho_ten", "ngay_sinh", "ma_truong")


class MatchingRules(Strict):
    kind: Literal["roster_matching"]
    version: int
    name_weight: float
    birth_date_weight: float
    gender_weight: float
    day_month_swapped_credit: float
    min_score: float
    min_lead: float
    compared_fields: tuple[str, ...]


@cache
def matching_rules() -> MatchingRules:
    return load(MatchingRules, "rules/roster_matching.yaml")


# --- reading ----------------------------------------------------------------------
def read_roster(storage: Storage) -> pd.DataFrame:
    """Every ``*.csv`` under the roster root (a file or a folder), normalized."""
    files = [""] if storage.exists("") and not storage.isdir("") else sorted(
        p for p in storage.walk_files("") if p.lower().endswith(".csv"))
    frames = [parse_roster_csv(storage.read_bytes(p), posixpath.basename(p) or "roster.csv")
              for p in files]
    if not frames:
        raise RosterError(f"no roster CSV found under {storage.url('')}")
    out = pd.concat(frames, ignore_index=True)
    return out


def _decode(data: bytes, name: str) -> str:
    for enc in ("utf-8-sig", "cp1258", "cp1252"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise RosterError(f"{name}: not UTF-8, cp1258 or cp1252 text")


def parse_roster_csv(data: bytes, name: str) -> pd.DataFrame:
    """One export file → roster rows (contract ``roster``). Legacy-encoded names are
    converted; a row without a name, birth date or school is an error naming its line."""
    reader = csv.DictReader(io.StringIO(_decode(data, name)))
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        raise RosterError(f"{name}: missing column(s) {', '.join(missing)}; "
                          f"expected the sector export's {', '.join(ROSTER_COLUMNS)}")
    codes = provinces().sector_gender_codes
    rows = []
    for line, r in enumerate(reader, start=2):
        full_name, encoding = fix_legacy(r.get("ho_ten") or "")
        if not full_name or not (r.get("ma_truong") or "").strip():
            raise RosterError(f"{name} line {line}: ho_ten and ma_truong must not be empty")
        gender = codes.get((r.get("gioi_tinh") or "").strip())
        birth = _parse_date(r.get("ngay_sinh") or "")
        sid = "".join((r.get("ma_dinh_danh") or "").split()) or None
        issues = ident.check(sid or "", birth_year=birth.year if birth else None,
                             gender=gender if gender in ("male", "female") else None)
        rows.append({
            "row_id": f"{name}:{line}",
            "student_id": sid if sid and sid.isdigit() and len(sid) == 12 else None,
            "full_name": full_name, "name_key": match_key(full_name), "birth_date": birth,
            "gender": gender if gender in ("male", "female") else None,
            "ethnicity": nfc(fix_legacy(r.get("dan_toc") or "")[0]) or None,
            "school_code": r["ma_truong"].strip(), "school_name": nfc(r.get("ten_truong") or "") or None,
            "district_code": (r.get("ma_quan_huyen") or "").strip() or None,
            "cap_hoc": (r.get("cap_hoc") or "").strip() or None,
            "class_name": (r.get("lop") or "").strip() or None,
            "first_year": _int(r.get("nam_hoc_bat_dau")), "last_year": _int(r.get("nam_hoc_ket_thuc")),
            "source_encoding": encoding, "identifier_issues": issues,
        })
    return pd.DataFrame(rows)


def _parse_date(s: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(s.strip(), "%d/%m/%Y").date()
    except ValueError:
        return None


def _int(s: str | None) -> int | None:
    s = (s or "").strip()
    return int(s) if s.isdigit() else None


# --- matching ---------------------------------------------------------------------
@dataclass(frozen=True)
class BookIdentity:
    """What a book says about its student (normalized values; None when unread)."""

    book_ref: str
    school_code: str | None
    student_id: str | None = None
    full_name: str | None = None
    birth_date: dt.date | None = None
    gender: str | None = None  # male | female


@dataclass
class Match:
    book_ref: str
    outcome: str
    student_id: str | None = None
    score: float = 0.0
    differing_fields: list[str] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)
    identifier_issues: list[str] = field(default_factory=list)


class Roster:
    """The roster indexed for matching."""

    def __init__(self, rows: pd.DataFrame):
        self.rows = rows.reset_index(drop=True).astype({"student_id": object})
        self.rows["student_id"] = self.rows["student_id"].where(self.rows["student_id"].notna(), None)
        ids = self.rows["student_id"]
        self.by_id = {s: i for i, s in ids.items() if isinstance(s, str)}
        self.by_school: dict[str, list[int]] = {}
        for i, s in self.rows["school_code"].items():
            self.by_school.setdefault(s, []).append(i)

    def match(self, book: BookIdentity) -> Match:
        issues = []
        if book.student_id:
            birth_year = book.birth_date.year if book.birth_date else None
            issues = ident.check(book.student_id, birth_year=birth_year, gender=book.gender)
            i = self.by_id.get(book.student_id)
            if i is not None:
                diff = self._differences(book, i)
                return Match(book.book_ref, "matched_with_differences" if diff else "matched",
                             self.rows.at[i, "student_id"], 1.0, diff, [], issues)
        pool = self.by_school.get(book.school_code or "", []) if book.school_code else list(self.rows.index)
        scored = sorted(((self._score(book, i), i) for i in pool), reverse=True)
        rules = matching_rules()
        scored = [(s, i) for s, i in scored if s >= rules.min_score]
        if not scored:
            return Match(book.book_ref, "unmatched", None, 0.0, [], [], issues)
        best, i = scored[0]
        close = [j for s, j in scored if best - s < rules.min_lead]
        if len(close) > 1:
            return Match(book.book_ref, "ambiguous", None, round(best, 4), [],
                         [self._label(j) for j in close], issues)
        diff = self._differences(book, i)
        # Books from before the 12-digit identifier have none: only a different one is a
        # difference; a roster row without one cannot confirm the student either.
        theirs = self.rows.at[i, "student_id"]
        if not theirs or (book.student_id and book.student_id != theirs):
            diff = ["identifier", *diff]
        if not diff:
            return Match(book.book_ref, "matched", self.rows.at[i, "student_id"], round(best, 4), [], [],
                         issues)
        return Match(book.book_ref, "matched_with_differences", self.rows.at[i, "student_id"],
                     round(best, 4), diff, [], issues)

    def _label(self, i: int) -> str:
        sid = self.rows.at[i, "student_id"]
        return sid if isinstance(sid, str) else f"row:{self.rows.at[i, 'row_id']}"

    def _score(self, book: BookIdentity, i: int) -> float:
        rules, row = matching_rules(), self.rows.loc[i]
        name = (fuzz.token_sort_ratio(match_key(book.full_name), row["name_key"]) / 100
                if book.full_name else 0.0)
        birth = 0.0
        if book.birth_date is not None and pd.notna(row["birth_date"]):
            rb = row["birth_date"]
            if book.birth_date == rb:
                birth = 1.0
            elif (book.birth_date.year, book.birth_date.day, book.birth_date.month) == (
                    rb.year, rb.month, rb.day):
                birth = rules.day_month_swapped_credit
        gender = 1.0 if book.gender is not None and book.gender == row["gender"] else 0.0
        return rules.name_weight * name + rules.birth_date_weight * birth + rules.gender_weight * gender

    def _differences(self, book: BookIdentity, i: int) -> list[str]:
        row = self.rows.loc[i]
        out = []
        for f in matching_rules().compared_fields:
            mine, theirs = getattr(book, f), row[f]
            if f == "full_name":
                mine, theirs = match_key(mine or ""), row["name_key"]
            if mine is None or (not isinstance(theirs, str) and pd.isna(theirs)):
                out.append(f)  # unread on the book or blank on the roster: not confirmed
            elif mine != theirs:
                out.append(f)
        return out


def match_books(roster: Roster, books: Iterable[BookIdentity]) -> list[Match]:
    return [roster.match(b) for b in books]
