"""Grading rules of each era, interpreted from data_contracts/rules/rule_sets.yaml.

Used to make consistent ground truth (synth) and to cross-check OCR readings
(validate). Every threshold comes from the rule set; this module only knows
how to apply the kinds of conditions the contract defines.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from pipelines.contracts import ContractError, RuleSet, eras, rule_sets, subject_catalog, vocabularies
from pipelines.contracts.rules import AcademicRule, year_average_spec


@dataclass(frozen=True)
class Era:
    rule_set: str
    layout_family: str
    programme: str


def era_for(school_year: int, grade: int) -> Era:
    """The rule set for the school year starting in ``school_year`` and ``grade``."""
    for row in eras():
        if school_year >= row.when.from_year and row.when.grade in (None, grade):
            rs = rule_sets()[row.rule_set]
            return Era(row.rule_set, row.layout_family, rs.programme)
    raise ContractError(f"rules/eras.yaml has no era for school year {school_year}, grade {grade}")


GRADES: dict[str, range] = {"THCS": range(6, 10), "THPT": range(10, 13)}
"""The grades of each cấp học (lower and upper secondary)."""


def cap_hoc_of_grade(grade: int) -> str:
    for cap, grades in GRADES.items():
        if grade in grades:
            return cap
    raise ValueError(f"grade {grade} is not a THCS or THPT grade")


def round_half_up(x: float, decimals: int = 1) -> float:
    q = Decimal(1).scaleb(-decimals)
    return float(Decimal(str(x)).quantize(q, rounding=ROUND_HALF_UP))


def year_average(hk1: float, hk2: float) -> float:
    """Cả năm = (HK I + 2 × HK II) / 3, rounded half up to one decimal."""
    spec = year_average_spec()
    total = spec.hk1_weight + spec.hk2_weight
    # Decimal arithmetic: (7.0 + 2*8.5)/3 must round exactly like a teacher does.
    value = (Decimal(str(hk1)) * spec.hk1_weight + Decimal(str(hk2)) * spec.hk2_weight) / total
    return float(value.quantize(Decimal(1).scaleb(-spec.decimals), rounding=ROUND_HALF_UP))


def overall_average(scores: Mapping[str, float]) -> float:
    """ĐTB các môn: mean of the scored subjects, one decimal."""
    if not scores:
        raise ValueError("no scored subject")
    total = sum(Decimal(str(v)) for v in scores.values()) / len(scores)
    return float(total.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _meets(rule: AcademicRule, scores: Mapping[str, float], comments: Mapping[str, str],
           average: float | None) -> bool:
    if rule.min_overall_average is not None and (average is None or average < rule.min_overall_average):
        return False
    if rule.key_subjects and rule.key_subject_min is not None:
        keys = [scores[k] for k in rule.key_subjects if k in scores]
        if not keys or max(keys) < rule.key_subject_min:
            return False
    if rule.min_every_subject is not None and scores and min(scores.values()) < rule.min_every_subject:
        return False
    if rule.max_comment_fail is not None:
        fails = sum(1 for v in comments.values() if v == "CĐ")
        if fails > rule.max_comment_fail:
            return False
    if rule.min_count_at_or_above is not None:
        need = rule.min_count_at_or_above
        if sum(1 for v in scores.values() if v >= need.score) < need.count:
            return False
    return True


def _strict_level(rs: RuleSet, scores: Mapping[str, float], comments: Mapping[str, str],
                  average: float | None) -> str:
    for rule in rs.academic_rules:
        if _meets(rule, scores, comments, average):
            return rule.level
    return rs.academic_rules[-1].level  # unreachable: the last rule has no condition


def classify_academic(rule_set: str, scores: Mapping[str, float], comments: Mapping[str, str]) -> str:
    """Học lực (TT58 family) or kết quả học tập (TT22) from one term's subject results.

    ``scores``: subject code → average of scored subjects; ``comments``: subject → Đ/CĐ.
    The overall average, where the era has one, is computed here from ``scores``.
    """
    rs = rule_sets()[rule_set]
    average = overall_average(scores) if rs.has_overall_average else None
    strict = _strict_level(rs, scores, comments, average)
    relaxed = _level_but_one_subject(rs, scores, comments, average)
    for adj in rs.adjustments:
        if adj.from_ == relaxed and adj.to == strict:
            return adj.becomes
    return strict


def _level_but_one_subject(rs: RuleSet, scores: Mapping[str, float], comments: Mapping[str, str],
                           average: float | None) -> str | None:
    """The best level reached with one subject left out of the per-subject conditions (the
    average still counts it): the weakest scored subject, or one comment subject at CĐ, which
    is a subject result below the level's bar just the same (TT58 Điều 13, TT22 Điều 9)."""
    options = []
    if len(scores) >= 2:
        weakest = min(scores, key=lambda k: scores[k])
        rest = {k: v for k, v in scores.items() if k != weakest}
        options.append(_strict_level(rs, rest, comments, average))
    failed = [k for k, v in comments.items() if v == "CĐ"]
    if failed:
        rest_c = {k: v for k, v in comments.items() if k != failed[0]}
        options.append(_strict_level(rs, scores, rest_c, average))
    return min(options, key=rs.academic_levels.index) if options else None


def conduct_year(rule_set: str, hk1: str, hk2: str) -> str:
    """Whole-year hạnh kiểm / rèn luyện from the two terms."""
    cy = rule_sets()[rule_set].conduct_year
    if cy.rule == "same_as_hk2":
        return hk2
    for row in cy.rows:
        if row.hk2 == hk2 and hk1 in row.hk1_in:
            return row.result
    assert cy.fallback is not None
    return cy.fallback


def promoted(rule_set: str, academic: str, conduct: str, absent_days: int) -> bool:
    """Whether the year's results allow moving up a grade."""

    rs = rule_sets()[rule_set]
    p = rs.promotion
    av = vocabularies()[rs.academic_vocabulary]
    cv = vocabularies()[rs.conduct_vocabulary]
    return (
        av.rank(academic) <= av.rank(p.min_academic)
        and cv.rank(conduct) <= cv.rank(p.min_conduct)
        and absent_days <= p.max_absent_days
    )


def subjects_for(rule_set: str, cap_hoc: str):
    return subject_catalog(rule_sets()[rule_set].programme, cap_hoc)
