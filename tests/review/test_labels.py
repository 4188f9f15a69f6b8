"""Every code the pipeline emits has a label a person reads (data_contracts/labels/console.yaml,
data_contracts/ingest/quarantine_reasons.yaml).

The codes are collected from the code that emits them (string literals at the calls that set
them), so a new reason, rule or quarantine code without a label fails here, not in front of a
reviewer."""

from __future__ import annotations

import ast
import inspect
from types import ModuleType

import pytest

from pipelines.contracts import field_types, quarantine_reasons
from pipelines.contracts.labels import ConsoleLabels, console_labels, year_average_formula
from pipelines.contracts.loader import ContractError
from pipelines.contracts.rules import YearAverage
from pipelines.ingest import batch as ingest_batch
from pipelines.ingest import books as ingest_books
from pipelines.ocr import batch as ocr_batch
from pipelines.review.labels import expected_vi, field_type_hint, field_type_label, reason_label
from pipelines.validate import decide, normalize, roster, rules


def _literals(module: ModuleType, call: str, position: int) -> set[str]:
    """String literals passed as positional argument ``position`` to calls of ``call`` in ``module``."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if not isinstance(node, ast.Call) or len(node.args) <= position:
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
        arg = node.args[position]
        if name == call and isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            out.add(arg.value)
    return out


def _appended_reasons() -> set[str]:
    """Literal codes decide() appends to a field's reasons."""
    return _literals(decide, "append", 0) - {""}


def _page_statuses() -> set[str]:
    """The page statuses ocr_page sets (``status = "…" if … else (…)``), but "ok"."""
    tree = ast.parse(inspect.getsource(ocr_batch.ocr_page))
    found = {n.value for a in ast.walk(tree) if isinstance(a, ast.Assign)
             and any(isinstance(t, ast.Name) and t.id == "status" for t in a.targets)
             for n in ast.walk(a.value) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    return found - {"ok"}


def test_the_collectors_find_the_codes():
    """The collectors below are only as good as what they find: each finds the known codes."""
    assert {"low_confidence", "repaired", "page_unreliable"} <= _appended_reasons()
    assert _page_statuses() == {"unknown_layout", "alignment_failed"}
    assert {"empty", "format_invalid", "out_of_range"} <= _literals(normalize, "_fail", 0)
    assert {"year_average", "promotion"} <= _literals(rules, "RuleFailure", 0)
    assert {"unmatched", "ambiguous", "matched_with_differences"} <= _literals(roster, "Match", 1)
    assert {"missing_file", "missing_page"} <= (_literals(ingest_batch, "_quarantine", 1)
                                                | _literals(ingest_batch, "_page_q_row", 2))


def test_every_reason_code_of_validate_has_a_label():
    codes = (_appended_reasons() | _page_statuses() | _literals(normalize, "_fail", 0)
             | {f"rule:{r}" for r in _literals(rules, "RuleFailure", 0)}
             | {f"roster_{o}" for o in _literals(roster, "Match", 1) - {"matched"}})
    unlabelled = sorted(c for c in codes if reason_label(c) == c)
    assert not unlabelled


def test_every_rule_label_is_for_a_rule_that_exists():
    assert set(console_labels().rules) == _literals(rules, "RuleFailure", 0)


def test_every_quarantine_code_has_a_message():
    codes = (_literals(ingest_batch, "_quarantine", 1) | _literals(ingest_batch, "_page_q_row", 2)
             | {t.elts[0].value for t in ast.walk(ast.parse(inspect.getsource(ingest_books)))
                if isinstance(t, ast.Tuple) and t.elts and isinstance(t.elts[0], ast.Constant)
                and t.elts[0].value in quarantine_reasons()})
    assert {"book_ref_taken", "bad_replaces"} <= codes
    assert codes <= set(quarantine_reasons())
    assert all(r.message for r in quarantine_reasons().values())


def test_every_field_type_has_a_label_and_says_what_it_takes():
    for ft, spec in field_types().items():
        assert field_type_label(ft) != ft
        hint = field_type_hint(ft, spec.vocabulary)
        assert hint and hint != "một giá trị hợp lệ", ft
    assert field_type_hint("no_such_type", None) == "" and field_type_label("no_such_type") == "no_such_type"


def test_hints_and_refusals_say_the_same():
    """The hint under the input is the text a refused value's message names (one place)."""
    assert field_type_hint("score", None) == expected_vi("score", None)
    assert expected_vi("comment", None) == "một trong các giá trị: Đ, CĐ"


def test_the_year_average_label_is_written_from_the_rule_s_weights():
    assert reason_label("rule:year_average") == "Cả năm ≠ (HK I + 2·HK II)/3"
    assert year_average_formula(YearAverage(hk1_weight=1, hk2_weight=1, decimals=1,
                                            rounding="half_up")) == "(HK I + HK II)/2"


def test_a_rule_label_naming_an_unknown_placeholder_is_refused(monkeypatch):
    from pipelines.contracts import labels as contract_labels

    real = contract_labels.load

    def load(model, relpath):
        data = real(model, relpath)
        if model is ConsoleLabels:
            return data.model_copy(update={"rules": {**data.rules, "year_average": "Cả năm ≠ {average}"}})
        return data

    monkeypatch.setattr(contract_labels, "load", load)
    console_labels.cache_clear()
    try:
        with pytest.raises(ContractError, match="unknown placeholders"):
            console_labels()
    finally:
        console_labels.cache_clear()
