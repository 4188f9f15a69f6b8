"""Accept or flag each field, with machine-readable reasons; thresholds from a calibration table.

A field is auto-accepted only when nothing speaks against it: its reading is
confident enough for its type (threshold calibrated so that accepted fields meet
``target_error_rate``), it normalized without error, no rule check implicates it,
and, for identity fields, the book matched the roster cleanly.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from functools import cache
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
def calibration_table(joined: pd.DataFrame) -> pd.DataFrame:
    """Per field type and confidence bin (lower edge, 0.01 wide): fields and errors.

    ``joined`` has ``field_type``, ``confidence`` and ``correct`` (normalized value
    equals the truth's), for fields with a true value.
    """
    j = joined.assign(conf_bin=(joined["confidence"].clip(0, 1) * 100).astype(int).clip(upper=99) / 100,
                      error=~joined["correct"].astype(bool))
    t = j.groupby(["field_type", "conf_bin"]).agg(fields=("error", "size"), errors=("error", "sum"))
    return t.reset_index().astype({"fields": int, "errors": int})


def _threshold(g: pd.DataFrame, target: float) -> float:
    """The lowest bin edge whose fields at or above it have a smoothed error rate
    (errors + 1) / (fields + 1) within ``target``; ``ABOVE_ANY`` when none does."""
    g = g.groupby("conf_bin")[["fields", "errors"]].sum().sort_index(ascending=False)
    ok = ((g["errors"].cumsum() + 1) / (g["fields"].cumsum() + 1) <= target).to_numpy()
    return float(g.index[ok].min()) if ok.any() else ABOVE_ANY


def thresholds(table: pd.DataFrame, target: float, floor: float,
               pools: Mapping[str, Iterable[str]] | None = None) -> dict[str, float]:
    """Per type, the calibrated threshold (at least ``floor``); a type its own fields cannot
    vouch for borrows its pool's, if its own fields at or above it meet ``target`` unsmoothed."""
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
def calibrated_thresholds() -> dict[str, float]:
    rules = decision_rules()
    path = CONTRACTS_DIR / rules.calibration
    if not path.exists():  # no calibration yet: trust nothing
        return {}
    return thresholds(pd.read_csv(path), rules.target_error_rate, rules.min_threshold,
                      rules.calibration_pools)


# --- decisions ---------------------------------------------------------------------
def decide(
    records: pd.DataFrame,
    typed: Mapping[tuple[str, str], Normalized],
    failures: Iterable[RuleFailure],
    matches: Mapping[str, Match],
    page_status: Mapping[str, str],
    checks: Mapping[tuple[str, str], str] | None = None,
    thresholds_by_type: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Rows of ``field_decisions`` for every normalized field."""
    rules = decision_rules()
    limits = calibrated_thresholds() if thresholds_by_type is None else thresholds_by_type
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
        threshold = float(limits.get(r.field_type, ABOVE_ANY))
        empty_box = n.error == "empty" and r.confidence >= 1.0  # nothing written, nothing read
        if n.error and not empty_box and status == "ok":
            reasons.append(n.error)
        if not empty_box and r.confidence < threshold:
            reasons.append("low_confidence")
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
            "field_id": r.field_id, "field_type": r.field_type, "value": n.value,
            "confidence": float(r.confidence), "threshold": threshold,
            "decision": "flag" if reasons else "accept", "reasons": list(dict.fromkeys(reasons)),
        })
    return pd.DataFrame(rows)
