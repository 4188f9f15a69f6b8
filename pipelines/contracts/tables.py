"""Table contracts (data_contracts/tables/*.yaml) as pyarrow schemas."""

from __future__ import annotations

from functools import cache
from typing import Literal

import pyarrow as pa
from pydantic import field_validator

from pipelines.contracts.loader import CONTRACTS_DIR, ContractError, Strict, load

_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "list<string>": pa.list_(pa.string()),
    "list<float64>": pa.list_(pa.float64()),
}


class Column(Strict):
    name: str
    type: Literal[
        "string", "int32", "int64", "float64", "bool", "date", "timestamp",
        "list<string>", "list<float64>",
    ]
    nullable: bool
    doc: str


class TableContract(Strict):
    name: str
    description: str
    partitioned: bool
    primary_key: tuple[str, ...]
    columns: tuple[Column, ...]

    @field_validator("description")
    @classmethod
    def _one_row_per(cls, v: str) -> str:
        if not v.startswith("One row per"):
            raise ValueError("description must start with 'One row per …'")
        return v

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def schema(self) -> pa.Schema:
        return pa.schema(
            [
                pa.field(c.name, _TYPES[c.type], nullable=c.nullable, metadata={"doc": c.doc})
                for c in self.columns
            ],
            metadata={"table": self.name, "description": self.description},
        )


@cache
def table_contracts() -> dict[str, TableContract]:
    out: dict[str, TableContract] = {}
    for path in sorted((CONTRACTS_DIR / "tables").glob("*.yaml")):
        contract = load(TableContract, path.relative_to(CONTRACTS_DIR))
        if contract.name != path.stem:
            raise ContractError(f"{path}: name {contract.name!r} differs from the file name")
        missing = set(contract.primary_key) - set(contract.column_names)
        if missing:
            raise ContractError(f"{path}: primary key columns {sorted(missing)} are not columns")
        out[contract.name] = contract
    return out


def table_contract(name: str) -> TableContract:
    try:
        return table_contracts()[name]
    except KeyError as exc:
        raise ContractError(f"no table contract named {name!r} in data_contracts/tables") from exc


def arrow_schema(name: str) -> pa.Schema:
    return table_contract(name).schema()
