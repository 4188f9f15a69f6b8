"""The console's Vietnamese labels (``labels/console.yaml``): reason codes, rule ids, fields, field types.

Loaded strictly like every contract; the year-average rule's formula is written from the weights
in ``rules/rule_sets.yaml`` so the label cannot drift from the rule, and the field types must be
exactly those of ``templates/field_types.yaml``.
"""

from __future__ import annotations

import string
from functools import cache
from typing import Literal

from pipelines.contracts.loader import ContractError, Strict, load
from pipelines.contracts.rules import YearAverage, year_average_spec
from pipelines.contracts.templates import field_types

SOURCE = "labels/console.yaml"


class Problem(Strict):
    label: str
    """Short, in the list of a flagged field's reasons."""
    message: str
    """The start of the sentence refusing a value a reviewer typed."""


class FieldTypeLabel(Strict):
    label: str
    """The type's name ("Điểm")."""
    expects: str | None = None
    """What a value looks like, shown under the input and in refusals; None: the type's
    vocabulary lists the values."""


class ConsoleLabels(Strict):
    kind: Literal["console_labels"]
    version: int
    reasons: dict[str, str]
    """Reason codes of field_decisions other than normalizer errors, rules and roster outcomes."""
    problems: dict[str, Problem]
    """Normalizer error codes (also reason codes)."""
    rules: dict[str, str]
    """Rule id → label of the reason ``rule:<id>``, placeholders filled (``{year_average}``)."""
    roster_outcomes: dict[str, str]
    """Roster outcome → label of the reason ``roster_<outcome>``."""
    field_types: dict[str, FieldTypeLabel]
    fields: dict[str, str]
    """Scalar field ids of the templates."""
    tables: dict[str, str]
    statuses: dict[str, str]
    roles: dict[str, str]


def year_average_formula(spec: YearAverage) -> str:
    """The whole-year average as printed for people: weights 1 and 2 → "(HK I + 2·HK II)/3"."""

    def term(weight: int, name: str) -> str:
        return name if weight == 1 else f"{weight}·{name}"

    total = spec.hk1_weight + spec.hk2_weight
    return f"({term(spec.hk1_weight, 'HK I')} + {term(spec.hk2_weight, 'HK II')})/{total}"


@cache
def console_labels() -> ConsoleLabels:
    data = load(ConsoleLabels, SOURCE)
    known, labelled = set(field_types()), set(data.field_types)
    if known != labelled:
        raise ContractError(f"{SOURCE}: field_types must label exactly templates/field_types.yaml's types; "
                            f"missing {sorted(known - labelled)}, unknown {sorted(labelled - known)}")
    values = {"year_average": year_average_formula(year_average_spec())}
    rules = {}
    for rule_id, text in data.rules.items():
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
        if unknown := names - set(values):
            raise ContractError(f"{SOURCE}: rules.{rule_id} names unknown placeholders {sorted(unknown)}")
        rules[rule_id] = text.format(**values)
    return data.model_copy(update={"rules": rules})
