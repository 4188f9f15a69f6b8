"""issue_batch's issued_records frame is shaped by its table contract, rows or none."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from pipelines.contracts import arrow_schema, table_contract
from pipelines.frames import to_frame
from pipelines.issue.stage import issue_batch


def test_a_batch_with_no_accepted_book_issues_an_empty_frame_of_the_contract():
    normalized = pd.DataFrame(columns=table_contract("normalized_records").column_names)
    res = issue_batch(to_frame("accepted_records", ()), normalized, to_frame("scan_manifest", ()),
                      engine=None, storage=None, keys=None, trust_roots=[])  # type: ignore[arg-type]
    assert list(res.issued.columns) == table_contract("issued_records").column_names
    assert res.issued.empty and res.new == 0
    # Casts to the Parquet schema as the IO manager does.
    table = pa.Table.from_pandas(res.issued, schema=arrow_schema("issued_records"), preserve_index=False)
    assert table.num_rows == 0
