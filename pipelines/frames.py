"""Rows → a pandas DataFrame with exactly a table contract's columns, order and dtypes.

The dtypes are chosen so that ``pa.Table.from_pandas(df, schema=arrow_schema(name),
preserve_index=False)`` casts without loss: nullable integers use pandas' nullable
dtypes (``Int32``), timestamps are UTC at microsecond resolution.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from pipelines.contracts import table_contract

_DTYPES: dict[tuple[str, bool], str] = {
    ("string", False): "object",
    ("string", True): "object",
    ("int32", False): "int32",
    ("int32", True): "Int32",
    ("int64", False): "int64",
    ("int64", True): "Int64",
    ("float64", False): "float64",
    ("float64", True): "float64",
    ("bool", False): "bool",
    ("bool", True): "boolean",
    ("timestamp", False): "datetime64[us, UTC]",
    ("timestamp", True): "datetime64[us, UTC]",
    ("list<float64>", False): "object",  # Python lists; Arrow casts them on write
    ("list<float64>", True): "object",
    ("list<string>", False): "object",
    ("list<string>", True): "object",
}


def to_frame(table: str, rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """A DataFrame of ``rows`` shaped to the contract of ``table``.

    Every row must have exactly the contract's columns: a missing or extra key is a
    programming error (``KeyError``/``ValueError``), never silently filled.
    """
    contract = table_contract(table)
    names = contract.column_names
    data: dict[str, list[Any]] = {name: [] for name in names}
    expected = set(names)
    for row in rows:
        if set(row) != expected:
            raise ValueError(
                f"{table} row keys differ from the contract: "
                f"missing {sorted(expected - set(row))}, extra {sorted(set(row) - expected)}"
            )
        for name in names:
            data[name].append(row[name])
    columns = {}
    for col in contract.columns:
        dtype = _DTYPES.get((col.type, col.nullable))
        if dtype is None:
            raise TypeError(f"{table}.{col.name}: no pandas dtype for contract type {col.type}")
        values = data[col.name]
        if col.type == "timestamp":
            columns[col.name] = pd.to_datetime(pd.Series(values, dtype="object"), utc=True).astype(
                dtype
            )
        else:
            columns[col.name] = pd.Series(values, dtype=dtype)
    return pd.DataFrame(columns, columns=names)
