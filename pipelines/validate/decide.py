"""Accept or flag each field, with machine-readable reasons; thresholds from a calibration table.

A field is auto-accepted only when nothing speaks against it: its reading is
confident enough for its type and writing style (threshold calibrated per (field
type, style) so that accepted fields meet ``target_error_rate``; a pair without its
own calibration is trusted at no confidence), it normalized without error, no rule
check implicates it, row decoding found its score row readable only one way, and,
for identity fields, the book matched the roster cleanly.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import Field, model_validator

from pipelines.contracts import CONTRACTS_DIR
from pipelines.contracts.fields import SCORES, TERMS, FieldId
from pipelines.contracts.loader import Strict, load
from pipelines.validate.normalize import Normalized
from pipelines.validate.roster import Match
from pipelines.validate.rules import RuleFailure

ABOVE_ANY = 1.01
"""Threshold of a type the calibration cannot vouch for at the target: nothing passes."""

PRINT = "print"
"""``field_readings.style`` of printed entries. A calibration table without a ``style`` column
was measured on Tesseract's readings of print: its rows are this style's."""
EMPTY_STYLE = ""
"""The style of an empty box or a page read whole: no writing to classify. Such a reading is
decided as before styles existed, on the print calibration unless it has its own."""

FieldRef = tuple[str, str]  # (page_id, field_id)
TrustKey = tuple[str, str]  # (field_type, style)


class DecisionRules(Strict):
    kind: Literal["decisions"]
    version: int
    target_error_rate: float
    calibration: str
    min_threshold: float
    flag_repaired: bool
    identity_fields: tuple[str, ...]
    """The identity page's fields that name the student: flagged unless the roster matched cleanly,
    and a reviewer's change to one matches the book again (``review.accepted``)."""
    second_entry_fields: tuple[str, ...]
    """The identity fields that need two agreeing entries by two people when
    ``HOCBA_REVIEW_SECOND_IDENTITY`` is on; a subset of ``identity_fields`` (not gender: an entry
    must be one of its two vocabulary words)."""
    calibration_pools: dict[str, tuple[str, ...]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _second_entry_within_identity(self) -> DecisionRules:
        extra = sorted(set(self.second_entry_fields) - set(self.identity_fields))
        if extra:
            raise ValueError(f"second_entry_fields {extra} are not identity_fields")
        return self


@cache
def decision_rules() -> DecisionRules:
    return load(DecisionRules, "rules/decisions.yaml")


# --- calibration -------------------------------------------------------------------
def _styles(df: pd.DataFrame) -> pd.Series:
    """``df``'s ``style`` column ('' for missing), or ``PRINT`` throughout when it has none."""
    if "style" not in df.columns:
        return pd.Series(PRINT, index=df.index, dtype=object)
    return df["style"].map(lambda s: s if isinstance(s, str) else EMPTY_STYLE)


def calibration_table(joined: pd.DataFrame) -> pd.DataFrame:
    """Per field type, writing style and confidence bin (lower edge, 0.01 wide): fields and errors.

    ``joined`` has ``field_type``, ``confidence``, ``correct`` (normalized value equals the
    truth's) and ``style`` (the reading's, as decide sees it; ``PRINT`` when absent), for fields
    with a true value. ``confidence`` should be the one decide compares (``field_decisions``,
    after row decoding).
    """
    j = joined.assign(style=_styles(joined),
                      conf_bin=(joined["confidence"].clip(0, 1) * 100).astype(int).clip(upper=99) / 100,
                      error=~joined["correct"].astype(bool))
    t = j.groupby(["field_type", "style", "conf_bin"]).agg(fields=("error", "size"), errors=("error", "sum"))
    return t.reset_index().astype({"fields": int, "errors": int})


def _threshold(g: pd.DataFrame, target: float) -> float:
    """The lowest bin edge whose fields at or above it have a smoothed error rate
    (errors + 1) / (fields + 1) within ``target``; ``ABOVE_ANY`` when none does."""
    g = g.groupby("conf_bin")[["fields", "errors"]].sum().sort_index(ascending=False)
    ok = ((g["errors"].cumsum() + 1) / (g["fields"].cumsum() + 1) <= target).to_numpy()
    return float(g.index[ok].min()) if ok.any() else ABOVE_ANY


def thresholds(table: pd.DataFrame, target: float, floor: float,
               pools: Mapping[str, Iterable[str]] | None = None) -> dict[TrustKey, float]:
    """Per (field type, style), the calibrated threshold (at least ``floor``); a type its own
    fields of a style cannot vouch for borrows its pool's of the same style, if its own fields at
    or above it meet ``target`` unsmoothed. A table without ``style`` is all ``PRINT``. A pair
    the table does not hold is absent: ``threshold_for`` gives it ``ABOVE_ANY``."""
    table = table.assign(style=_styles(table))
    return {(t, str(s)): v for s, g in table.groupby("style", sort=True)
            for t, v in _type_thresholds(g, target, floor, pools).items()}


def _type_thresholds(table: pd.DataFrame, target: float, floor: float,
                     pools: Mapping[str, Iterable[str]] | None) -> dict[str, float]:
    """``thresholds`` of one style's rows, per type."""
    out = {str(t): _threshold(g, target) for t, g in table.groupby("field_type")}
    for members in (pools or {}).values():
        members = [m for m in members if m in out]
        pooled = _threshold(table[table["field_type"].isin(members)], target)
        if pooled == ABOVE_ANY:
            continue
        for m in members:
            if out[m] != ABOVE_ANY:
                continue
            own = table[(table["field_type"] == m) & (table["conf_bin"] >= pooled)]
            wrong = own[own["errors"] > 0]["conf_bin"]
            if own["errors"].sum() <= target * own["fields"].sum():
                out[m] = pooled
            elif (own["conf_bin"] > wrong.max()).any():  # above its own last error bin
                out[m] = float(own.loc[own["conf_bin"] > wrong.max(), "conf_bin"].min())
    return {t: (max(v, floor) if v != ABOVE_ANY else ABOVE_ANY) for t, v in out.items()}


@cache
def calibrated_thresholds() -> dict[TrustKey, float]:
    """``thresholds`` of the calibration table ``decisions.yaml`` names, by (field type, style)."""
    rules = decision_rules()
    path = CONTRACTS_DIR / rules.calibration
    if not path.exists():  # no calibration yet: trust nothing
        return {}
    return thresholds(read_calibration(path), rules.target_error_rate, rules.min_threshold,
                      rules.calibration_pools)


def read_calibration(path: Path) -> pd.DataFrame:
    """A calibration table CSV (``calibration_table``'s columns). One written before styles
    has no ``style`` column: ``thresholds`` takes its rows as ``PRINT``."""
    return pd.read_csv(path, keep_default_na=False)  # style '' (empty boxes) stays ''


def _by_pair(limits: Mapping[str, float] | Mapping[TrustKey, float]) -> dict[TrustKey, float]:
    """Thresholds by (type, style); a plain type key (as before styles) is the type's ``PRINT``."""
    return {(k, PRINT) if isinstance(k, str) else (str(k[0]), str(k[1])): float(v)
            for k, v in limits.items()}


def threshold_for(limits: Mapping[TrustKey, float], field_type: str, style: str | None) -> float:
    """The threshold of a reading of ``field_type`` in ``style``. A pair without its own
    calibration gets ``ABOVE_ANY`` (flag: a recognizer's confidence on a style it was not
    calibrated on vouches for nothing), except the empty style (an empty box, a page read
    whole), which is decided as before styles existed: on the ``PRINT`` calibration."""
    style = style if isinstance(style, str) else EMPTY_STYLE
    if (field_type, style) in limits:
        return float(limits[(field_type, style)])
    if style == EMPTY_STYLE:
        return float(limits.get((field_type, PRINT), ABOVE_ANY))
    return ABOVE_ANY


# --- decisions ---------------------------------------------------------------------
def decide(
    records: pd.DataFrame,
    typed: Mapping[tuple[str, str], Normalized],
    failures: Iterable[RuleFailure],
    matches: Mapping[str, Match],
    page_status: Mapping[str, str],
    checks: Mapping[tuple[str, str], str] | None = None,
    thresholds_by_type: Mapping[TrustKey, float] | Mapping[str, float] | None = None,
    styles: Mapping[FieldRef, str] | None = None,
    row_ambiguous: Collection[FieldRef] = (),
) -> pd.DataFrame:
    """Rows of ``field_decisions`` for every normalized field.

    ``thresholds_by_type``: by (field type, style) (``calibrated_thresholds()`` when None; a
    plain type key stands for its ``PRINT`` style). ``styles``: each reading's
    ``field_readings.style`` ('' when absent). ``row_ambiguous``: the fields row decoding
    found readable two ways (``rowdecode.RowDecoding.ambiguous``)."""
    rules = decision_rules()
    limits = _by_pair(calibrated_thresholds() if thresholds_by_type is None else thresholds_by_type)
    styles = styles or {}
    ambiguous = set(row_ambiguous)
    by_field: dict[tuple[str, str], list[str]] = defaultdict(list)
    evaluated_scores: set[tuple[str, str]] = set()
    for f in failures:
        for key in f.fields:
            by_field[key].append(f"rule:{f.rule_id}")
    # A repaired score is corroborated when its subject's HK I, HK II and Cả năm are all
    # read and the year-average check does not implicate it.
    have = {(p, fid) for (p, fid), n in typed.items() if n.value is not None}
    for p, fid in have:
        f = FieldId.try_parse(fid)
        if f is not None and f.table == SCORES and f.term is not None:
            trio = [(p, str(f.with_column(k))) for k in TERMS]
            if all(t in have for t in trio):
                evaluated_scores.add((p, fid))
    rows = []
    for r in records.itertuples(index=False):
        key = (r.page_id, r.field_id)
        n = typed[key]
        reasons: list[str] = []
        status = page_status.get(r.page_id, "ok")
        if status != "ok":
            reasons.append(status)
        style = styles.get(key, EMPTY_STYLE)
        style = style if isinstance(style, str) else EMPTY_STYLE
        threshold = threshold_for(limits, r.field_type, style)
        empty_box = n.error == "empty" and r.confidence >= 1.0  # nothing written, nothing read
        if n.error and not empty_box and status == "ok":
            reasons.append(n.error)
        if not empty_box and r.confidence < threshold:
            reasons.append("low_confidence")
        if key in ambiguous:
            reasons.append("row_ambiguous")
        if n.repaired and rules.flag_repaired and (
                key not in evaluated_scores or any(x.startswith("rule:") for x in by_field.get(key, []))):
            reasons.append("repaired")
        if checks and "page_unreliable" in (checks.get(key) or ""):
            reasons.append("page_unreliable")
        reasons.extend(by_field.get(key, []))
        m = matches.get(r.book_ref)
        if r.field_id in rules.identity_fields and (m is None or m.outcome != "matched"):
            reasons.append(f"roster_{m.outcome if m else 'unmatched'}")
        rows.append({
            "batch_id": r.batch_id, "book_ref": r.book_ref, "page_id": r.page_id,
            "field_id": r.field_id, "field_type": r.field_type, "style": style, "value": n.value,
            "confidence": float(r.confidence), "threshold": threshold,
            "decision": "flag" if reasons else "accept", "reasons": list(dict.fromkeys(reasons)),
        })
    return pd.DataFrame(rows)
