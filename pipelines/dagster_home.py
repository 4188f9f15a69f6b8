"""The embedded Dagster instance under HOCBA_HOME/dagster (telemetry off)."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from pipelines.settings import Settings

DAGSTER_YAML = """\
# Written by hocba. Embedded default: SQLite run/event storage in this folder.
# For a deployment, replace with Dagster's Postgres storage and a run launcher.
telemetry:
  enabled: false
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 2
"""


def ensure_dagster_home(settings: Settings) -> Path:
    """Create DAGSTER_HOME with a dagster.yaml if missing and export it for this process."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.dagster_home)
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "dagster.yaml"
    if not cfg.exists():
        cfg.write_text(DAGSTER_YAML, encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def instance(settings: Settings) -> dg.DagsterInstance:
    ensure_dagster_home(settings)
    return dg.DagsterInstance.get()
