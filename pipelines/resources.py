"""Dagster resources: typed clients for the storage root, the inbox and the run settings.

Values default from pipelines.settings (the one place that reads the environment),
so the same definitions run embedded or against object storage and PostgreSQL.
"""

from __future__ import annotations

import dagster as dg
import pandas as pd

from pipelines.contracts import ContractError, table_contract, table_contracts
from pipelines.db import database
from pipelines.parallel import available_cpus
from pipelines.settings import get_settings
from pipelines.storage import Storage
from pipelines.table_io import read_table, write_table


class StorageResource(dg.ConfigurableResource):
    """The storage root (fsspec URL) for page images, crops, tables, issued files."""

    root_url: str

    def storage(self) -> Storage:
        # Discovery and every read go through pipelines.ingest.inbox, which never follows a link.
        return Storage(self.root_url)


class InboxResource(dg.ConfigurableResource):
    """Where scan batches arrive: <root>/<district>/<school>/<batch>/manifest.csv + scans."""

    root_url: str

    def storage(self) -> Storage:
        # Discovery and every read go through pipelines.ingest.inbox, which never follows a link.
        return Storage(self.root_url)


class ReviewDatabaseResource(dg.ConfigurableResource):
    """The review database (SQLAlchemy URL): review items, decisions, users, audit log."""

    url: str

    def engine(self):
        return database(self.url)


class RunSettingsResource(dg.ConfigurableResource):
    """Knobs of a run that are not connections."""

    workers: int = 0  # worker processes for per-page work; 0 = one per CPU this process may use

    def worker_count(self) -> int:
        return self.workers or available_cpus()


def table_out(table: str, group: str, kinds: set[str]) -> dg.AssetOut:
    """An asset output for a contract table, written by the Parquet IO manager."""
    return dg.AssetOut(description=table_contract(table).description, group_name=group,
                       kinds=kinds, io_manager_key="io_manager")


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
