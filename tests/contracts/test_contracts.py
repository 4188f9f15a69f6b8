"""Every file under data_contracts/ loads with the strict loader and is consistent."""

from __future__ import annotations

import re

import pyarrow as pa
import pytest

from pipelines import contracts as c
from pipelines.contracts.loader import CONTRACTS_DIR, ContractError, Strict, parse

DESIGN_TABLES = {
    "scan_manifest", "file_quarantine", "page_quarantine", "page_images", "page_layouts",
    "field_readings", "normalized_records", "roster_matches", "field_decisions",
    "accepted_records", "issued_records", "coverage", "coverage_schools", "coverage_backlog", "roster",
    "review_queue",
}


def test_every_yaml_file_is_loaded_by_some_loader():
    loaded = {p.relative_to(CONTRACTS_DIR).as_posix() for p in CONTRACTS_DIR.rglob("*.yaml")}
    tables = {f"tables/{n}.yaml" for n in c.table_contracts()}
    templates = {f"templates/{n}.yaml" for n in c.templates()} | {"templates/field_types.yaml"}
    rules = {f"rules/{n}.yaml" for n in ("eras", "provinces", "rule_sets", "subjects",
                                         "vocabularies", "book_checks", "roster_matching", "decisions")}
    ingest = {"ingest/manifest.yaml", "ingest/quarantine_reasons.yaml"}
    labels = {"labels/console.yaml"}
    c.eras(), c.provinces(), c.rule_sets(), c.vocabularies(), c.field_types()
    c.quarantine_reasons()
    from pipelines.contracts.labels import console_labels

    console_labels()
    from pipelines.validate.decide import decision_rules
    from pipelines.validate.roster import matching_rules

    decision_rules(), matching_rules(), c.book_checks()
    assert loaded == tables | templates | rules | ingest | labels


def test_tables_cover_design_and_build_arrow_schemas():
    assert set(c.table_contracts()) == DESIGN_TABLES
    for name in DESIGN_TABLES:
        schema = c.arrow_schema(name)
        assert isinstance(schema, pa.Schema)
        assert all(f.metadata and f.metadata[b"doc"] for f in schema)


def test_templates_required_by_issue_exist_with_full_grids():
    t = c.templates()
    assert {"identity", "year_thcs_tt58", "year_thpt_tt58", "year_thcs_tt22",
            "year_thpt_tt22"} <= set(t)
    thcs = t["year_thcs_tt58"]
    subjects = [s.code for s in c.subject_catalog("2006", "THCS")]
    for code in subjects:
        for col in ("hk1", "hk2", "ca_nam"):
            assert thcs.field(f"scores.{code}.{col}")
    # comment-assessed subjects read as Đ/CĐ, scored ones as scores
    assert thcs.field("scores.the_duc.hk1").type == "comment"
    assert thcs.field("scores.toan.ca_nam").type == "score"
    assert thcs.field("scores.dtb.ca_nam").type == "score"
    assert "scores.dtb.ca_nam" not in {f.field_id for f in t["year_thcs_tt22"].field_specs()}
    assert t["identity"].field("identifier").type == "identifier"


def test_every_era_points_to_an_existing_layout_for_both_cap_hoc():
    from pipelines.domain.grading import era_for

    for year in range(2000, 2027):
        for grade in range(6, 13):
            era = era_for(year, grade)
            cap = "thcs" if grade <= 9 else "thpt"
            assert f"year_{cap}_{era.layout_family}" in c.templates()


def test_strict_loader_rejects_unknown_and_missing_keys():
    class Small(Strict):
        a: int

    with pytest.raises(ContractError, match=r"x.yaml.*b: Extra inputs are not permitted"):
        parse(Small, {"a": 1, "b": 2}, source="x.yaml")
    with pytest.raises(ContractError, match=r"x.yaml.*a: Field required"):
        parse(Small, {}, source="x.yaml")


def test_every_field_type_declares_an_entry_policy():
    """What a reviewer may type (issue 14): a bounded length and the characters of the type."""
    types = c.field_types()
    for name, ft in types.items():
        assert 0 < ft.entry.max_length <= 1000, name
        assert ft.entry.allow, name
    assert types["score"].entry.refusal("8,5") is None and types["score"].entry.refusal("8 , 5") is None
    assert types["score"].entry.refusal("8,5đ") == "character_not_allowed"
    assert types["name"].entry.refusal("Nguyễn Thị H'Hen Niê-Ksor") is None
    assert types["name"].entry.refusal("Nguyễn 2") == "character_not_allowed"
    assert types["class_name"].entry.refusal("10A2/1") is None
    assert types["free_text"].entry.refusal("a" * 1000) is None
    assert types["free_text"].entry.refusal("a" * 1001) == "too_long"
    for bad in ("\x00", "\u202e", "\u2066", "\ufeff", "\u200d", "\ud800", "\ue000", "\u2028", "\x85"):
        assert types["free_text"].entry.refusal(f"Hà{bad}Nội") == "invisible_character", ascii(bad)
    assert types["free_text"].entry.refusal("Ha\u0323\u0302\u0301") is None  # two marks: Vietnamese
    assert types["free_text"].entry.refusal("x\u0301\u0300\u0303") == "character_not_allowed"  # 3 marks


@pytest.mark.parametrize(("entry", "problem"), [
    ({"max_length": 8, "allow": ["digits"], "extra": 1}, "extra: Extra inputs are not permitted"),
    ({"allow": ["digits"]}, "max_length: Field required"),
    ({"max_length": 0, "allow": ["digits"]}, "max_length: Input should be greater than 0"),
    ({"max_length": 8, "allow": []}, "allow: Tuple should have at least 1 item"),
    ({"max_length": 8, "allow": ["emoji"]}, "allow.0: Input should be"),
    ({"max_length": 8, "allow": ["digits", "digits"]}, "a class is listed twice"),
    ({"max_length": 8, "allow": ["digits"], "punctuation": ",a"}, "not punctuation or a symbol: U+0061"),
    ({"max_length": 8, "allow": ["digits"], "punctuation": ",\u202e"}, "U+202E"),
    ({"max_length": 8, "allow": ["digits"], "punctuation": ",,"}, "a character is listed twice"),
])
def test_entry_policies_load_strictly(entry, problem):
    from pipelines.contracts.templates import FieldTypes

    score = {"lang": "eng", "psm": 7, "whitelist": None, "description": "d", "entry": entry}
    data = {"kind": "field_types", "version": 1, "types": {"score": score}}
    with pytest.raises(ContractError, match=rf"field_types.yaml.*types.score.entry.*{re.escape(problem)}"):
        parse(FieldTypes, data, source="field_types.yaml")
    del data["types"]["score"]["entry"]
    with pytest.raises(ContractError, match=r"types.score.entry: Field required"):
        parse(FieldTypes, data, source="field_types.yaml")
