"""Strict YAML → pydantic loading shared by every contract kind."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from pipelines.errors import ExitCode, HocbaError

# The contracts ship beside the package (and inside the wheel); HOCBA_CONTRACTS_DIR
# lets a deployment point at a reviewed copy without a code change.
CONTRACTS_DIR = Path(
    os.environ.get("HOCBA_CONTRACTS_DIR", Path(__file__).resolve().parents[2] / "data_contracts")
)


class ContractError(HocbaError):
    """A file under data_contracts/ is missing, malformed or inconsistent."""

    exit_code = ExitCode.contract


class Strict(BaseModel):
    """Base of every contract model: frozen, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


M = TypeVar("M", bound=BaseModel)


def read_yaml(relpath: str | Path) -> Any:
    path = CONTRACTS_DIR / relpath
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError as exc:
        raise ContractError(f"contract file {path} is missing") from exc
    except yaml.YAMLError as exc:
        raise ContractError(f"contract file {path} is not valid YAML: {exc}") from exc


def parse(model: type[M], data: Any, *, source: str | Path) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}" for err in exc.errors()
        )
        raise ContractError(f"contract file {source} does not fit {model.__name__}: {problems}") from exc


def load(model: type[M], relpath: str | Path) -> M:
    return parse(model, read_yaml(relpath), source=CONTRACTS_DIR / relpath)
