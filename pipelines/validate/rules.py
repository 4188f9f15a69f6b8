"""Rule cross-checks of the validate stage: a book's typed values against the grading rules.

Every threshold comes from ``data_contracts/rules`` (rule_sets.yaml through
``pipelines.domain.grading``, book_checks.yaml for the book-level checks); this module
only knows which fields each rule reads. A failed rule names every field it read, so
the reviewer sees all the places one of which is wrong.

A check whose inputs are missing (None) is skipped: missing values are the
normalizer's to flag. Odd input (wrong types, an unknown era) skips a check too;
nothing here raises on a book's values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from itertools import pairwise

from pipelines.contracts import (
    ContractError,
    RuleSet,
    book_checks,
    field_types,
    rule_sets,
    subject_catalog,
    vocabularies,
)
from pipelines.contracts.fields import AVERAGE_ROW, HISTORY, RETEST, TERMS, YEAR_TERM, FieldId
from pipelines.contracts.rules import Subject, year_average_spec
from pipelines.domain import grading
from pipelines.domain import identifier as ident
from pipelines.validate.text import loose_key

FieldRef = tuple[str, str]  # (page_id, field_id)

_LEADING_GRADE = re.compile(r"^\s*(\d{1,2})")


@dataclass(frozen=True)
class RuleFailure:
    rule_id: str
    fields: tuple[FieldRef, ...]
    """(page_id, field_id) of every field the rule read: a failed check flags exactly these."""
    message: str


@dataclass(frozen=True)
class YearValues:
    page_id: str
    school_year: int | None
    """Start year, from the page's school_year field."""
    grade: int | None
    """From class_name."""
    values: Mapping[str, object]
    """field_id -> typed value (float for scores and integers, canonical vocabulary string
    for enums and comments), None when missing or unparseable."""


@dataclass(frozen=True)
class IdentityValues:
    page_id: str
    values: Mapping[str, object]
    """full_name (str), birth_date (date), gender ('Nam'/'Nữ'), identifier (str),
    history.yN.school_year (int start year), history.yN.class_name (str), ..."""


# --- typed access ------------------------------------------------------------------
def _num(v: object) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)


@cache
def _score_pattern() -> re.Pattern[str]:
    return re.compile(field_types()["score"].pattern or ".*")


def _score(v: object) -> float | None:
    """A number that could be written in a score cell (the score type's format, 0-10)."""
    x = _num(v)
    return x if x is not None and _score_pattern().fullmatch(_score_text(x)) else None


def _int(v: object) -> int | None:
    x = _num(v)
    return int(x) if x is not None and x == int(x) else None


def _text(v: object) -> str | None:
    return v if isinstance(v, str) and v.strip() else None


def _score_text(x: float) -> str:
    """8.5 -> "8,5": the books' decimal comma."""
    return f"{x:.{year_average_spec().decimals}f}".replace(".", ",")


def _years_text(start: int | None) -> str:
    return "?" if start is None else f"{start}-{start + 1}"


def _class_text(y: YearValues) -> str:
    return _text(y.values.get("class_name")) or f"grade {y.grade}"


@dataclass(frozen=True)
class _Era:
    rule_set: str
    rs: RuleSet
    subjects: tuple[Subject, ...]


def _era(year: YearValues) -> _Era | None:
    """The page's rule set and subjects; None when its year or grade is unknown or odd."""
    sy, grade = _int(year.school_year), _int(year.grade)
    if sy is None or grade is None:
        return None
    try:
        era = grading.era_for(sy, grade)
        return _Era(era.rule_set, rule_sets()[era.rule_set],
                    tuple(grading.subjects_for(era.rule_set, grading.cap_hoc_of_grade(grade))))
    except (ContractError, ValueError):
        return None


@cache
def _scored_codes() -> frozenset[str]:
    """Every scored subject of any programme: Cả năm is checkable without knowing the era."""
    codes = set()
    for rs in rule_sets().values():
        for cap in ("THCS", "THPT"):
            codes |= {s.code for s in subject_catalog(rs.programme, cap) if s.assessment == "score"}
    return frozenset(codes)


# --- year page ------------------------------------------------------------------------
def check_year(year: YearValues) -> list[RuleFailure]:
    """Cross-checks within one year page."""
    out = list(_year_averages(year))
    era = _era(year)
    if era is not None:
        out += _overall_averages(year, era)
        out += _academic_levels(year, era)
        out += _conduct_year(year, era)
        out += _promotion(year, era)
    return out


def year_average_holds(hk1: float, hk2: float, ca: float) -> bool:
    """Whether a subject's Cả năm is the year average of its HK I and HK II (the
    ``year_average`` rule; row decoding scores readings with the same test)."""
    return math.isclose(ca, grading.year_average(hk1, hk2), abs_tol=1e-9)


def _year_averages(year: YearValues) -> Iterator[RuleFailure]:
    """Cả năm = (w1·HK I + w2·HK II)/(w1 + w2) per scored subject. The retest score is
    written beside Cả năm, not into it, so it takes no part here."""
    spec = year_average_spec()
    w1 = "" if spec.hk1_weight == 1 else f"{spec.hk1_weight}×"
    w2 = "" if spec.hk2_weight == 1 else f"{spec.hk2_weight}×"
    for code in sorted(_scored_codes()):
        ids = [str(FieldId.score(code, t)) for t in TERMS]
        hk1, hk2, ca = (_score(year.values.get(f)) for f in ids)
        if hk1 is None or hk2 is None or ca is None:
            continue
        expect = grading.year_average(hk1, hk2)
        if not year_average_holds(hk1, hk2, ca):
            yield RuleFailure("year_average", tuple((year.page_id, f) for f in ids),
                              f"Cả năm {code} {_score_text(ca)} ≠ ({w1}{_score_text(hk1)} + "
                              f"{w2}{_score_text(hk2)})/{spec.hk1_weight + spec.hk2_weight} = "
                              f"{_score_text(expect)}")


def _term_results(year: YearValues, era: _Era, term: str, *, comments_too: bool = True,
                  ) -> tuple[dict, dict, list[str]] | None:
    """The term's subject scores (and comments), and their field ids; None if one is missing."""
    scores, comments, ids = {}, {}, []
    comment_values = vocabularies()["comment"].values
    for s in era.subjects:
        fid = str(FieldId.score(s.code, term))
        v = year.values.get(fid)
        if s.assessment == "score":
            if (x := _score(v)) is None:
                return None
            scores[s.code] = x
        elif not comments_too:
            continue
        elif v in comment_values:
            comments[s.code] = v
        else:
            return None
        ids.append(fid)
    return scores, comments, ids


def overall_average_subjects(school_year: int | None, grade: int | None) -> tuple[str, ...] | None:
    """The subjects whose mean is a page's ĐTB các môn (the ``overall_average`` rule's scored
    subjects); None when the era is unknown or prints no ĐTB."""
    era = _era(YearValues("", school_year, grade, {}))
    if era is None or not era.rs.has_overall_average:
        return None
    return tuple(s.code for s in era.subjects if s.assessment == "score")


def _overall_averages(year: YearValues, era: _Era) -> Iterator[RuleFailure]:
    """ĐTB các môn = mean of the scored subjects, per term, where the era prints one."""
    if not era.rs.has_overall_average:
        return
    for term in TERMS:
        dtb_id = str(FieldId.score(AVERAGE_ROW, term))
        dtb = _score(year.values.get(dtb_id))
        got = _term_results(year, era, term, comments_too=False)
        if dtb is None or got is None or not got[0]:
            continue
        scores, _, ids = got
        expect = grading.overall_average(scores)
        if not math.isclose(dtb, expect, abs_tol=1e-9):
            ids = [dtb_id, *ids]
            yield RuleFailure("overall_average", tuple((year.page_id, f) for f in ids),
                              f"ĐTB các môn {term} {_score_text(dtb)} ≠ mean of {len(scores)} "
                              f"subjects = {_score_text(expect)}")


def _academic_levels(year: YearValues, era: _Era) -> Iterator[RuleFailure]:
    """Học lực / kết quả học tập of each term recomputed from that term's column. It reads
    every scored and comment subject of the column, so all of them are implicated (any one
    misread can move the level); the ĐTB row is not, the level uses the recomputed mean."""
    levels = vocabularies()[era.rs.academic_vocabulary].values
    for term in TERMS:
        result_id = str(FieldId.result(term, era.rs.academic_field))
        written = year.values.get(result_id)
        got = _term_results(year, era, term)
        if written not in levels or got is None or not got[0]:
            continue
        scores, comments, ids = got
        expect = grading.classify_academic(era.rule_set, scores, comments)
        if written != expect:
            yield RuleFailure("academic_level",
                              tuple((year.page_id, f) for f in (result_id, *ids)),
                              f"{era.rs.academic_field} {term} '{written}' but the {term} column "
                              f"gives '{expect}' under {era.rule_set}")


def _conduct_year(year: YearValues, era: _Era) -> Iterator[RuleFailure]:
    field = era.rs.conduct_field
    ids = [str(FieldId.result(t, field)) for t in TERMS]
    hk1, hk2, ca = (year.values.get(f) for f in ids)
    levels = vocabularies()[era.rs.conduct_vocabulary].values
    if not all(v in levels for v in (hk1, hk2, ca)):
        return
    expect = grading.conduct_year(era.rule_set, hk1, hk2)  # type: ignore[arg-type]
    if ca != expect:
        yield RuleFailure("conduct_year", tuple((year.page_id, f) for f in ids),
                          f"{field} cả năm '{ca}' but HK I '{hk1}', HK II '{hk2}' give '{expect}' "
                          f"under {era.rule_set}")


def _promotion(year: YearValues, era: _Era) -> Iterator[RuleFailure]:
    rs = era.rs
    ids = ["promotion", str(FieldId.result(YEAR_TERM, rs.academic_field)),
           str(FieldId.result(YEAR_TERM, rs.conduct_field)), "absences"]
    written, academic, conduct, absent = (year.values.get(f) for f in ids)
    absent_days = _num(absent)
    outcomes = book_checks().promotion_outcomes
    if (academic not in vocabularies()[rs.academic_vocabulary].values
            or conduct not in vocabularies()[rs.conduct_vocabulary].values
            or absent_days is None or written not in (*outcomes.moves_up, *outcomes.stays)):
        return
    ok = grading.promoted(era.rule_set, academic, conduct, absent_days)  # type: ignore[arg-type]
    allowed = set(outcomes.moves_up if ok else outcomes.stays)
    if not ok and _has_retest(year, era):
        allowed |= set(outcomes.after_retest)
    if written not in allowed:
        p = rs.promotion
        verdict = "meet" if ok else "miss"
        yield RuleFailure("promotion", tuple((year.page_id, f) for f in ids),
                          f"'{written}' but {academic} / {conduct} / {absent_days:g} days absent "
                          f"{verdict} the bar (≥ {p.min_academic}, ≥ {p.min_conduct}, "
                          f"≤ {p.max_absent_days} days)")


def _has_retest(year: YearValues, era: _Era) -> bool:
    return any(year.values.get(str(FieldId.score(s.code, RETEST))) is not None for s in era.subjects)


# --- whole book -----------------------------------------------------------------------
def check_book(identity: IdentityValues | None, years: Sequence[YearValues]) -> list[RuleFailure]:
    """Checks across the pages of one book, ``years`` in any order (they are compared in
    school-year order). Does not repeat ``check_year``."""
    dated = _by_school_year(years)
    out = list(_consecutive_years(dated, undated=len(years) - len(dated)))
    out += _grades_increasing(dated)
    if identity is not None:
        out += _age_for_grade(identity, years)
        out += _same_name(identity, years)
        out += _identifier_structure(identity)
        out += _history(identity, years)
    return out


def _by_school_year(years: Sequence[YearValues]) -> list[tuple[int, YearValues]]:
    """The pages whose school year is known, in school-year order (stable for repeats)."""
    dated = [(sy, y) for y in years if (sy := _int(y.school_year)) is not None]
    return sorted(dated, key=lambda p: p[0])


def _consecutive_years(dated: list[tuple[int, YearValues]], undated: int) -> Iterator[RuleFailure]:
    """One page per school year, with no year left out. A gap is not reported while there
    are pages of unreadable year that could fill it."""
    pairs = list(pairwise(dated))
    missing = sum(yb - ya - 1 for (ya, _), (yb, _) in pairs if yb > ya + 1)
    for (ya, a), (yb, b) in pairs:
        if yb == ya or (yb > ya + 1 and missing > undated):
            what = "repeated" if yb == ya else f"expected {_years_text(ya + 1)} between them"
            yield RuleFailure("school_years_consecutive",
                              ((a.page_id, "school_year"), (b.page_id, "school_year")),
                              f"Năm học {_years_text(ya)} on {a.page_id}, {_years_text(yb)} on "
                              f"{b.page_id}: {what}")


def _grades_increasing(dated: list[tuple[int, YearValues]]) -> Iterator[RuleFailure]:
    """Grade up by one a year; the same grade again only after a year that did not move up."""
    moves_up = book_checks().promotion_outcomes.moves_up
    for (ya, a), (yb, b) in pairwise(dated):
        ga, gb = _int(a.grade), _int(b.grade)
        if ga is None or gb is None:
            continue
        dy, dg = yb - ya, gb - ga
        if dy < 1 or dg == dy or (dy > 1 and 0 <= dg < dy):
            continue  # a repeated or missing year is school_years_consecutive's to report
        fields = [(a.page_id, "class_name"), (b.page_id, "class_name")]
        if dg == 0:
            promotion = _text(a.values.get("promotion"))
            if promotion is None or promotion not in moves_up:
                continue  # a repeat after a year that did not move up
            fields.append((a.page_id, "promotion"))
            message = (f"Lớp {_class_text(a)} ({_years_text(ya)}) again in {_years_text(yb)} "
                       f"although {_years_text(ya)} says '{promotion}'")
        else:
            message = (f"Lớp {_class_text(a)} ({_years_text(ya)}) then {_class_text(b)} "
                       f"({_years_text(yb)}): grade should go up by {dy}")
        yield RuleFailure("grades_increasing", tuple(fields), message)


def _birth_year(identity: IdentityValues) -> int | None:
    born = identity.values.get("birth_date")
    return born.year if isinstance(born, date) else None


def _age_for_grade(identity: IdentityValues, years: Sequence[YearValues]) -> Iterator[RuleFailure]:
    born = _birth_year(identity)
    if born is None:
        return
    cfg = book_checks().age_for_grade
    for y in years:
        sy, grade = _int(y.school_year), _int(y.grade)
        if sy is None or grade is None:
            continue
        age, usual = sy - born, grade + cfg.offset
        if not cfg.min_delta <= age - usual <= cfg.max_delta:
            yield RuleFailure("age_for_grade",
                              ((identity.page_id, "birth_date"), (y.page_id, "school_year"),
                               (y.page_id, "class_name")),
                              f"Born {born}, grade {grade} in {_years_text(sy)} at age {age}: expected "
                              f"{usual + cfg.min_delta}-{usual + cfg.max_delta}")


def _same_name(identity: IdentityValues, years: Sequence[YearValues]) -> Iterator[RuleFailure]:
    name = _text(identity.values.get("full_name"))
    if name is None:
        return
    for y in years:
        other = _text(y.values.get("full_name"))
        if other is not None and loose_key(other) != loose_key(name):
            yield RuleFailure("identity_consistent",
                              ((identity.page_id, "full_name"), (y.page_id, "full_name")),
                              f"Họ tên '{other}' on {y.page_id} ≠ '{name}' on the identity page")


def _identifier_structure(identity: IdentityValues) -> Iterator[RuleFailure]:
    """PPP C YY NNNNNN against birth year and giới tính (DOMAIN §3); implicates the
    identifier and whichever of birth_date / gender it disagrees with."""
    number = _text(identity.values.get("identifier"))
    if number is None:
        return
    born = _birth_year(identity)
    gender = book_checks().gender_codes.get(_text(identity.values.get("gender")) or "")
    issues = ident.check(number, birth_year=born, gender=gender)
    if not issues:
        return
    names = ["identifier"]
    if "birth_year_mismatch" in issues:
        names.append("birth_date")
    if "gender_mismatch" in issues:
        names.append("gender")
    detail = f" (born {born}, {identity.values.get('gender')})" if len(names) > 1 else ""
    yield RuleFailure("identifier_structure", tuple((identity.page_id, f) for f in names),
                      f"Mã định danh {number}: {', '.join(issues)}{detail}")


def _class_key(text: str) -> str:
    return "".join(text.split()).upper()


def _history_rows(identity: IdentityValues) -> dict[str, tuple[int | None, str | None]]:
    """Row key (y1, y2, ...) -> (school year start, class name) of the Quá trình học tập table."""
    rows: dict[str, dict[str, object]] = {}
    for fid, v in identity.values.items():
        f = FieldId.try_parse(fid)
        if f is not None and f.table == HISTORY and f.column in ("school_year", "class_name"):
            rows.setdefault(f.row, {})[f.column] = v  # type: ignore[index]
    return {r: (_int(c.get("school_year")), _text(c.get("class_name"))) for r, c in sorted(rows.items())}


def _history(identity: IdentityValues, years: Sequence[YearValues]) -> Iterator[RuleFailure]:
    """Each year page's school year is a row of the history table, with the same class."""
    rows = _history_rows(identity)
    known = {r: sy for r, (sy, _) in rows.items() if sy is not None}
    if not known:
        return
    # A row whose year is unreadable may be the one a page belongs to: no "not listed" then.
    unreadable = any(sy is None and cls is not None for sy, cls in rows.values())
    page_years = {_int(y.school_year) for y in years}
    for y in years:
        sy = _int(y.school_year)
        if sy is None:
            continue
        row = next((r for r, ry in known.items() if ry == sy), None)
        if row is None:
            if not unreadable:
                yield _not_in_history(identity, y, sy, known, page_years)
            continue
        failure = _history_class(identity, y, row, rows[row][1])
        if failure is not None:
            yield failure


def _not_in_history(identity: IdentityValues, y: YearValues, sy: int, known: dict[str, int],
                    page_years: set[int | None]) -> RuleFailure:
    spare = [r for r, ry in known.items() if ry not in page_years]  # rows no page claims
    fields = ((y.page_id, "school_year"),
              *((identity.page_id, str(FieldId.history(r, "school_year"))) for r in spare))
    listed = ", ".join(_years_text(ry) for ry in known.values())
    return RuleFailure("year_page_matches_history", fields,
                       f"Năm học {_years_text(sy)} on {y.page_id} is not in the history table ({listed})")


def _history_class(identity: IdentityValues, y: YearValues, row: str,
                   hist_class: str | None) -> RuleFailure | None:
    if hist_class is None:
        return None
    page_class = _text(y.values.get("class_name"))
    if page_class is not None:
        same = _class_key(page_class) == _class_key(hist_class)
    elif (grade := _int(y.grade)) is not None and (m := _LEADING_GRADE.match(hist_class)):
        same = int(m[1]) == grade
    else:
        return None
    if same:
        return None
    hist_id = str(FieldId.history(row, "class_name"))
    return RuleFailure("year_page_matches_history", ((y.page_id, "class_name"), (identity.page_id, hist_id)),
                       f"Lớp {_class_text(y)} in {_years_text(_int(y.school_year))} on {y.page_id} ≠ "
                       f"'{hist_class}' in the history table")
