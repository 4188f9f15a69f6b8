"""The embedded Dagster instance under HOCBA_HOME/dagster (telemetry off, run retries on)."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import dagster as dg
import yaml

from pipelines.settings import Settings

log = logging.getLogger(__name__)

HEADER = "# Written by hocba."

DAGSTER_YAML = """\
# Written by hocba. Embedded default: SQLite run/event storage in this folder.
# For a deployment, replace with Dagster's Postgres storage and a run launcher.
# hocba rewrites this file only while it is exactly as hocba wrote it (a changed
# max_concurrent_runs is kept); once you edit it otherwise, it is yours.
telemetry:
  enabled: false
# Runs wait in a queue; at most this many run at a time (each already uses every CPU
# for its pages: keep runs × HOCBA_WORKERS near the core count).
concurrency:
  runs:
    max_concurrent_runs: {max_concurrent_runs}
# A failed run is run again once, from the step that failed (the daemon of `hocba ui`
# does it): a step killed for memory or a database that was busy usually passes then.
run_retries:
  enabled: true
  max_retries: 1
"""

MAX_CONCURRENT_RUNS = 2

# Files earlier versions of hocba wrote, with max_concurrent_runs as the one value a user was
# told to edit. A file that is still one of these is upgraded to DAGSTER_YAML, keeping the value.
PREVIOUS_DAGSTER_YAMLS = (
    """\
# Written by hocba. Embedded default: SQLite run/event storage in this folder.
# For a deployment, replace with Dagster's Postgres storage and a run launcher.
telemetry:
  enabled: false
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: {max_concurrent_runs}
""",
)


def dagster_yaml(max_concurrent_runs: int = MAX_CONCURRENT_RUNS) -> str:
    return DAGSTER_YAML.format(max_concurrent_runs=max_concurrent_runs)


def _as_written_before(text: str) -> int | None:
    """max_concurrent_runs of a file an earlier hocba wrote and nobody edited otherwise, or None."""
    for template in PREVIOUS_DAGSTER_YAMLS:
        pattern = re.escape(template).replace(re.escape("{max_concurrent_runs}"), r"(\d+)")
        m = re.fullmatch(pattern, text)
        if m:
            return int(m.group(1))
    return None


def _retries_on(text: str) -> bool:
    try:
        cfg = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return False
    retries = cfg.get("run_retries") if isinstance(cfg, dict) else None
    return isinstance(retries, dict) and bool(retries.get("enabled"))


def ensure_dagster_home(settings: Settings) -> Path:
    """Create DAGSTER_HOME with a dagster.yaml if missing and export it for this process.

    An existing dagster.yaml is kept, except one that an earlier hocba wrote and nobody
    edited (beyond max_concurrent_runs): that one is brought up to date (run retries on)."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.dagster_home)
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "dagster.yaml"
    if not cfg.exists():
        _write(cfg, dagster_yaml())
    else:
        text = cfg.read_text(encoding="utf-8")
        runs = _as_written_before(text)
        if runs is not None:
            _write(cfg, dagster_yaml(runs))
            log.info("%s: upgraded (run retries on, max_concurrent_runs %d kept)", cfg, runs)
        elif text.startswith(HEADER) and not _retries_on(text):
            log.warning(
                "%s was written by hocba and edited since, so it is kept as it is; it does not turn "
                "on run retries: add `run_retries: {enabled: true, max_retries: 1}` (docs/operations.md, "
                "'Scaling out')", cfg)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def instance(settings: Settings) -> dg.DagsterInstance:
    ensure_dagster_home(settings)
    return dg.DagsterInstance.get()
