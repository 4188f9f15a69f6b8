"""Threshold calibration and the accept/flag decision with its reasons."""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines.contracts.loader import ContractError, parse
from pipelines.validate.decide import (
    ABOVE_ANY,
    DecisionRules,
    calibration_table,
    decide,
    decision_rules,
    read_calibration,
    threshold_for,
    thresholds,
)
from pipelines.validate.normalize import normalize_field
from pipelines.validate.roster import Match
from pipelines.validate.rules import RuleFailure


def test_threshold_is_the_lowest_bin_meeting_the_target():
    # 3000 right fields at 0.99, 1000 at 0.95 with 1 wrong, 100 at 0.5 with 40 wrong.
    rows = ([("score", 0.995, True)] * 3000 + [("score", 0.955, True)] * 999 + [("score", 0.955, False)]
            + [("score", 0.5, True)] * 60 + [("score", 0.5, False)] * 40 + [("name", 0.99, True)] * 50)
    j = pd.DataFrame(rows, columns=["field_type", "confidence", "correct"])
    table = calibration_table(j)
    assert set(table.columns) == {"field_type", "style", "conf_bin", "fields", "errors"}
    assert set(table["style"]) == {"print"}  # no style column: Tesseract's print
    t = thresholds(table, target=0.001, floor=0.5)
    assert t[("score", "print")] == 0.95  # (1+1)/(4000+1) = 0.0005 holds; adding the 0.5 bin does not
    assert t[("name", "print")] == ABOVE_ANY  # 50 fields cannot vouch for 1 in 1000
    assert thresholds(table, target=0.05, floor=0.5)[("name", "print")] == 0.99


def test_a_small_type_borrows_its_pools_threshold_but_not_past_its_own_errors():
    rows = ([("score", 0.995, True)] * 3000 + [("score", 0.905, True)] * 1000
            + [("date", 0.995, True)] * 80 + [("date", 0.925, True)] * 20
            + [("integer", 0.995, True)] * 60 + [("integer", 0.955, False)] + [("integer", 0.915, True)] * 9
            + [("name", 0.995, True)] * 100)
    table = calibration_table(pd.DataFrame(rows, columns=["field_type", "confidence", "correct"]))
    alone = {t: v for (t, _), v in thresholds(table, target=0.001, floor=0.5).items()}
    assert alone["date"] == alone["integer"] == ABOVE_ANY  # 100 and 70 fields: too few alone
    t = {t: v for (t, _), v in thresholds(table, target=0.001, floor=0.5,
                                          pools={"digits": ["score", "date", "integer"]}).items()}
    assert t["score"] == 0.9 and t["date"] == 0.9  # the pool's 4170 fields vouch at 0.90
    assert t["integer"] == 0.99  # its own error at 0.95 keeps it above that bin
    assert t["name"] == ABOVE_ANY  # not in a pool


def _records(rows):
    return pd.DataFrame([{"batch_id": "b", "book_ref": "B1", "page_id": p, "field_id": f, "field_type": t,
                          "confidence": c} for p, f, t, c in rows])


def test_reasons():
    rows = [("p1", "scores.toan.hk1", "score", 0.99), ("p1", "scores.toan.hk2", "score", 0.99),
            ("p1", "scores.toan.ca_nam", "score", 0.99), ("p1", "absences", "integer", 0.4),
            ("p1", "award", "free_text", 1.0), ("p0", "full_name", "name", 0.99),
            ("p1", "results.ca_nam.hoc_luc", "grade_enum", 0.99)]
    typed = {("p1", "scores.toan.hk1"): normalize_field("score", "6,0"),
             ("p1", "scores.toan.hk2"): normalize_field("score", "80"),  # repaired to 8,0
             ("p1", "scores.toan.ca_nam"): normalize_field("score", "9,9"),
             ("p1", "absences"): normalize_field("integer", "3"),
             ("p1", "award"): normalize_field("free_text", ""),
             ("p0", "full_name"): normalize_field("name", "Mai Kim Mai"),
             ("p1", "results.ca_nam.hoc_luc"): normalize_field("grade_enum", "Giỏi", "hoc_luc")}
    fail = RuleFailure("year_average", (("p1", "scores.toan.hk1"), ("p1", "scores.toan.hk2"),
                                        ("p1", "scores.toan.ca_nam")), "…")
    d = decide(_records(rows), typed, [fail], {"B1": Match("B1", "matched_with_differences", "0" * 12)},
               {"p0": "ok", "p1": "ok"}, thresholds_by_type={"score": 0.9, "integer": 0.9, "free_text": 0.9,
                                                              "name": 0.9, "grade_enum": 0.9})
    r = dict(zip(d["field_id"], d["reasons"], strict=True))
    assert r["scores.toan.hk1"] == ["rule:year_average"]
    assert r["scores.toan.hk2"] == ["repaired", "rule:year_average"]  # the failed rule does not corroborate
    assert r["absences"] == ["low_confidence"]
    assert r["award"] == []  # an empty box, nothing read: accepted as empty
    assert r["full_name"] == ["roster_matched_with_differences"]
    assert (d["decision"] == "flag").sum() == 5 and set(d.loc[d["decision"] == "accept", "field_id"]) == {
        "award", "results.ca_nam.hoc_luc"}


def test_a_repaired_score_corroborated_by_the_year_average_is_accepted():
    rows = [("p1", f"scores.toan.{k}", "score", 0.99) for k in ("hk1", "hk2", "ca_nam")]
    typed = {("p1", "scores.toan.hk1"): normalize_field("score", "6,0"),
             ("p1", "scores.toan.hk2"): normalize_field("score", "75"),
             ("p1", "scores.toan.ca_nam"): normalize_field("score", "7,0")}
    d = decide(_records(rows), typed, [], {}, {"p1": "ok"}, thresholds_by_type={"score": 0.9})
    assert (d["decision"] == "accept").all(), d


def test_identity_fields_are_listed_once_in_the_contract_and_second_entry_is_a_subset():
    rules = decision_rules()
    assert set(rules.identity_fields) == {"full_name", "birth_date", "gender", "identifier"}
    # Gender is picked from a two-word vocabulary: it needs no second entry (as documented).
    assert set(rules.second_entry_fields) == set(rules.identity_fields) - {"gender"}
    data = rules.model_dump() | {"second_entry_fields": ["full_name", "address"]}
    with pytest.raises(ContractError, match=r"\['address'\] are not identity_fields"):
        parse(DecisionRules, data, source="decisions.yaml")


# --- trust by (field type, writing style) -------------------------------------------------
def _styled(rows):
    return pd.DataFrame(rows, columns=["field_type", "style", "confidence", "correct"])


def test_calibration_and_thresholds_are_per_type_and_style():
    rows = ([("score", "print", 0.995, True)] * 3000 + [("score", "hand", 0.995, True)] * 2500
            + [("score", "hand", 0.975, False)] * 5 + [("score", "hand", 0.985, True)] * 500)
    table = calibration_table(_styled(rows))
    assert list(table.columns) == ["field_type", "style", "conf_bin", "fields", "errors"]
    t = thresholds(table, target=0.001, floor=0.5)
    assert t == {("score", "hand"): 0.98, ("score", "print"): 0.99}
    # A pool lends within a style only: no hand dates were calibrated, print ones borrow.
    rows += [("date", "print", 0.995, True)] * 50
    t = thresholds(calibration_table(_styled(rows)), target=0.001, floor=0.5,
                   pools={"digits": ["score", "date"]})
    assert t[("date", "print")] == 0.99 and ("date", "hand") not in t


def test_a_pair_without_calibration_trusts_nothing_but_empty_boxes_decide_as_before():
    limits = {("score", "print"): 0.9, ("score", ""): 0.95}
    assert threshold_for(limits, "score", "print") == 0.9
    assert threshold_for(limits, "score", "hand") == ABOVE_ANY  # flag: not calibrated on handwriting
    assert threshold_for(limits, "name", "print") == ABOVE_ANY
    assert threshold_for(limits, "score", "") == 0.95  # its own calibration when it has one
    assert threshold_for({("date", "print"): 0.9}, "date", "") == 0.9  # else the print one, as before
    assert threshold_for({("date", "print"): 0.9}, "date", None) == 0.9


def test_an_old_calibration_csv_without_style_is_print(tmp_path):
    old = tmp_path / "old.csv"
    pd.DataFrame({"field_type": ["score", "score"], "conf_bin": [0.99, 0.5], "fields": [3000, 10],
                  "errors": [0, 5]}).to_csv(old, index=False)
    assert thresholds(read_calibration(old), target=0.001, floor=0.5) == {("score", "print"): 0.99}
    new = tmp_path / "new.csv"
    rows = [("score", "", 0.995, True)] * 2000 + [("score", "print", 0.995, True)] * 2000
    calibration_table(_styled(rows)).to_csv(new, index=False)
    t = thresholds(read_calibration(new), target=0.001, floor=0.5)
    assert t == {("score", ""): 0.99, ("score", "print"): 0.99}  # '' is read back as '', not NaN


def test_decide_uses_each_readings_style_and_writes_it():
    rows = [("p1", "scores.toan.hk1", "score", 0.97), ("p1", "scores.toan.hk2", "score", 0.97),
            ("p1", "absences", "integer", 1.0), ("p1", "corrections", "integer", 0.97)]
    typed = {("p1", "scores.toan.hk1"): normalize_field("score", "6,0"),
             ("p1", "scores.toan.hk2"): normalize_field("score", "7,0"),
             ("p1", "absences"): normalize_field("integer", ""),
             ("p1", "corrections"): normalize_field("integer", "0")}
    styles = {("p1", "scores.toan.hk1"): "print", ("p1", "scores.toan.hk2"): "hand",
              ("p1", "absences"): "", ("p1", "corrections"): ""}
    d = decide(_records(rows), typed, [], {}, {"p1": "ok"},
               thresholds_by_type={("score", "print"): 0.9, ("integer", "print"): 0.9},
               styles=styles, row_ambiguous={("p1", "scores.toan.hk1")}).set_index("field_id")
    assert d.loc["scores.toan.hk1", "reasons"] == ["row_ambiguous"]
    assert d.loc["scores.toan.hk2", "reasons"] == ["low_confidence"]  # no (score, hand) calibration
    assert d.loc["scores.toan.hk2", "threshold"] == ABOVE_ANY
    assert d.loc["absences", "reasons"] == []  # an empty box, nothing read: as before
    assert d.loc["corrections", "reasons"] == []  # '' style (page read whole): the print threshold
    assert list(d["style"]) == ["print", "hand", "", ""]
