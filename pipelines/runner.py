"""Drive the code location from Python: the sensor's discovery and per-batch runs.

This is what `hocba demo` and the end-to-end tests use; a district team uses the
Dagster UI (sensor + backfills) for the same definitions.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg


@dataclass(frozen=True)
class RunOutcome:
    partition_key: str
    job: str
    success: bool
    run_id: str
    seconds: float
    failed_checks: tuple[str, ...]


def _evaluate_sensor(defs: dg.Definitions, instance: dg.DagsterInstance, name: str):
    sensor = defs.resolve_sensor_def(name)
    with dg.build_sensor_context(instance=instance, resources=defs.resources or {}) as ctx:
        return sensor(ctx)


def discover_batches(defs: dg.Definitions, instance: dg.DagsterInstance) -> list[str]:
    """Evaluate the inbox sensor once and apply what it asks: new partitions, their run keys."""
    result = _evaluate_sensor(defs, instance, "inbox_sensor")
    if isinstance(result, dg.SkipReason) or result is None:
        return []
    for req in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
    return [r.partition_key for r in result.run_requests or [] if r.partition_key]


def finished_reviews(defs: dg.Definitions, instance: dg.DagsterInstance) -> list[str]:
    """Evaluate the review loop's sensor once: the batches whose reviews are all done."""
    result = _evaluate_sensor(defs, instance, "reviews_done_sensor")
    if isinstance(result, dg.SkipReason) or result is None:
        return []
    return [r.partition_key for r in result if r.partition_key]


def run_partition(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    job_name: str,
    partition_key: str | None,
    log_level: str = "WARNING",
) -> RunOutcome:
    """Run a job in process for one partition (None: an unpartitioned job such as coverage_job)."""
    job = defs.resolve_job_def(job_name)
    t0 = time.perf_counter()
    result = job.execute_in_process(
        partition_key=partition_key,
        instance=instance,
        raise_on_error=False,
        # Step-level events go to the instance (the Dagster UI shows them); the
        # console only needs warnings.
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
    )
    failed = tuple(
        f"{ev.asset_check_evaluation_data.asset_key.to_user_string()}:"
        f"{ev.asset_check_evaluation_data.check_name}"
        for ev in result.all_events
        if ev.event_type_value == "ASSET_CHECK_EVALUATION"
        and not ev.asset_check_evaluation_data.passed
    )
    return RunOutcome(
        partition_key or job_name, job_name, result.success, result.run_id, time.perf_counter() - t0, failed
    )


def run_all(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    job_name: str,
    keys: list[str],
    progress: Callable[[int, int, RunOutcome], None] | None = None,
) -> list[RunOutcome]:
    out = []
    for i, key in enumerate(keys, 1):
        outcome = run_partition(defs, instance, job_name, key)
        out.append(outcome)
        if progress:
            progress(i, len(keys), outcome)
    return out


def import_roster(defs: dg.Definitions, instance: dg.DagsterInstance, csv_path: str | None = None,
                  log_level: str = "WARNING") -> RunOutcome:
    """Copy a roster export into the roster root (when given) and materialize ``roster``."""
    if csv_path is not None:
        from pipelines.settings import get_settings
        from pipelines.storage import Storage

        root = Storage(get_settings().roster_root)
        with open(csv_path, "rb") as fh:
            root.write_bytes(os.path.basename(csv_path), fh.read())
    return run_partition(defs, instance, "roster_job", None, log_level)


def compute_coverage(defs: dg.Definitions, instance: dg.DagsterInstance) -> RunOutcome:
    """Materialize coverage now (the coverage sensor does it when something changed)."""
    return run_partition(defs, instance, "coverage_job", None)
