"""The validate asset refuses to run against an empty roster (nothing would match; every book
would flood the review queue) and says what to do."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from pipelines.contracts.tables import arrow_schema
from pipelines.errors import ConfigError
from pipelines.validate.assets import validate_pages


def _empty(table: str) -> pd.DataFrame:
    return arrow_schema(table).empty_table().to_pandas()


def test_an_empty_roster_stops_validate_with_a_clear_error():
    ctx = dg.build_asset_context(partition_key="760/79760401/b001")
    out = validate_pages(ctx, page_layouts=_empty("page_layouts"), field_readings=_empty("field_readings"),
                         page_images=_empty("page_images"), roster=_empty("roster"))
    with pytest.raises(ConfigError, match=r"roster is empty.*roster_job"):
        list(out)
