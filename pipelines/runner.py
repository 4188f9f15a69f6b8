"""Drive the code location from Python: the sensor's discovery and per-batch runs.

This is what `hocba run`, `hocba demo` and the end-to-end tests use; a district team uses
the Dagster UI (sensor + backfills) for the same definitions. Runs are Dagster runs of the
same jobs, executed in this process (``execute_in_process``) and recorded in the instance,
so the UI shows them like any other.

While a run goes, its events are turned into ``StepProgress`` values for a display: a step
started or ended, and the "<stage> <batch>: <done>/<total> <unit>" lines the ingest and
OCR steps log as they settle files and pages (``PROGRESS_LINE``).
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from pipelines.errors import InputError
from pipelines.ids import BatchKey
from pipelines.ingest.inbox import ready_batches
from pipelines.partitions import scan_batches
from pipelines.settings import get_settings
from pipelines.storage import Storage
from pipelines.table_io import read_table

PROGRESS_LINE = re.compile(r"^\S+ (?P<key>\S+): (?P<done>\d+)/(?P<total>\d+) (?P<unit>[a-z]+)$")
"""A step's progress as its log line says it, e.g. ``ocr 760/79760401/b001: 12/40 pages``."""

IN_PROCESS_RUN_TAGS = {
    "hocba/launched_by": "hocba",
    # A run executed in this process has no code location to re-launch it from, so the daemon's
    # run retries (dagster.yaml) cannot retry it: say so instead of tagging it "will retry".
    # `hocba run` reports the failure through its exit code; run it again.
    "dagster/max_retries": "0",
}


@dataclass(frozen=True)
class StepFailure:
    """A step that raised: the error's class name and its message (the cause Dagster wrapped)."""

    step: str
    error_class: str
    message: str


@dataclass(frozen=True)
class RunOutcome:
    partition_key: str
    job: str
    success: bool
    run_id: str
    seconds: float
    failed_checks: tuple[str, ...]
    """Every asset check that did not pass, as ``asset:check``."""
    blocking_failed: tuple[str, ...] = ()
    """The failed checks that are blocking (they stop the run's later steps)."""
    step_failures: tuple[StepFailure, ...] = ()
    step_seconds: tuple[tuple[str, str, float], ...] = ()
    """(step, stage, seconds) of every step that finished, in the order they finished."""


@dataclass(frozen=True)
class StepProgress:
    """One thing a display shows about a running job."""

    kind: str
    """"start" (a step began), "progress" (``done`` of ``total`` ``unit``), "end" (``ok``)."""
    step: str
    stage: str
    """The asset group of the step (ingest, ocr, validate, review, issue)."""
    index: int
    """1-based position of the step in the job."""
    steps: int
    done: int = 0
    total: int = 0
    unit: str = ""
    ok: bool = True
    seconds: float = 0.0


Progress = Callable[[StepProgress], None]


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


# --- which batches ---------------------------------------------------------------------------------
class BatchNotInInbox(InputError):
    """A batch key given to run is not a batch folder with a manifest.csv in the inbox."""


@dataclass(frozen=True)
class Inbox:
    """What the inbox holds, as the inbox sensor sees it."""

    root: str
    ready: tuple[str, ...]
    """Keys of batch folders holding a manifest.csv, sorted."""
    refused: dict[str, str] = field(default_factory=dict)
    """Key → what it is, for district/school/batch entries that are not real folders (links)."""


def read_inbox(defs: dg.Definitions) -> Inbox:
    """The batches in the inbox of these definitions (never following a link)."""

    store = defs.resources["inbox"].storage()
    ready, refused = [], {}
    for key, entry in ready_batches(store):
        if entry is None:
            ready.append(key)
        else:
            refused[key] = entry.describe()
    return Inbox(store.url(""), tuple(sorted(ready)), refused)


def resolve_batches(inbox: Inbox, keys: list[str]) -> list[str]:
    """The given batch keys, checked against the inbox; BatchNotInInbox names what is there."""
    out = []
    for raw in keys:
        key = raw.strip().strip("/")
        if key in inbox.ready:
            if key not in out:
                out.append(key)
            continue
        try:
            BatchKey.parse(key)
            shape = ""
        except ValueError:
            shape = " (a batch key is DISTRICT/SCHOOL/BATCH, the folder's path below the inbox)"
        why = next((f": inbox/{k} is {what}, not followed" for k, what in inbox.refused.items()
                    if key == k or key.startswith(k + "/")), "")
        raise BatchNotInInbox(
            f"lô / batch {raw!r} is not a batch folder with a manifest.csv in the inbox "
            f"{inbox.root}{shape}{why}. " + _listing(inbox))
    return out


def _listing(inbox: Inbox, most: int = 20) -> str:
    if not inbox.ready:
        return ("The inbox holds no batch: put each in <district>/<school>/<batch>/ with its "
                "manifest.csv written last.")
    shown = ", ".join(inbox.ready[:most])
    more = f" and {len(inbox.ready) - most} more" if len(inbox.ready) > most else ""
    return f"It holds {len(inbox.ready)}: {shown}{more}."


def register_batches(instance: dg.DagsterInstance, keys: list[str]) -> list[str]:
    """Add the keys that are not yet partitions of scan_batches (what the inbox sensor does);
    the inbox sensor then never runs them again on its own. Returns the keys added."""
    known = set(instance.get_dynamic_partitions(scan_batches.name))
    new = [k for k in keys if k not in known]
    if new:
        instance.add_dynamic_partitions(scan_batches.name, new)
    return new


# --- running --------------------------------------------------------------------------------------
def step_stages(defs: dg.Definitions, job_name: str) -> dict[str, str]:
    """The job's steps in the order their assets depend on each other → the stage (asset group)."""
    job = defs.resolve_job_def(job_name)
    in_job = {n.name for n in job.graph.nodes}
    graph = defs.resolve_asset_graph()
    out: dict[str, str] = {}
    for key in graph.toposorted_asset_keys:
        node = graph.get(key)
        if not node.is_executable:
            continue
        op = node.assets_def.node_def.name
        if op in in_job and op not in out:
            out[op] = node.group_name
    for name in sorted(in_job - set(out)):  # ops that are not assets: after the rest
        out[name] = "-"
    return out


class _Listener:
    """Instance events of one run → StepProgress for ``progress``, step timings for the outcome."""

    def __init__(self, stages: dict[str, str], progress: Progress | None) -> None:
        self.stages = stages
        self.index = {s: i for i, s in enumerate(stages, 1)}
        self.progress = progress
        self.started: dict[str, float] = {}
        self.finished: list[tuple[str, str, float]] = []

    def _emit(self, kind: str, step: str, **kw) -> None:
        if self.progress is not None:
            self.progress(StepProgress(kind, step, self.stages.get(step, "-"),
                                       self.index.get(step, 0), len(self.stages), **kw))

    def __call__(self, entry) -> None:
        step = entry.step_key
        if step is None:
            return
        ev = entry.dagster_event
        if ev is None:
            m = PROGRESS_LINE.match(entry.user_message or "")
            if m:
                self._emit("progress", step, done=int(m["done"]), total=int(m["total"]), unit=m["unit"])
            return
        kind = ev.event_type_value
        if kind == "STEP_START":
            self.started[step] = entry.timestamp
            self._emit("start", step)
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
            seconds = entry.timestamp - self.started.get(step, entry.timestamp)
            self.finished.append((step, self.stages.get(step, "-"), seconds))
            self._emit("end", step, ok=kind == "STEP_SUCCESS", seconds=seconds)


def run_partition(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    job_name: str,
    partition_key: str | None,
    log_level: str = "WARNING",
    progress: Progress | None = None,
) -> RunOutcome:
    """Run a job in process for one partition (None: an unpartitioned job such as coverage_job).

    ``progress`` gets a StepProgress for each step started and ended and each progress line."""
    job = defs.resolve_job_def(job_name)
    listener = _Listener(step_stages(defs, job_name), progress)
    run_id = str(uuid.uuid4())  # known before the run starts, to listen to its events
    instance.add_event_listener(run_id, listener)
    t0 = time.perf_counter()
    result = job.execute_in_process(
        partition_key=partition_key,
        instance=instance,
        raise_on_error=False,
        run_id=run_id,
        tags=IN_PROCESS_RUN_TAGS,
        # Step-level events go to the instance (the Dagster UI shows them); the
        # console only needs warnings.
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
    )
    checks = [ev.asset_check_evaluation_data for ev in result.all_events
              if ev.event_type_value == "ASSET_CHECK_EVALUATION"]
    failed = [c for c in checks if not c.passed]
    failures = [_step_failure(ev) for ev in result.all_events if ev.event_type_value == "STEP_FAILURE"]
    if not result.success and not failures:  # failed before any step (a resource, the run itself)
        failures = [_step_failure(ev) for ev in result.all_events if ev.event_type_value == "PIPELINE_FAILURE"
                    and ev.job_failure_data.error is not None]
    return RunOutcome(
        partition_key or job_name, job_name, result.success, result.run_id, time.perf_counter() - t0,
        tuple(_check_name(c) for c in failed),
        blocking_failed=tuple(_check_name(c) for c in failed if c.blocking),
        step_failures=tuple(failures),
        step_seconds=tuple(listener.finished),
    )


def _step_failure(ev) -> StepFailure:
    """The error a step raised: Dagster wraps user code's exception, whose class is the cause."""
    err = ev.step_failure_data.error if ev.is_step_failure else ev.job_failure_data.error
    if err is None:
        return StepFailure(ev.step_key or "(run)", "?", "")
    cause = err.cause or err
    message = cause.message.strip()
    head, _, tail = message.partition(": ")
    if head.rsplit(".", 1)[-1] == cause.cls_name:  # "module.Class: text" → "text"
        message = tail.strip()
    return StepFailure(ev.step_key or "(run)", cause.cls_name, message)


def _check_name(c) -> str:
    return f"{c.asset_key.to_user_string()}:{c.check_name}"


def run_all(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    job_name: str,
    keys: list[str],
    progress: Callable[[int, int, RunOutcome], None] | None = None,
    *,
    step_progress: Progress | None = None,
    before: Callable[[int, int, str], None] | None = None,
    log_level: str = "WARNING",
) -> list[RunOutcome]:
    """Run a job for each partition key in turn: ``before(i, n, key)`` as each starts,
    ``step_progress`` while it runs, ``progress(i, n, outcome)`` when it has ended."""
    out = []
    for i, key in enumerate(keys, 1):
        if before:
            before(i, len(keys), key)
        outcome = run_partition(defs, instance, job_name, key, log_level, step_progress)
        out.append(outcome)
        if progress:
            progress(i, len(keys), outcome)
    return out


# --- what the runs made ---------------------------------------------------------------------------
@dataclass(frozen=True)
class BatchSummary:
    """What one batch's tables hold after its runs (for the summary `hocba run` prints)."""

    batch: str
    pages: int
    fields: int
    flagged: int
    files_quarantined: int
    pages_quarantined: int
    issued: int

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def summarize_batches(storage_root: str, keys: list[str]) -> list[BatchSummary]:
    """Counts from the stored tables of each batch (a table a failed run did not write counts 0)."""

    storage = Storage(storage_root)
    out = []
    for key in keys:
        def rows(table: str, column: str, k: str = key) -> int:
            return len(read_table(storage, table, [k], columns=[column]))

        decisions = read_table(storage, "field_decisions", [key], columns=["decision"])
        out.append(BatchSummary(
            batch=key,
            pages=rows("page_images", "page_id"),
            fields=rows("field_readings", "field_id"),
            flagged=int((decisions["decision"] == "flag").sum()),
            files_quarantined=rows("file_quarantine", "reason_code"),
            pages_quarantined=rows("page_quarantine", "reason_code"),
            issued=rows("issued_records", "book_ref"),
        ))
    return out


def import_roster(defs: dg.Definitions, instance: dg.DagsterInstance, csv_path: str | None = None,
                  log_level: str = "WARNING") -> RunOutcome:
    """Copy a roster export into the roster root (when given) and materialize ``roster``."""
    if csv_path is not None:
        root = Storage(get_settings().roster_root)
        with open(csv_path, "rb") as fh:
            root.write_bytes(os.path.basename(csv_path), fh.read())
    return run_partition(defs, instance, "roster_job", None, log_level)


def compute_coverage(defs: dg.Definitions, instance: dg.DagsterInstance) -> RunOutcome:
    """Materialize coverage now (the coverage sensor does it when something changed)."""
    return run_partition(defs, instance, "coverage_job", None)
