"""FieldId: the one reading of the field-id grammar (``name`` / ``table.row.column``)."""

from __future__ import annotations

import pytest

from pipelines.contracts import ContractError, FieldId, FieldIdError, templates
from pipelines.contracts.fields import AVERAGE_ROW, HISTORY, RESULTS, RETEST, SCORES, TERMS, YEAR_TERM
from pipelines.contracts.templates import Template


def _all_specs():
    return [(t, s) for t in templates().values() for s in t.field_specs()]


def test_every_template_field_id_round_trips_and_agrees_with_its_spec():
    specs = _all_specs()
    assert len(specs) > 100
    for tpl, spec in specs:
        fid = FieldId.parse(spec.field_id)
        assert str(fid) == spec.field_id, tpl.template_id
        assert fid == spec.id
        assert (fid.table, fid.row, fid.column) == (spec.table, spec.row, spec.column)
        assert fid.is_cell == (spec.table is not None)
        assert FieldId.parse(str(fid)) == fid


def test_named_tables_terms_and_average_row_are_the_templates():
    year_pages = [t for t in templates().values() if t.page_kind == "year_page"]
    assert year_pages
    for tpl in year_pages:
        tables = {t.id: t for t in tpl.tables}
        assert [r.key for r in tpl.table_rows(tables[RESULTS])] == list(TERMS)
        assert [c.key for c in tables[SCORES].columns if c.key in (*TERMS, RETEST)] == [*TERMS, RETEST]
        assert {r.key for r in tables[SCORES].extra_rows} <= {AVERAGE_ROW}
    assert TERMS[-1] == YEAR_TERM
    identity = [t for t in templates().values() if t.page_kind == "identity_page"]
    assert identity and all(HISTORY in {t.id for t in tpl.tables} for tpl in identity)


def test_term_of_score_and_result_cells_only():
    assert FieldId.parse("scores.toan.hk2").term == "hk2"
    assert FieldId.parse("results.ca_nam.hoc_luc").term == "ca_nam"
    assert FieldId.parse("scores.toan.retest").term is None
    assert FieldId.parse("history.y1.class_name").term is None
    assert FieldId.parse("full_name").term is None


def test_constructors_format_the_grammar():
    assert str(FieldId.score("ngu_van", "ca_nam")) == "scores.ngu_van.ca_nam"
    assert str(FieldId.result("hk1", "hanh_kiem")) == "results.hk1.hanh_kiem"
    assert str(FieldId.history("y3", "school_year")) == "history.y3.school_year"
    assert str(FieldId.cell("t", "r", "c")) == "t.r.c"
    assert str(FieldId("full_name")) == "full_name"
    assert FieldId.parse("scores.toan.hk1").with_column("hk2") == FieldId.score("toan", "hk2")
    scalar = FieldId("full_name")
    assert (scalar.table, scalar.row, scalar.column, scalar.is_cell) == (None, None, None, False)


@pytest.mark.parametrize("bad", [
    "", "scores.toan", "a.b.c.d", "scores..hk1", "Scores.toan.hk1", "scores.toán.hk1",
    "scores.toan.hk 1", "1st", "_x", "scores.toan.hk1.", ".full_name", "full-name",
])
def test_bad_ids_are_refused_with_the_reason(bad):
    with pytest.raises(FieldIdError, match="field id") as info:
        FieldId.parse(bad)
    assert repr(bad) in str(info.value)
    assert isinstance(info.value, ContractError)
    assert FieldId.try_parse(bad) is None


def test_try_parse_takes_what_parse_takes_and_skips_non_strings():
    assert FieldId.try_parse("scores.toan.hk1") == FieldId.score("toan", "hk1")
    assert FieldId.try_parse(None) is None
    assert FieldId.try_parse(3) is None


def test_a_cell_needs_both_row_and_column_and_a_scalar_has_no_columns():
    with pytest.raises(FieldIdError, match="both a row and a column"):
        FieldId("scores", "toan")
    with pytest.raises(FieldIdError, match="no columns"):
        FieldId("full_name").with_column("hk1")


def test_field_id_is_frozen_and_hashable():
    fid = FieldId.score("toan", "hk1")
    with pytest.raises(AttributeError):
        fid.row = "x"  # type: ignore[misc]
    assert {fid, FieldId.parse("scores.toan.hk1")} == {fid}


def test_a_template_key_off_the_grammar_is_refused_when_fields_expand():
    tpl = templates()["identity"]
    bad = tpl.model_copy(update={"fields": (tpl.fields[0].model_copy(update={"id": "Full Name"}),)})
    assert isinstance(bad, Template)
    with pytest.raises(FieldIdError, match="'Full Name'"):
        bad.field_specs()
