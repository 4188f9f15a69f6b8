"""Data contracts: the YAML files under ``data_contracts/`` loaded into frozen models.

Everything the pipeline knows about tables, form templates and grading rules is
read from there; code never restates it. Loading is strict: an unknown key or a
missing one is a ``ContractError`` naming the file.
"""

from pipelines.contracts.fields import FieldId, FieldIdError
from pipelines.contracts.loader import CONTRACTS_DIR, ContractError
from pipelines.contracts.rules import (
    EraRow,
    ProvinceCodes,
    RuleSet,
    Subject,
    Vocabulary,
    eras,
    provinces,
    quarantine_reasons,
    rule_sets,
    subject_catalog,
    vocabularies,
)
from pipelines.contracts.tables import TableContract, arrow_schema, table_contract, table_contracts
from pipelines.contracts.templates import FieldSpec, FieldType, Template, field_types, template, templates

__all__ = [
    "CONTRACTS_DIR",
    "ContractError",
    "EraRow",
    "FieldId",
    "FieldIdError",
    "FieldSpec",
    "FieldType",
    "ProvinceCodes",
    "RuleSet",
    "Subject",
    "TableContract",
    "Template",
    "Vocabulary",
    "arrow_schema",
    "eras",
    "field_types",
    "provinces",
    "quarantine_reasons",
    "rule_sets",
    "subject_catalog",
    "table_contract",
    "table_contracts",
    "template",
    "templates",
    "vocabularies",
]

# Book-level cross-check settings (rules/book_checks.yaml), used by pipelines/validate/rules.py.
from pipelines.contracts.rules import BookChecks, book_checks

__all__ += ["BookChecks", "book_checks"]
