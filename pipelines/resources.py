"""Dagster resources: typed clients for the storage root, the inbox and the run settings.

Values default from pipelines.settings (the one place that reads the environment),
so the same definitions run embedded or against object storage and PostgreSQL.
"""

from __future__ import annotations

import io
import posixpath

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.contracts import ContractError, table_contract, table_contracts
from pipelines.settings import get_settings
from pipelines.storage import Storage


class StorageResource(dg.ConfigurableResource):
    """The storage root (fsspec URL) for page images, crops, tables, issued files."""

    root_url: str

    def storage(self) -> Storage:
        return Storage(self.root_url)


class InboxResource(dg.ConfigurableResource):
    """Where scan batches arrive: <root>/<district>/<school>/<batch>/manifest.csv + scans."""

    root_url: str

    def storage(self) -> Storage:
        return Storage(self.root_url)

    def ready_batches(self) -> list[str]:
        """Batch keys whose folder holds a manifest.csv (written last: the batch is complete)."""
        inbox = self.storage()
        keys = []
        for district in inbox.listdir():
            for school in inbox.listdir(district):
                for batch in inbox.listdir(f"{district}/{school}"):
                    if inbox.exists(f"{district}/{school}/{batch}/manifest.csv"):
                        keys.append(f"{district}/{school}/{batch}")
        return keys


class ReviewDatabaseResource(dg.ConfigurableResource):
    """The review database (SQLAlchemy URL): review items, decisions, users, audit log."""

    url: str

    def engine(self):
        from pipelines.review.db import database

        return database(self.url)


class RunSettingsResource(dg.ConfigurableResource):
    """Knobs of a run that are not connections."""

    workers: int = 0  # worker processes for per-page work; 0 = one per core

    def worker_count(self) -> int:
        import os

        return self.workers or os.cpu_count() or 1


def table_out(table: str, group: str, kinds: set[str]) -> dg.AssetOut:
    """An asset output for a contract table, written by the Parquet IO manager."""
    return dg.AssetOut(description=table_contract(table).description, group_name=group,
                       kinds=kinds, io_manager_key="io_manager")


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


class ParquetTableIOManager(dg.ConfigurableIOManager):
    """One Parquet file per asset and partition under <storage>/tables/, cast to the contract.

    Downstream assets get pandas frames; an unpartitioned asset reading a
    partitioned one gets all partitions concatenated.
    """

    root_url: str

    def _storage(self) -> Storage:
        return Storage(self.root_url)

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame) -> None:
        table = context.asset_key.path[-1]
        if table not in table_contracts():
            raise ContractError(f"asset {table} has no contract in data_contracts/tables")
        key = context.partition_key if context.has_partition_key else None
        rel, rows = write_table(self._storage(), table, obj, key)
        context.add_output_metadata(
            {"rows": rows, "path": dg.MetadataValue.path(self._storage().url(rel))}
        )

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        table = context.asset_key.path[-1]
        storage = self._storage()
        # Partitioned upstream: the partitions this step depends on (all of them for
        # an unpartitioned reader such as coverage).
        keys = list(context.asset_partition_keys) if context.has_asset_partitions else [None]
        return read_table(storage, table, keys)


def read_table(storage: Storage, table: str, partition_keys: list[str | None] | None,
               columns: list[str] | None = None) -> pd.DataFrame:
    """Read one table for the given partitions (None: every partition stored); ``columns``: only these."""
    if partition_keys is None:
        base = f"tables/{table}"
        rels = [posixpath.join(base, p) for p in storage.walk_files(base) if p.endswith(".parquet")]
    else:
        rels = [table_path(table, k) for k in partition_keys]
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


def default_resources() -> dict[str, object]:
    s = get_settings()
    return {
        "storage": StorageResource(root_url=s.storage_root),
        "inbox": InboxResource(root_url=s.inbox_root),
        "roster_source": StorageResource(root_url=s.roster_root),
        "run_settings": RunSettingsResource(workers=s.workers),
        "review_db": ReviewDatabaseResource(url=s.database),
        "issued": StorageResource(root_url=s.issued_root),
        "io_manager": ParquetTableIOManager(root_url=s.storage_root),
    }
