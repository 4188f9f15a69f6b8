"""Batch keys and page ids: one place decides their shape."""

from __future__ import annotations

import pytest

from pipelines.ids import BatchKey, batch_name, page_id


def test_a_batch_key_is_district_school_batch():
    key = BatchKey.parse("760/79760403/b001")
    assert (key.district, key.school, key.batch) == ("760", "79760403", "b001")
    assert str(key) == "760/79760403/b001"
    assert batch_name(str(key)) == "b001" and batch_name("b001") == "b001"


@pytest.mark.parametrize("bad", ["760/79760403", "760/79760403/b001/x", "760//b001", ""])
def test_any_other_shape_is_refused_or_none(bad):
    with pytest.raises(ValueError, match="district/school/batch"):
        BatchKey.parse(bad)
    assert BatchKey.lenient(bad) is None


def test_a_page_id_is_the_file_hash_prefix_and_page_index():
    assert page_id("ab" * 32, 7) == "abababababababab-p007"
