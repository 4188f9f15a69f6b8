"""Contract tables as Parquet files under the storage root: one file per table and partition.

No Dagster here: the console and the notebooks read tables too.
"""

from __future__ import annotations

import io
import posixpath

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.contracts import ContractError, table_contract
from pipelines.storage import Storage


def table_path(table: str, partition_key: str | None) -> str:
    if partition_key is None:
        return f"tables/{table}.parquet"
    return posixpath.join("tables", table, f"{partition_key}.parquet")


def to_arrow(table: str, df: pd.DataFrame) -> pa.Table:
    """Cast a frame to its contract; a frame that does not fit is a ContractError."""
    contract = table_contract(table)
    extra = set(df.columns) - set(contract.column_names)
    missing = set(contract.column_names) - set(df.columns)
    if extra or missing:
        raise ContractError(
            f"table {table}: columns do not fit the contract "
            f"(missing {sorted(missing)}, unexpected {sorted(extra)})"
        )
    try:
        return pa.Table.from_pandas(
            df[contract.column_names], schema=contract.schema(), preserve_index=False
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:
        raise ContractError(f"table {table}: values do not fit the contract: {exc}") from exc


def write_table(storage: Storage, table: str, df: pd.DataFrame,
                partition_key: str | None = None) -> tuple[str, int]:
    """Write one table (partition) as Parquet, cast to its contract: (path, rows)."""
    arrow = to_arrow(table, df)
    rel = table_path(table, partition_key)
    buf = io.BytesIO()
    pq.write_table(arrow, buf, compression="zstd")
    storage.write_bytes(rel, buf.getvalue())
    return rel, arrow.num_rows


def stored_partitions(storage: Storage, table: str) -> list[str]:
    """The partition keys a partitioned table has files for."""
    base = f"tables/{table}"
    return sorted(p[: -len(".parquet")] for p in storage.walk_files(base) if p.endswith(".parquet"))


def read_table(storage: Storage, table: str, partition_keys: list[str | None] | None,
               columns: list[str] | None = None) -> pd.DataFrame:
    """Read one table for the given partitions (None: every partition stored); ``columns``: only these."""
    keys = stored_partitions(storage, table) if partition_keys is None else partition_keys
    rels = [table_path(table, k) for k in keys]
    schema = table_contract(table).schema()
    if columns is not None:
        schema = pa.schema([schema.field(c) for c in columns])
    parts = []
    for rel in rels:
        if storage.exists(rel):
            with storage.open(rel) as fh:
                parts.append(pq.read_table(fh, schema=schema, columns=columns))
    if not parts:
        return schema.empty_table().to_pandas()
    return pa.concat_tables(parts).to_pandas()
