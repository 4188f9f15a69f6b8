"""Rules as data: eras, grading rule sets, subjects, vocabularies, province codes."""

from __future__ import annotations

from functools import cache
from typing import Literal

from pydantic import Field

from pipelines.contracts.loader import ContractError, Strict, load

CapHoc = Literal["THCS", "THPT"]


# --- eras -------------------------------------------------------------------
class EraWhen(Strict):
    grade: int | None = None
    from_year: int


class EraRow(Strict):
    rule_set: str
    layout_family: Literal["tt58", "tt22"]
    when: EraWhen


class EraTable(Strict):
    kind: Literal["era_table"]
    version: int
    rows: tuple[EraRow, ...]


@cache
def eras() -> tuple[EraRow, ...]:
    table = load(EraTable, "rules/eras.yaml")
    known = set(rule_sets())
    for row in table.rows:
        if row.rule_set not in known:
            raise ContractError(f"rules/eras.yaml names unknown rule set {row.rule_set!r}")
    return table.rows


# --- subjects ---------------------------------------------------------------
class Subject(Strict):
    code: str
    name: str
    assessment: Literal["score", "comment"]


class SubjectCatalog(Strict):
    kind: Literal["subject_catalog"]
    version: int
    programmes: dict[str, dict[CapHoc, tuple[Subject, ...]]]


@cache
def _catalog() -> SubjectCatalog:
    return load(SubjectCatalog, "rules/subjects.yaml")


def subject_catalog(programme: str, cap_hoc: str) -> tuple[Subject, ...]:
    try:
        return _catalog().programmes[programme][cap_hoc]  # type: ignore[index]
    except KeyError as exc:
        raise ContractError(f"rules/subjects.yaml has no programme {programme!r} / {cap_hoc!r}") from exc


# --- rule sets --------------------------------------------------------------
class CountAtOrAbove(Strict):
    count: int
    score: float


class AcademicRule(Strict):
    level: str
    min_overall_average: float | None = None
    key_subjects: tuple[str, ...] = ()
    key_subject_min: float | None = None
    min_every_subject: float | None = None
    max_comment_fail: int | None = None
    min_count_at_or_above: CountAtOrAbove | None = None


class Adjustment(Strict):
    from_: str = Field(alias="from")  # "from" is a Python keyword
    to: str
    becomes: str


class ConductRow(Strict):
    hk2: str
    hk1_in: tuple[str, ...]
    result: str


class ConductYear(Strict):
    rule: Literal["same_as_hk2", "table"]
    rows: tuple[ConductRow, ...] = ()
    fallback: str | None = None


class Promotion(Strict):
    min_academic: str
    min_conduct: str
    max_absent_days: int


class RuleSet(Strict):
    title: str
    programme: str
    verified: bool
    academic_field: str
    conduct_field: str
    academic_vocabulary: str
    conduct_vocabulary: str
    has_overall_average: bool
    academic_rules: tuple[AcademicRule, ...]
    adjustments: tuple[Adjustment, ...] = ()
    conduct_year: ConductYear
    promotion: Promotion

    @property
    def academic_levels(self) -> list[str]:
        return [r.level for r in self.academic_rules]


class YearAverage(Strict):
    hk1_weight: int
    hk2_weight: int
    decimals: int
    rounding: Literal["half_up"]


class RuleSets(Strict):
    kind: Literal["rule_sets"]
    version: int
    year_average: YearAverage
    rule_sets: dict[str, RuleSet]


@cache
def _rule_sets_file() -> RuleSets:
    data = load(RuleSets, "rules/rule_sets.yaml")
    vocab = vocabularies()
    for name, rs in data.rule_sets.items():
        levels = [v.value for v in vocab[rs.academic_vocabulary].entries]
        if rs.academic_levels != levels:
            raise ContractError(
                f"rules/rule_sets.yaml: {name} levels {rs.academic_levels} differ from "
                f"vocabulary {rs.academic_vocabulary} {levels}"
            )
        if rs.academic_rules[-1].model_dump(exclude_defaults=True) != {"level": levels[-1]}:
            raise ContractError(f"rules/rule_sets.yaml: {name} last level must be an unconditional fallback")
    return data


def rule_sets() -> dict[str, RuleSet]:
    return _rule_sets_file().rule_sets


def year_average_spec() -> YearAverage:
    return _rule_sets_file().year_average


# --- vocabularies ------------------------------------------------------------
class VocabEntry(Strict):
    value: str
    variants: tuple[str, ...] = ()


class Vocabulary(Strict):
    name: str
    entries: tuple[VocabEntry, ...]

    @property
    def values(self) -> list[str]:
        return [e.value for e in self.entries]

    def rank(self, value: str) -> int:
        """0 for the best level; lower is better."""
        return self.values.index(value)


class Vocabularies(Strict):
    kind: Literal["vocabularies"]
    version: int
    vocabularies: dict[str, tuple[VocabEntry, ...]]


@cache
def vocabularies() -> dict[str, Vocabulary]:
    data = load(Vocabularies, "rules/vocabularies.yaml")
    return {k: Vocabulary(name=k, entries=v) for k, v in data.vocabularies.items()}


# --- provinces ---------------------------------------------------------------
class CenturyGender(Strict):
    century: int
    gender: Literal["male", "female"]


class ProvinceCodes(Strict):
    kind: Literal["province_codes"]
    version: int
    provinces: dict[str, str]
    century_gender_digit: dict[str, CenturyGender]
    sector_gender_codes: dict[str, str]


@cache
def provinces() -> ProvinceCodes:
    return load(ProvinceCodes, "rules/provinces.yaml")


# --- quarantine reasons ------------------------------------------------------
class Reason(Strict):
    level: Literal["file", "page"]
    message: str


class QuarantineReasons(Strict):
    kind: Literal["quarantine_reasons"]
    version: int
    reasons: dict[str, Reason]


@cache
def quarantine_reasons() -> dict[str, Reason]:
    return dict(load(QuarantineReasons, "ingest/quarantine_reasons.yaml").reasons)


# --- book-level checks (validate) ---------------------------------------------
class AgeForGrade(Strict):
    offset: int
    min_delta: int
    max_delta: int


class PromotionOutcomes(Strict):
    moves_up: tuple[str, ...]
    stays: tuple[str, ...]
    after_retest: tuple[str, ...] = ()


class BookChecks(Strict):
    kind: Literal["book_checks"]
    version: int
    age_for_grade: AgeForGrade
    promotion_outcomes: PromotionOutcomes
    gender_codes: dict[str, Literal["male", "female"]]


@cache
def book_checks() -> BookChecks:
    data = load(BookChecks, "rules/book_checks.yaml")
    src = "rules/book_checks.yaml"
    vocab = vocabularies()
    o = data.promotion_outcomes
    unknown = {*o.moves_up, *o.stays, *o.after_retest} - set(vocab["promotion"].values)
    if unknown:
        raise ContractError(f"{src}: promotion outcomes {sorted(unknown)} are not promotion vocabulary")
    if set(o.moves_up) & set(o.stays):
        raise ContractError(f"{src}: {sorted(set(o.moves_up) & set(o.stays))} both move up and stay")
    if set(data.gender_codes) != set(vocab["gender"].values):
        raise ContractError(f"{src}: gender_codes must map exactly the gender vocabulary")
    if data.age_for_grade.min_delta > data.age_for_grade.max_delta:
        raise ContractError(f"{src}: age_for_grade min_delta exceeds max_delta")
    return data
